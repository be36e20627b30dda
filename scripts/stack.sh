#!/usr/bin/env bash
# factorymesh local stack: Kafka (KRaft, single node) + Triton + services under supervisord.
# See docs/local-stack.md.
#
#   scripts/stack.sh up            start the dev stack (Kafka 9092/9093, Triton 8000/8001/8002)
#   scripts/stack.sh down          stop the dev stack (safe when nothing runs)
#   scripts/stack.sh status        supervisor status of the dev stack
#   scripts/stack.sh test-up       start a FRESH test stack (Kafka 19092/19093, Triton 18000-18002),
#                                  data wiped; writes and prints .local/test/env
#   scripts/stack.sh test-down     stop the test stack
#   scripts/stack.sh test-status
#   scripts/stack.sh fetch         download the Kafka jars if missing (Maven)
#   scripts/stack.sh env [dev|test]               print the env exports of a stack
#   scripts/stack.sh logs [dev|test] [program]    tail a program's log (default: all)
#   scripts/stack.sh kafka-restart [dev|test]     graceful broker restart, waits until it serves
#   scripts/stack.sh kafka-kill [dev|test]        SIGKILL the broker, start it again, wait
#   scripts/stack.sh restart [dev|test] [program] restart one program (default: all) and wait
#   scripts/stack.sh ctl [dev|test] ARGS...       supervisorctl for that stack
#
# Exit codes: 0 ok; 1 a component failed / timed out (log tails printed); 2 usage or missing
# prerequisite; 3 (status) stack not running; 4 a port is already taken by another process.
#
# Tunables (env): FM_STACK_KAFKA_TIMEOUT (s, default 180), FM_STACK_TRITON_TIMEOUT (120),
# FM_STACK_SERVICES_TIMEOUT (120), FM_STACK_KEEP_ON_FAILURE=1 (leave a failed stack running),
# FM_STACK_SERVICES_GLOB (space-separated snippet globs; default services/*/supervisor.conf),
# per-stack port overrides FM_<DEV|TEST>_{KAFKA_PORT,KAFKA_CONTROLLER_PORT,TRITON_HTTP_PORT,
# TRITON_GRPC_PORT,TRITON_METRICS_PORT,PORT_PREFIX} and state dir FM_<DEV|TEST>_STATE_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
LOCAL="$ROOT/.local"
TEMPLATE="$ROOT/deploy/local/supervisord.conf.in"
MODEL_REPO="$ROOT/deploy/triton/model_repository"
KAFKA_TIMEOUT="${FM_STACK_KAFKA_TIMEOUT:-180}"
TRITON_TIMEOUT="${FM_STACK_TRITON_TIMEOUT:-120}"
SERVICES_TIMEOUT="${FM_STACK_SERVICES_TIMEOUT:-120}"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { local code="$1"; shift; say "ERROR: $*"; exit "$code"; }

# ------------------------------------------------------------------ stack definitions
select_stack() {
  STACK="$1"
  local U; U="$(tr '[:lower:]' '[:upper:]' <<<"$STACK")"
  case "$STACK" in
    dev)
      local d_kafka=9092 d_ctrl=9093 d_http=8000 d_grpc=8001 d_metrics=8002 d_prefix=2 d_autorestart=true ;;
    test)
      local d_kafka=19092 d_ctrl=19093 d_http=18000 d_grpc=18001 d_metrics=18002 d_prefix=3 d_autorestart=false ;;
    *) die 2 "unknown stack '$STACK' (dev|test)" ;;
  esac
  local v
  v="FM_${U}_KAFKA_PORT";            KAFKA_PORT="${!v:-$d_kafka}"
  v="FM_${U}_KAFKA_CONTROLLER_PORT"; KAFKA_CONTROLLER_PORT="${!v:-$d_ctrl}"
  v="FM_${U}_TRITON_HTTP_PORT";      TRITON_HTTP_PORT="${!v:-$d_http}"
  v="FM_${U}_TRITON_GRPC_PORT";      TRITON_GRPC_PORT="${!v:-$d_grpc}"
  v="FM_${U}_TRITON_METRICS_PORT";   TRITON_METRICS_PORT="${!v:-$d_metrics}"
  v="FM_${U}_PORT_PREFIX";           PORT_PREFIX="${!v:-$d_prefix}"
  v="FM_${U}_STATE_DIR";             STACK_DIR="${!v:-$LOCAL/$STACK}"
  KAFKA_AUTORESTART="$d_autorestart"
  LOG_DIR="$STACK_DIR/logs"
  CONF="$STACK_DIR/supervisord.conf"
  PIDFILE="$STACK_DIR/supervisord.pid"
  SOCK="$STACK_DIR/supervisor.sock"
  ENV_FILE="$STACK_DIR/env"
}

