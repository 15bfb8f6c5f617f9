#!/usr/bin/env bash
# `make bench`: the standard flash sale (10,000 users, 5,000 seats, reserved and
# general admission), a multi-event run and the broker's own round trip, against
# the local stack with release builds. Tables land in target/bench/.
#
# All simulated users come from one address, so the gateway runs with its rate
# limits off for the bench (GATEWAY__RATE_LIMITS__ENABLED=false); the gateway
# is restarted that way if it was running with them on.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
USERS="${USERS:-10000}"
SEATS="${SEATS:-5000}"
CONCURRENCY="${CONCURRENCY:-256}"

export GATEWAY__RATE_LIMITS__ENABLED=false
if [ -f .evently/pids/gateway.pid ] && kill -0 "$(cat .evently/pids/gateway.pid)" 2>/dev/null \
   && [ "$(tr '\0' '\n' <"/proc/$(cat .evently/pids/gateway.pid)/environ" 2>/dev/null | grep -c '^GATEWAY__RATE_LIMITS__ENABLED=false$')" = 0 ]; then
  echo "==> restarting the gateway with rate limits off for the bench"
  kill "$(cat .evently/pids/gateway.pid)"
  while kill -0 "$(cat .evently/pids/gateway.pid)" 2>/dev/null; do sleep 0.2; done
fi
NO_SEED=1 scripts/stack.sh up
cargo build --release --quiet -p load-simulator
SIM="$ROOT/target/release/load-simulator"

{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM; $(date -u +%F)"
  echo
} >"$OUT/table.md"

# After a run the consumers (notification, waitlist, live feed) still work
# through its tens of thousands of outcomes; the next run starts once the
# gateway's /health is steadily green, so runs do not measure each other.
settle() {
  local deadline=$((SECONDS + ${SETTLE_TIMEOUT:-900})) healthy=0
  echo "==> waiting for the stack to settle (gateway /health 200 three times in a row)"
  while [ "$healthy" -lt 3 ]; do
    [ $SECONDS -lt $deadline ] || { echo "the stack did not settle within ${SETTLE_TIMEOUT:-900} s" >&2; exit 1; }
    if curl -fsS -m 3 http://127.0.0.1:8080/health >/dev/null 2>&1; then healthy=$((healthy + 1)); else healthy=0; fi
    sleep 2
  done
}

run() { # name, args...
  local name=$1; shift
  settle
  echo "==> $name: load-simulator $*" | tee -a "$OUT/table.md"
  "$SIM" "$@" --json "$OUT/$name.json" | tee "$OUT/$name.txt"
  echo >>"$OUT/table.md"
  grep '^|' "$OUT/$name.txt" >>"$OUT/table.md" || true
  echo >>"$OUT/table.md"
}

# The broker's own ceiling first, while nothing else loads it: our client
# (rdkafka, the services' settings: idempotent, acks=all, linger 2 ms) and
# Kafka's own producer benchmark with the same acks and linger, side by side.
PARTITIONS="${KAFKA_PARTITIONS:-12}"
run broker broker-roundtrip --messages 20000 --partitions "$PARTITIONS"
perf_topic="bench.producer-perf.$(date +%s)"
scripts/stack.sh kafka-class org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 \
  --create --topic "$perf_topic" --partitions "$PARTITIONS" --replication-factor 1 >/dev/null
echo "==> kafka-producer-perf-test: 200,000 records of 300 bytes, acks=all, linger.ms=2" | tee -a "$OUT/table.md"
scripts/stack.sh kafka-class org.apache.kafka.tools.ProducerPerformance --topic "$perf_topic" \
  --num-records 200000 --record-size 300 --throughput -1 \
  --producer-props bootstrap.servers=127.0.0.1:9092 acks=all linger.ms=2 enable.idempotence=true \
  | tail -n 1 | tee "$OUT/producer-perf.txt"
{ echo; echo "    $(cat "$OUT/producer-perf.txt")"; echo; } >>"$OUT/table.md"
scripts/stack.sh kafka-class org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 \
  --delete --topic "$perf_topic" >/dev/null || true
run flash-sale flash-sale --users "$USERS" --seats "$SEATS" --concurrency "$CONCURRENCY"
run flash-sale-ga flash-sale --users "$USERS" --seats "$SEATS" --section-kind general --concurrency "$CONCURRENCY"
run multi-event multi-event --users "$USERS" --concurrency "$CONCURRENCY"

echo
echo "Tables for the README: $OUT/table.md"
cat "$OUT/table.md"
