#!/usr/bin/env bash
# Run a single-node Apache Kafka broker (KRaft, broker+controller) in the FOREGROUND,
# so a process supervisor (deploy/local/supervisord.conf.in) can manage it.
#
# Env (all optional):
#   FM_KAFKA_PORT             PLAINTEXT listener port on 127.0.0.1   (default 9092)
#   FM_KAFKA_CONTROLLER_PORT  KRaft controller listener port          (default 9093)
#   FM_KAFKA_DATA_DIR         data dir; formatted once, kept across restarts
#                             (default .local/dev/kafka)
#   FM_KAFKA_HEAP_OPTS        JVM heap flags                          (default -Xms256m -Xmx512m)
#   FM_KAFKA_JVM_OPTS         extra JVM flags
#   FM_KAFKA_LIB_DIR          jar dir (default .local/kafka/lib; filled by scripts/kafka-fetch.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${FM_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${FM_KAFKA_CONTROLLER_PORT:-9093}"
DATA_DIR="${FM_KAFKA_DATA_DIR:-$ROOT/.local/dev/kafka}"
LIB_DIR="${FM_KAFKA_LIB_DIR:-$ROOT/.local/kafka/lib}"
HEAP_OPTS="${FM_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
JAVA="${JAVA:-java}"

if ! compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null; then
  "$ROOT/scripts/kafka-fetch.sh"
fi

mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd)"
PROPS="$DATA_DIR/server.properties"
sed -e "s#@PORT@#$PORT#g" \
    -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
    -e "s#@DATA_DIR@#$DATA_DIR#g" \
    "$ROOT/deploy/kafka/server.properties.in" > "$PROPS.tmp"
mv "$PROPS.tmp" "$PROPS"

CP="$LIB_DIR/*"
COMMON_OPTS=(
  -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$ROOT/deploy/kafka/log4j2.xml"
  "-Dkafka.logs.dir=$DATA_DIR/applogs"
)

# Format storage once (KRaft). meta.properties marks a formatted dir.
if [[ ! -f "$DATA_DIR/metadata/meta.properties" ]]; then
  CLUSTER_ID_FILE="$DATA_DIR/cluster.id"
  if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
    # Kafka Uuid: 16 random bytes, url-safe base64 without padding, not starting with '-'
    python3 - > "$CLUSTER_ID_FILE" <<'PY'
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
PY
  fi
  echo "kafka-run: formatting storage in $DATA_DIR (cluster id $(cat "$CLUSTER_ID_FILE"))"
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 "${COMMON_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool \
    format --ignore-formatted --cluster-id "$(cat "$CLUSTER_ID_FILE")" --config "$PROPS"
fi

echo "kafka-run: starting broker on 127.0.0.1:$PORT (controller 127.0.0.1:$CONTROLLER_PORT), data $DATA_DIR"
# shellcheck disable=SC2086
exec "$JAVA" $HEAP_OPTS \
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
  "${COMMON_OPTS[@]}" ${FM_KAFKA_JVM_OPTS:-} \
  -cp "$CP" kafka.Kafka "$PROPS"