stack_env_lines() {
  echo "export FM_STACK=$STACK"
  echo "export FM_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT"
  echo "export FM_TRITON_URL=127.0.0.1:$TRITON_GRPC_PORT"
  echo "export FM_TRITON_HTTP_URL=127.0.0.1:$TRITON_HTTP_PORT"
  echo "export FM_TRITON_METRICS_URL=127.0.0.1:$TRITON_METRICS_PORT"
  echo "export FM_PORT_PREFIX=$PORT_PREFIX"
  if [[ "$STACK" == test ]]; then
    echo "export FM_TEST_SUPERVISOR_CONF=$CONF"
    echo "export FM_TEST_LOG_DIR=$LOG_DIR"
  else
    echo "export FM_SUPERVISOR_CONF=$CONF"
  fi
}

export_stack_env() {
  # what supervisord (and so every program, services included) inherits
  export FM_STACK="$STACK" FM_REPO_ROOT="$ROOT" FM_STACK_DIR="$STACK_DIR" FM_LOG_DIR="$LOG_DIR"
  export FM_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
  export FM_TRITON_URL="127.0.0.1:$TRITON_GRPC_PORT"
  export FM_TRITON_HTTP_URL="127.0.0.1:$TRITON_HTTP_PORT"
  export FM_TRITON_METRICS_URL="127.0.0.1:$TRITON_METRICS_PORT"
  export FM_PORT_PREFIX="$PORT_PREFIX"
  export FM_SUPERVISOR_CONF="$CONF"
  export PYTHONUNBUFFERED=1
}

# ------------------------------------------------------------------ prerequisites
ensure_venv() {
  if [[ ! -x "$ROOT/.venv/bin/supervisord" ]]; then
    local uv; uv="$(command -v uv || echo "$HOME/.local/bin/uv")"
    [[ -x "$uv" ]] || die 2 "$ROOT/.venv missing and 'uv' not found (make sync)"
    say "project venv missing: uv sync"
    (cd "$ROOT" && "$uv" sync --frozen --all-packages) || die 2 "uv sync failed"
  fi
}

fetch() {
  "$ROOT/scripts/kafka-fetch.sh" || die 2 "could not fetch the Kafka jars (see above)"
}

ctl() { "$PY" -m supervisor.supervisorctl -c "$CONF" "$@"; }

supervisord_pid() {
  # prints the pid of this stack's live supervisord, or fails
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "supervisord" || return 1
  echo "$pid"
}

is_running() { supervisord_pid >/dev/null; }

port_in_use() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

log_tail() {
  local prog="$1" file="$LOG_DIR/$1.log" n="${2:-40}"
  if [[ -f "$file" ]]; then
    echo "----- last $n lines of $file -----" >&2
    tail -n "$n" "$file" >&2
    echo "-----" >&2
  else
    say "(no log at $file)"
  fi
}

render_conf() {
  mkdir -p "$LOG_DIR"
  sed -e "s#@ROOT@#$ROOT#g" \
      -e "s#@STACK@#$STACK#g" \
      -e "s#@STACK_DIR@#$STACK_DIR#g" \
      -e "s#@LOG_DIR@#$LOG_DIR#g" \
      -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" \
      -e "s#@KAFKA_CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
      -e "s#@KAFKA_AUTORESTART@#$KAFKA_AUTORESTART#g" \
      -e "s#@TRITON_HTTP_PORT@#$TRITON_HTTP_PORT#g" \
      -e "s#@TRITON_GRPC_PORT@#$TRITON_GRPC_PORT#g" \
      -e "s#@TRITON_METRICS_PORT@#$TRITON_METRICS_PORT#g" \
      -e "s#@SERVICES_GLOB@#${FM_STACK_SERVICES_GLOB:-$ROOT/services/*/supervisor.conf}#g" \
      "$TEMPLATE" >"$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
}

lock_stack() {
  mkdir -p "$LOCAL"
  exec 9>"$LOCAL/.$STACK.lock"
  flock -w 600 9 || die 1 "another stack.sh is operating on the $STACK stack"
}

