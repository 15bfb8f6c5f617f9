#!/usr/bin/env bash
# Print the main topics' messages as they arrive: topic, partition, offset, key,
# headers (trace context, request id) and the JSON envelope.
#
#   demo-scripts/tail-topics.sh                          # all main topics, new messages
#   demo-scripts/tail-topics.sh booking.create booking.events
#   demo-scripts/tail-topics.sh --from-beginning event.lifecycle
#
# Where it reads from, first match wins:
#   --compose, or a running docker-compose `kafka` service: kcat in the compose
#       network (`docker-compose --profile tools run kcat`), Apache Kafka;
#   KAFKA_BROKERS set and `kcat` installed: kcat against that Apache Kafka;
#   otherwise the local stack: evently-tail, the rdkafka-based reader behind
#       `make tail TOPIC=...` (Debian's kcat cannot talk to the local tansu broker,
#       see BROKER.md), one per topic, brokers from KAFKA_BROKERS or .evently/env.
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
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
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

if [ "$MODE" = auto ]; then
  if compose_kafka_running; then MODE=compose
  elif [ -n "${KAFKA_BROKERS:-}" ] && command -v kcat >/dev/null 2>&1; then MODE=kcat
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
    say "tailing ${prefixed[*]} on $KAFKA_BROKERS (kcat, from $FROM)"
    exec kcat -b "$KAFKA_BROKERS" -G "$group" -X "auto.offset.reset=$FROM" -f "$FORMAT" -u "${prefixed[@]}"
    ;;
  local)
    # What `make tail TOPIC=...` runs, started once per topic (built when missing).
    tail_bin="${EVENTLY_TAIL:-$DEMO_ROOT/target/debug/evently-tail}"
    if [ ! -x "$tail_bin" ]; then
      say "building evently-tail (cargo build -p kafka-bus --bin evently-tail)"
      (cd "$DEMO_ROOT" && cargo build --quiet -p kafka-bus --bin evently-tail) \
        || die "could not build evently-tail (the local stack's topic reader)"
    fi
    brokers=${KAFKA_BROKERS:-}
    if [ -z "$brokers" ] && [ -f "$EVENTLY_STATE/env" ]; then
      brokers=$(sed -n "s/^export KAFKA_BROKERS='\(.*\)'$/\1/p" "$EVENTLY_STATE/env")
    fi
    brokers=${brokers:-127.0.0.1:9092}
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
