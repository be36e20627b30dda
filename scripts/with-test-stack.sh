#!/usr/bin/env bash
# Run a command against a real Kafka and Triton.
#
# With FM_KAFKA_BOOTSTRAP (and FM_TRITON_URL) set, the command runs against that
# existing infrastructure. Otherwise this starts the project's own test stack
# (its own ports and a wiped data dir, so it can run beside `make up`), runs the
# command, stops the stack, and exits with the command's exit code.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [[ -n "${FM_KAFKA_BOOTSTRAP:-}" ]]; then
  echo "with-test-stack: using existing Kafka at $FM_KAFKA_BOOTSTRAP, Triton at ${FM_TRITON_URL:-<unset>}"
  exec "$@"
fi

trap 'scripts/stack.sh test-down || true' EXIT
scripts/stack.sh test-up
# shellcheck disable=SC1091
source .local/test/env
"$@"
