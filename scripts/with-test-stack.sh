#!/usr/bin/env bash
# Run a command against a real Kafka and Triton.
#
# With FM_KAFKA_BOOTSTRAP (and FM_TRITON_URL) set, the command runs against that
# existing infrastructure. Otherwise this starts the project's own test stack —
# Kafka and Triton only, on their own ports with a wiped data dir, so it can run
# beside `make up` — runs the command, stops the stack, and exits with the
# command's exit code.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [[ -n "${FM_KAFKA_BOOTSTRAP:-}" ]]; then
  echo "with-test-stack: using existing Kafka at $FM_KAFKA_BOOTSTRAP, Triton at ${FM_TRITON_URL:-<unset>}"
  exec "$@"
fi

trap 'scripts/stack.sh test-down || true' EXIT
# Infrastructure only: tests start the service processes they exercise, with their own
# consumer groups; a second, always-on ingest would normalize their input a second time.
FM_STACK_SERVICES_GLOB="${FM_TEST_SERVICES_GLOB:-$ROOT/.local/test/no-services/*.conf}" scripts/stack.sh test-up
# shellcheck disable=SC1091
source .local/test/env
"$@"
