#!/usr/bin/env bash
# The flash sale: N fans race for M seats through the gateway until the event is
# sold out, then the simulator reads everything back and checks the invariants
# (no seat sold twice, no section over capacity, every confirmed booking present).
#
#   demo-scripts/flash-sale.sh                       # 10,000 fans, 5,000 seats
#   USERS=2000 SEATS=500 demo-scripts/flash-sale.sh
#   demo-scripts/flash-sale.sh --section-kind general --rate 3000   # extra flags go to the simulator
#
# Starts the local stack when the gateway is not healthy. The JSON summary is
# written to .evently/flash-sale.json (JSON=path to change). Exit status: the
# simulator's (2 when an invariant is violated).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "${1:-}" = -h ] || [ "${1:-}" = --help ] && { sed -n '2,13p' "$0"; exit 0; }
need curl
need jq "apt-get install -y jq"

USERS=${USERS:-10000}
SEATS=${SEATS:-5000}
JSON=${JSON:-$EVENTLY_STATE/flash-sale.json}
mkdir -p "$(dirname "$JSON")"

ensure_stack
sim=$(load_simulator)
say "flash sale: $USERS fans, $SEATS seats, gateway $GATEWAY"
set +e
"$sim" flash-sale --gateway "$GATEWAY" --users "$USERS" --seats "$SEATS" --json "$JSON" "$@"
rc=$?
set -e
if [ -s "$JSON" ]; then
  jq -r '"
  holds/s        \(.holds_per_sec)   (p50 \(.hold_p50_ms) ms, p99 \(.hold_p99_ms) ms)
  confirms/s     \(.confirms_per_sec)   (p99 \(.confirm_p99_ms) ms)
  confirmed      \(.confirmed)
  sold out in    \(.sold_out_seconds // "-") s
  oversold       \(.oversold)
  duplicates     \(.duplicates)
  5xx            \(.errors_5xx)"' "$JSON"
fi
if [ $rc -eq 0 ]; then ok "invariants hold"; else warn "the simulator exited with $rc"; fi
exit $rc