# ------------------------------------------------------------------ waits
wait_kafka() {
  "$PY" "$ROOT/scripts/stack_wait.py" kafka --bootstrap "127.0.0.1:$KAFKA_PORT" \
    --conf "$CONF" --program kafka --timeout "${1:-$KAFKA_TIMEOUT}"
}
wait_triton() {
  "$PY" "$ROOT/scripts/stack_wait.py" triton --http "127.0.0.1:$TRITON_HTTP_PORT" --repo "$MODEL_REPO" \
    --conf "$CONF" --program triton --timeout "${1:-$TRITON_TIMEOUT}"
}
wait_services() {
  "$PY" "$ROOT/scripts/stack_wait.py" services --conf "$CONF" --timeout "${1:-$SERVICES_TIMEOUT}"
}

wait_all() {
  local failed=()
  wait_kafka || failed+=(kafka)
  wait_triton || failed+=(triton)
  wait_services || failed+=(services)
  if ((${#failed[@]})); then
    local f
    for f in "${failed[@]}"; do
      if [[ "$f" == services ]]; then
        local p
        for p in $(ctl status 2>/dev/null | awk '$1!="kafka" && $1!="triton" {print $1}'); do
          echo "----- end of the log of service $p -----" >&2
          ctl tail -3000 "$p" >&2 || true
          echo "-----" >&2
        done
      else
        log_tail "$f"
      fi
    done
    ctl status >&2 || true
    say "FAILED: ${failed[*]} not ready"
    return 1
  fi
}

summary() {
  local pid; pid="$(supervisord_pid || echo '?')"
  echo "factorymesh $STACK stack is up (supervisord pid $pid)"
  echo "  supervisor conf : $CONF   (supervisorctl -c $CONF status)"
  echo "  kafka           : 127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)  data $STACK_DIR/kafka"
  echo "                    log $LOG_DIR/kafka.log"
  echo "  triton          : grpc 127.0.0.1:$TRITON_GRPC_PORT  http 127.0.0.1:$TRITON_HTTP_PORT  metrics 127.0.0.1:$TRITON_METRICS_PORT/metrics"
  echo "                    models: $(cd "$MODEL_REPO" && ls -d */ 2>/dev/null | tr -d / | tr '\n' ' ')"
  echo "                    log $LOG_DIR/triton.log"
  "$PY" "$ROOT/scripts/stack_wait.py" describe --services-text --conf "$CONF" 2>/dev/null || true
  echo "  supervisord log : $LOG_DIR/supervisord.log"
  echo "  env             : $ENV_FILE"
}

# ------------------------------------------------------------------ commands
cmd_up() {
  local fresh="${1:-no}"
  ensure_venv
  lock_stack
  if is_running; then
    if [[ "$fresh" == fresh ]]; then
      say "$STACK stack already running: stopping it for a fresh start"
      do_down
    else
      say "$STACK stack is already running (supervisord pid $(supervisord_pid)); not starting another"
      ctl status || true
      summary
      return 0
    fi
  fi
  fetch
  local p busy=()
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$TRITON_HTTP_PORT" "$TRITON_GRPC_PORT" "$TRITON_METRICS_PORT"; do
    port_in_use "$p" && busy+=("$p")
  done
  if ((${#busy[@]})); then
    say "port(s) ${busy[*]} already in use on 127.0.0.1 by another process:"
    ss -ltnp 2>/dev/null | grep -E ":($(IFS='|'; echo "${busy[*]}"))\b" >&2 || true
    die 4 "cannot start the $STACK stack"
  fi
  rm -f "$SOCK" "$PIDFILE"
  rm -f /dev/shm/fm_"${STACK}"_* 2>/dev/null || true   # python-backend shm left by a killed triton
  if [[ "$fresh" == fresh ]]; then
    say "wiping $STACK_DIR (fresh $STACK stack)"
    rm -rf "$STACK_DIR/kafka" "$LOG_DIR"
  fi
  mkdir -p "$STACK_DIR" "$LOG_DIR"
  render_conf
  stack_env_lines >"$ENV_FILE"
  export_stack_env
  local t0=$SECONDS
  say "starting supervisord for the $STACK stack"
  # 9>&-: the daemon must not inherit (and hold) the stack lock
  "$ROOT/.venv/bin/supervisord" -c "$CONF" 9>&- || die 1 "supervisord failed to start (see $LOG_DIR/supervisord.log)"
  local i
  for i in $(seq 1 50); do ctl pid >/dev/null 2>&1 && break; sleep 0.2; done
  ctl pid >/dev/null 2>&1 || { tail -n 30 "$LOG_DIR/supervisord.log" >&2 || true; die 1 "supervisord is not answering on $SOCK"; }
  if ! wait_all; then
    if [[ "${FM_STACK_KEEP_ON_FAILURE:-0}" != 1 ]]; then
      say "stopping the failed $STACK stack (FM_STACK_KEEP_ON_FAILURE=1 keeps it)"
      do_down || true
    fi
    return 1
  fi
  say "$STACK stack ready in $((SECONDS - t0))s"
  summary
}

do_down() {
  local pid
  if ! pid="$(supervisord_pid)"; then
    rm -f "$SOCK" "$PIDFILE"
    say "$STACK stack is not running"
    return 0
  fi
  # remember the program pids, to make sure none outlives supervisord
  local child_pids
  child_pids="$(ctl pid all 2>/dev/null | grep -E '^[0-9]+$' | grep -v '^0$' || true)"
  say "stopping the $STACK stack (supervisord pid $pid)"
  ctl shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    say "supervisord did not exit in 100s; sending SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    sleep 5
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  local c
  for c in $child_pids; do
    for i in $(seq 1 20); do kill -0 "$c" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$c" 2>/dev/null; then
      say "program pid $c still alive after shutdown: SIGKILL"
      kill -KILL "$c" 2>/dev/null || true
    fi
  done
  rm -f "$SOCK" "$PIDFILE"
  say "$STACK stack stopped"
}

cmd_down() { lock_stack; do_down; }

cmd_status() {
  if ! is_running; then
    echo "factorymesh $STACK stack: not running"
    return 3
  fi
  echo "factorymesh $STACK stack: supervisord pid $(supervisord_pid), conf $CONF"
  ctl status
}

require_running() { is_running || die 3 "$STACK stack is not running"; }

cmd_kafka_restart() {
  require_running
  ctl restart kafka
  wait_kafka || { log_tail kafka; return 1; }
}

cmd_kafka_kill() {
  require_running
  local pid; pid="$(ctl pid kafka)"
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || die 1 "kafka is not running (pid '$pid')"
  say "SIGKILL kafka (pid $pid)"
  kill -KILL "$pid"
  local i
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  sleep 1
  # dev autorestarts the broker; test does not: start it if supervisord has not
  ctl start kafka >/dev/null 2>&1 || true
  wait_kafka || { log_tail kafka; return 1; }
}

cmd_restart() {
  require_running
  local prog="${1:-all}"
  ctl restart "$prog"
  case "$prog" in
    kafka) wait_kafka ;;
    triton) wait_triton ;;
    all) wait_all ;;
    *) wait_services ;;
  esac
}

cmd_logs() {
  local prog="${1:-}"
  if [[ -n "$prog" ]]; then
    tail -n 100 -F "$LOG_DIR/$prog.log"
  else
    tail -n 20 -F "$LOG_DIR"/*.log
  fi
}

stack_arg() {
  # optional first arg naming the stack
  case "${1:-}" in dev|test) echo "$1" ;; *) echo "$2" ;; esac
}

main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    up)          select_stack "$(stack_arg "${1:-}" dev)"; cmd_up ;;
    down)        select_stack "$(stack_arg "${1:-}" dev)"; cmd_down ;;
    status)      select_stack "$(stack_arg "${1:-}" dev)"; cmd_status ;;
    test-up)     select_stack test; cmd_up fresh
                 echo "# test stack env (also in $ENV_FILE):"; cat "$ENV_FILE" ;;
    test-down)   select_stack test; cmd_down ;;
    test-status) select_stack test; cmd_status ;;
    fetch)       fetch ;;
    env)         select_stack "$(stack_arg "${1:-}" dev)"; stack_env_lines ;;
    logs)        local s; s="$(stack_arg "${1:-}" dev)"; [[ "${1:-}" == "$s" ]] && shift
                 select_stack "$s"; cmd_logs "${1:-}" ;;
    kafka-restart) select_stack "$(stack_arg "${1:-}" dev)"; cmd_kafka_restart ;;
    kafka-kill)  select_stack "$(stack_arg "${1:-}" dev)"; cmd_kafka_kill ;;
    restart)     local s; s="$(stack_arg "${1:-}" dev)"; [[ "${1:-}" == "$s" ]] && shift
                 select_stack "$s"; cmd_restart "${1:-all}" ;;
    ctl)         local s; s="$(stack_arg "${1:-}" dev)"; [[ "${1:-}" == "$s" ]] && shift
                 select_stack "$s"; ctl "$@" ;;
    -h|--help|help|"") sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; [[ -n "$cmd" ]] ;;
    *) say "unknown command '$cmd'"; sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
