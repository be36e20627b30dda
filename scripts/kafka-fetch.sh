#!/usr/bin/env bash
# Fetch the Kafka broker jars (deploy/kafka/pom.xml) into .local/kafka/lib/ with Maven.
# Idempotent: does nothing when the jars for the current pom.xml are already there.
#   scripts/kafka-fetch.sh [--force]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/deploy/kafka/pom.xml"
LIB_DIR="${FM_KAFKA_LIB_DIR:-$ROOT/.local/kafka/lib}"
STAMP="$LIB_DIR/.fetched"

want="$(sha256sum "$POM" | cut -d' ' -f1)"
if [[ "${1:-}" != "--force" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
    && compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null; then
  exit 0
fi
command -v mvn >/dev/null || { echo "kafka-fetch: 'mvn' (Maven) is required" >&2; exit 2; }
command -v java >/dev/null || { echo "kafka-fetch: 'java' (JDK/JRE 17+) is required" >&2; exit 2; }

echo "kafka-fetch: downloading Kafka jars into $LIB_DIR ..." >&2
tmp="$LIB_DIR.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$LIB_DIR")"
trap 'rm -rf "$tmp"' EXIT
# -B batch, -q quiet; retries on flaky downloads
for attempt in 1 2 3; do
  # (sed: Maven 3.8 still emits ANSI resets in -q batch mode)
  if mvn -B -q -Dstyle.color=never -f "$POM" -Dkafka.lib.dir="$tmp" \
      -Dmaven.wagon.http.retryHandler.count=3 package 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' >&2; then
    break
  fi
  if [[ $attempt == 3 ]]; then echo "kafka-fetch: maven failed" >&2; exit 1; fi
  echo "kafka-fetch: maven failed (attempt $attempt), retrying" >&2
  sleep 3
done
compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { echo "kafka-fetch: kafka jar missing after fetch" >&2; exit 1; }
echo "$want" > "$tmp/.fetched"
rm -rf "$LIB_DIR"
mv "$tmp" "$LIB_DIR"
trap - EXIT
echo "kafka-fetch: $(ls "$LIB_DIR"/*.jar | wc -l) jars in $LIB_DIR" >&2
