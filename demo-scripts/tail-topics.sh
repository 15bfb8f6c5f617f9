#!/usr/bin/env bash
# Print the main topics' messages as they arrive: topic, partition, offset, key,
# headers (trace context, request id) and the JSON envelope.
#
#   demo-scripts/tail-topics.sh                          # all main topics, new messages
#   demo-scripts/tail-topics.sh booking.create booking.events
#   demo-scripts/tail-topics.sh --from-beginning event.lifecycle
#
#   demo-scripts/tail-topics.sh --console booking.create  # Kafka's own console consumer
#
# Where it reads from, first match wins:
#   --compose, or a running docker-compose `kafka` service: kcat in the compose
#       network (`docker-compose --profile tools run kcat`);
#   --console: Kafka's own ConsoleConsumer from the jars `make infra` fetched
#       (scripts/stack.sh kafka-class), one topic, key and headers printed;
#   `kcat` installed (Debian's package): kcat against KAFKA_BROKERS or the local stack;
#   otherwise evently-tail, the rdkafka-based reader behind `make tail TOPIC=...`,
#       one per topic.
# Brokers come from KAFKA_BROKERS, else .evently/env, else 127.0.0.1:9092.
# KAFKA_TOPIC_PREFIX is put in front of every topic name, as the services do.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FROM=latest
MODE=auto
topics=()
while [ $# -gt 0 ]; do
  case $1 in
    --from-beginning) FROM=earliest ;;
    --compose) MODE=compose ;;
    --local) MODE=local ;;
    --console) MODE=console ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (try --help)" ;;
    *) topics+=("$1") ;;
  esac
  shift
done
[ ${#topics[@]} -gt 0 ] || topics=(booking.create booking.events event.lifecycle waitlist.events notification.requests notification.dlq)
prefixed=()
for t in "${topics[@]}"; do prefixed+=("${KAFKA_TOPIC_PREFIX:-}$t"); done

FORMAT='\n%t [%p] @%o  key=%k  %T\nheaders: %h\n%s\n'
group="evently-tail-$(hostname)-$$"

compose_kafka_running() {
  command -v docker-compose >/dev/null 2>&1 && [ -f "$DEMO_ROOT/docker-compose.yml" ] \
    && [ -n "$(cd "$DEMO_ROOT" && docker-compose ps -q kafka 2>/dev/null)" ]
}

brokers=${KAFKA_BROKERS:-}
if [ -z "$brokers" ] && [ -f "$EVENTLY_STATE/env" ]; then
  brokers=$(sed -n "s/^export KAFKA_BROKERS='\(.*\)'$/\1/p" "$EVENTLY_STATE/env")
fi
brokers=${brokers:-127.0.0.1:9092}

if [ "$MODE" = auto ]; then
  if compose_kafka_running; then MODE=compose
  elif command -v kcat >/dev/null 2>&1; then MODE=kcat
  else MODE=local; fi
fi

case $MODE in
  compose)
    say "tailing ${prefixed[*]} on docker-compose's Kafka (kcat, from $FROM)"
    cd "$DEMO_ROOT"
    exec docker-compose --profile tools run --rm -T kcat \
      -G "$group" -X "auto.offset.reset=$FROM" -f "$FORMAT" -u "${prefixed[@]}"
    ;;
  kcat)
    say "tailing ${prefixed[*]} on $brokers (kcat, from $FROM)"
    exec kcat -b "$brokers" -G "$group" -X "auto.offset.reset=$FROM" -f "$FORMAT" -u "${prefixed[@]}"
    ;;
  console)
    [ ${#prefixed[@]} -eq 1 ] || die "--console tails one topic at a time"
    args=(--bootstrap-server "$brokers" --topic "${prefixed[0]}" --group "$group"
          --property print.key=true --property print.headers=true --property print.partition=true)
    [ "$FROM" = earliest ] && args+=(--from-beginning)
    say "tailing ${prefixed[0]} on $brokers (Kafka's console consumer, from $FROM)"
    exec "$DEMO_ROOT/scripts/stack.sh" kafka-class org.apache.kafka.tools.consumer.ConsoleConsumer "${args[@]}"
    ;;
  local)
    # What `make tail TOPIC=...` runs, started once per topic (built when missing).
    tail_bin="${EVENTLY_TAIL:-$DEMO_ROOT/target/debug/evently-tail}"
    if [ ! -x "$tail_bin" ]; then
      say "building evently-tail (cargo build -p kafka-bus --bin evently-tail)"
      (cd "$DEMO_ROOT" && cargo build --quiet -p kafka-bus --bin evently-tail) \
        || die "could not build evently-tail (the local stack's topic reader)"
    fi
    args=(--brokers "$brokers")
    [ "$FROM" = earliest ] && args+=(--from-beginning)
    say "tailing ${prefixed[*]} on $brokers (evently-tail, from $FROM); Ctrl-C stops"
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null; exit 0' INT TERM
    for t in "${prefixed[@]}"; do
      # One reader per topic, each line marked with its topic.
      ("$tail_bin" "$t" "${args[@]}" 2>&1 | sed -u "s/^/[$t] /") &
      pids+=($!)
    done
    wait
    ;;
esac
