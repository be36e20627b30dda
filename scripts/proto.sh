#!/usr/bin/env bash
# Protobuf tooling for factorymesh.
#
#   scripts/proto.sh gen       regenerate Python code into libs/api/src/factorymesh/api
#   scripts/proto.sh check     fail (listing files) if the generated code is stale, missing or extra
#   scripts/proto.sh lint      buf lint + buf format check
#   scripts/proto.sh format    rewrite protos/ with buf format
#   scripts/proto.sh breaking  buf breaking against the previous commit (FILE rules)
#   scripts/proto.sh all       check + lint + breaking
#
# Environment:
#   PROTO_BREAKING_AGAINST  git ref to compare against (default HEAD~1), e.g. origin/main
#   UV                      uv executable (default: uv on PATH, else ~/.local/bin/uv)
#
# buf comes from npm (@bufbuild/buf, pinned in package.json) and is installed into
# node_modules/ with `npm ci` on first use; it needs no network besides the npm registry.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

BUF="$REPO_ROOT/node_modules/.bin/buf"

uv_bin() {
  if [[ -n "${UV:-}" ]]; then
    echo "$UV"
  elif command -v uv >/dev/null 2>&1; then
    command -v uv
  else
    echo "$HOME/.local/bin/uv"
  fi
}

run_python() {
  "$(uv_bin)" run --frozen python "$@"
}

ensure_buf() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: node and npm are required for buf (install Node.js >= 18)" >&2
    exit 2
  fi
  local want have
  want="$(node -p "require('./package.json').devDependencies['@bufbuild/buf']")"
  have="$("$BUF" --version 2>/dev/null || true)"
  if [[ "$have" != "$want" ]]; then
    echo "installing buf $want from npm (npm ci) ..." >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
    have="$("$BUF" --version)"
    if [[ "$have" != "$want" ]]; then
      echo "error: buf $have installed, but package.json pins $want" >&2
      exit 2
    fi
  fi
}

cmd_gen() {
  run_python scripts/proto_gen.py gen
}

cmd_check() {
  run_python scripts/proto_gen.py check
}

cmd_lint() {
  ensure_buf
  "$BUF" lint
  if ! "$BUF" format --diff --exit-code; then
    echo "error: protos are not formatted; run scripts/proto.sh format" >&2
    exit 1
  fi
  echo "buf lint: ok"
}

cmd_format() {
  ensure_buf
  "$BUF" format --write
}

cmd_breaking() {
  local against="${PROTO_BREAKING_AGAINST:-HEAD~1}"
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "buf breaking: not a git checkout; nothing to compare against"
    return 0
  fi
  if ! git rev-parse --verify --quiet "${against}^{commit}" >/dev/null; then
    echo "buf breaking: ${against} does not exist (first commit or shallow clone); nothing to compare against"
    return 0
  fi
  if ! git cat-file -e "${against}:protos" 2>/dev/null; then
    echo "buf breaking: ${against} has no protos/ directory; nothing to compare against"
    return 0
  fi
  ensure_buf
  local git_dir
  git_dir="$(git rev-parse --path-format=absolute --git-common-dir)"
  "$BUF" breaking protos --against "${git_dir}#ref=$(git rev-parse "${against}^{commit}"),subdir=protos"
  echo "buf breaking: no breaking changes against ${against}"
}

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  gen) cmd_gen ;;
  check) cmd_check ;;
  lint) cmd_lint ;;
  format) cmd_format ;;
  breaking) cmd_breaking ;;
  all)
    cmd_check
    cmd_lint
    cmd_breaking
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
