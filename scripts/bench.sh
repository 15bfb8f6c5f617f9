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

run() { # name, args...
  local name=$1; shift
  echo "==> $name: load-simulator $*" | tee -a "$OUT/table.md"
  "$SIM" "$@" --json "$OUT/$name.json" | tee "$OUT/$name.txt"
  echo >>"$OUT/table.md"
  grep '^|' "$OUT/$name.txt" >>"$OUT/table.md" || true
  echo >>"$OUT/table.md"
}

run flash-sale flash-sale --users "$USERS" --seats "$SEATS" --concurrency "$CONCURRENCY"
run flash-sale-ga flash-sale --users "$USERS" --seats "$SEATS" --section-kind general --concurrency "$CONCURRENCY"
run multi-event multi-event --users "$USERS" --concurrency "$CONCURRENCY"
run broker broker-roundtrip --messages 100000

echo
echo "Tables for the README: $OUT/table.md"
cat "$OUT/table.md"
