#!/usr/bin/env bash
# Run NVIDIA Triton Inference Server in the FOREGROUND (for supervisord), using the
# tritonserver build shipped in the nvidia-pytriton wheel of the project venv, serving
# deploy/triton/model_repository in explicit model-control mode (all models loaded at
# start; new versions can be loaded later through the model-control API).
#
# Env (all optional):
#   FM_TRITON_HTTP_PORT     (default 8000)
#   FM_TRITON_GRPC_PORT     (default 8001)
#   FM_TRITON_METRICS_PORT  (default 8002)
#   FM_TRITON_ADDRESS       bind address for HTTP/gRPC/metrics (default 127.0.0.1)
#   FM_TRITON_MODEL_REPOSITORY  (default deploy/triton/model_repository)
#   FM_TRITON_SHM_PREFIX    python-backend shared-memory prefix; must differ between
#                           servers on one host (default fm_<http port>_)
#   FM_TRITON_LOG_VERBOSE   tritonserver --log-verbose level (default 0)
#   FM_TRITON_EXTRA_ARGS    extra tritonserver arguments
#   FM_PYTHON               interpreter whose site-packages has pytriton (default .venv/bin/python)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${FM_PYTHON:-$ROOT/.venv/bin/python}"
HTTP_PORT="${FM_TRITON_HTTP_PORT:-8000}"
GRPC_PORT="${FM_TRITON_GRPC_PORT:-8001}"
METRICS_PORT="${FM_TRITON_METRICS_PORT:-8002}"
ADDRESS="${FM_TRITON_ADDRESS:-127.0.0.1}"
MODEL_REPO="${FM_TRITON_MODEL_REPOSITORY:-$ROOT/deploy/triton/model_repository}"
SHM_PREFIX="${FM_TRITON_SHM_PREFIX:-fm_${HTTP_PORT}_}"

[[ -x "$PY" ]] || { echo "triton-run: $PY not found (run 'uv sync' first)" >&2; exit 2; }

# Locations, asked from the interpreter itself:
#   pytriton package dir, its bundled shared libs, the interpreter's libpython dir,
#   the interpreter's prefix (for PATH), and the X.Y version (stub choice).
mapfile -t INFO < <("$PY" - <<'PY'
import pathlib, sys, sysconfig
import pytriton
from pytriton.utils.distribution import get_libs_path
print(pathlib.Path(pytriton.__file__).parent)
print(get_libs_path())
print(sysconfig.get_config_var("LIBDIR") or "")
print(sys.exec_prefix)
print(f"{sys.version_info[0]}.{sys.version_info[1]}")
try:
    from importlib.metadata import version
    print(version("nvidia-pytriton"))
except Exception:
    print("unknown")
PY
)
PYTRITON_DIR="${INFO[0]}"; PYTRITON_LIBS="${INFO[1]}"; PY_LIBDIR="${INFO[2]}"
PY_PREFIX="${INFO[3]}"; PY_VER="${INFO[4]}"; PYTRITON_VER="${INFO[5]}"
DIST="$PYTRITON_DIR/tritonserver"
BIN="$DIST/bin/tritonserver"
STUB="$DIST/python_backend_stubs/$PY_VER/triton_python_backend_stub"
[[ -x "$BIN" ]] || { echo "triton-run: $BIN missing" >&2; exit 2; }
[[ -f "$STUB" ]] || { echo "triton-run: no python backend stub for Python $PY_VER ($STUB)" >&2; exit 2; }

# The python backend looks for triton_python_backend_stub next to libtriton_python.so,
# so build a backend directory holding both (what pytriton does in its workspace).
# Shared by all stacks, rebuilt when pytriton/python change; built in a temp dir + rename.
BACKENDS="$ROOT/.local/triton/backends-$PYTRITON_VER-py$PY_VER"
if [[ ! -x "$BACKENDS/python/triton_python_backend_stub" ]]; then
  tmp="$BACKENDS.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  cp -a "$DIST/backends/." "$tmp/"
  cp "$STUB" "$tmp/python/triton_python_backend_stub"
  chmod +x "$tmp/python/triton_python_backend_stub"
  mv -T "$tmp" "$BACKENDS" 2>/dev/null || rm -rf "$tmp"   # lost a race: the other copy is fine
fi

# Pitfall: the stub links libpython dynamically. Without the venv interpreter's LIBDIR
# first on LD_LIBRARY_PATH it may load the system libpython3.11 and die with
# "'_thread.RLock' object has no attribute '_recursion_count'".
export LD_LIBRARY_PATH="$PY_LIBDIR:$PYTRITON_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Stub processes must see the venv (numpy etc.): put its bin first, like pytriton does.
export PATH="$PY_PREFIX/bin:$PATH"
export PYTHONUNBUFFERED=1

echo "triton-run: tritonserver (pytriton $PYTRITON_VER, python $PY_VER) http $ADDRESS:$HTTP_PORT grpc $ADDRESS:$GRPC_PORT metrics $ADDRESS:$METRICS_PORT repo $MODEL_REPO"
# shellcheck disable=SC2086
exec "$BIN" \
  --model-repository="$MODEL_REPO" \
  --model-control-mode=explicit \
  --load-model='*' \
  --strict-readiness=true \
  --exit-on-error=true \
  --backend-directory="$BACKENDS" \
  --cache-directory="$DIST/caches" \
  --backend-config="python,shm-region-prefix-name=$SHM_PREFIX" \
  --http-address="$ADDRESS" --http-port="$HTTP_PORT" \
  --grpc-address="$ADDRESS" --grpc-port="$GRPC_PORT" \
  --allow-metrics=true --allow-gpu-metrics=false --allow-cpu-metrics=true \
  --metrics-address="$ADDRESS" --metrics-port="$METRICS_PORT" \
  --pinned-memory-pool-byte-size=0 \
  --exit-timeout-secs=15 \
  --log-verbose="${FM_TRITON_LOG_VERBOSE:-0}" \
  ${FM_TRITON_EXTRA_ARGS:-}
