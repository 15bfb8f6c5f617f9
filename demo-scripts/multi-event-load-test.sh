#!/usr/bin/env bash
# Several events on sale at once with different demand: a hot one that sells out,
# warm ones, a cold one. The simulator reports per event and checks the
# invariants of each.
#
#   demo-scripts/multi-event-load-test.sh
#   USERS=4000 HOT_SEATS=500 demo-scripts/multi-event-load-test.sh --rate 1500
#
# Extra flags go to `load-simulator multi-event` (see its --help). The JSON
# summary goes to .evently/multi-event.json (JSON=path to change).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "${1:-}" = -h ] || [ "${1:-}" = --help ] && { sed -n '2,10p' "$0"; exit 0; }
need curl
need jq "apt-get install -y jq"

USERS=${USERS:-10000}
HOT_SEATS=${HOT_SEATS:-2000}
WARM_EVENTS=${WARM_EVENTS:-2}
WARM_SEATS=${WARM_SEATS:-3000}
COLD_SEATS=${COLD_SEATS:-1000}
JSON=${JSON:-$EVENTLY_STATE/multi-event.json}
mkdir -p "$(dirname "$JSON")"

ensure_stack
sim=$(load_simulator)
say "multi-event: $USERS fans over 1 hot ($HOT_SEATS seats), $WARM_EVENTS warm ($WARM_SEATS each), 1 cold ($COLD_SEATS)"
set +e
"$sim" multi-event --gateway "$GATEWAY" --users "$USERS" --hot-seats "$HOT_SEATS" \
  --warm-events "$WARM_EVENTS" --warm-seats "$WARM_SEATS" --cold-seats "$COLD_SEATS" --json "$JSON" "$@"
rc=$?
set -e
if [ $rc -eq 0 ]; then ok "every event's invariants hold"; else warn "the simulator exited with $rc"; fi
exit $rc
