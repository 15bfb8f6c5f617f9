#!/usr/bin/env bash
# Against `make up`: a small flash sale, then what an operator tailing the
# topic sees. Debian's kcat and Kafka's own console consumer (from the jars the
# stack fetched) must both print the sale's booking.create commands, each keyed
# by the id of the event it is for.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
[ -f .evently/env ] && source .evently/env
brokers="${KAFKA_BROKERS:-127.0.0.1:9092}"
topic="${KAFKA_TOPIC_PREFIX:-}booking.create"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

command -v kcat >/dev/null || { echo "FAIL kcat is not installed (apt-get install kcat)" >&2; exit 1; }
sim="$root/target/release/load-simulator"
[ -x "$sim" ] || cargo build --release --quiet -p load-simulator
"$sim" flash-sale --users 40 --seats 20 --concurrency 8 >"$tmp/sale.txt" 2>&1 \
  || { cat "$tmp/sale.txt" >&2; echo "FAIL the flash sale did not pass its invariant check" >&2; exit 1; }
echo "ok: a 40-user flash sale ran against the stack"

# Each line: key TAB envelope. Every command's key must be its payload's event id.
check_keyed() { # what file [a command type that must be among them]
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
what, path, needed = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.rstrip("\n").split("\t", 1) for l in open(path) if "\t" in l]
assert rows, f"{what}: printed no booking.create message"
for key, value in rows:
    payload = json.loads(value)["payload"]
    # CreateInventory carries the whole event; every other command its id.
    event_id = payload.get("event_id") or payload.get("event", {}).get("event_id")
    assert event_id == key, f"{what}: key {key} is not the event id of {value[:200]}"
types = {json.loads(value)["type"] for _, value in rows}
assert not needed or needed in types, f"{what}: no {needed} command among {sorted(types)}"
print(f"ok: {what} printed {len(rows)} booking.create commands, each keyed by its event id")
PY
}

kcat -C -b "$brokers" -t "$topic" -o beginning -e -q -f '%k\t%s\n' >"$tmp/kcat.txt"
check_keyed "kcat -C -b $brokers -t $topic" "$tmp/kcat.txt" HoldSeats

scripts/stack.sh kafka-class org.apache.kafka.tools.consumer.ConsoleConsumer \
  --bootstrap-server "$brokers" --topic "$topic" --from-beginning --max-messages 20 --timeout-ms 30000 \
  --property print.key=true --property key.separator=$'\t' >"$tmp/console.txt" 2>"$tmp/console.err" || true
check_keyed "kafka-console-consumer --topic $topic" "$tmp/console.txt" \
  || { tail -n 20 "$tmp/console.err" >&2; exit 1; }
