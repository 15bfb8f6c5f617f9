#!/usr/bin/env bash
# Chaos during a flash sale, on the local stack:
#   1. a flash sale starts (open loop, slow enough to last through the chaos);
#   2. the booking processor is killed with SIGKILL mid-sale, then restarted (make up);
#   3. the broker is killed with SIGKILL mid-sale, then restarted (make up);
#   4. the sale runs to the end and the simulator reads everything back: the
#      invariant check must show zero oversell, zero duplicates and every booking
#      that was confirmed to a client (201) present.
# Prints how long each component was down and how long recovery took, and writes
# them to .evently/chaos.json.
#
#   demo-scripts/chaos.sh
#   SEATS=6000 RATE=100 OUTAGE=10 demo-scripts/chaos.sh
#   SKIP_BROKER=1 demo-scripts/chaos.sh                # only the booking processor
#
# Settings (environment): USERS (8000), SEATS (4000), RATE purchases/s (30: low, so the sale
# is not already queueing before the chaos; README, Benchmarks has what the stack sustains),
# WARMUP s before the first kill (5), OUTAGE s a component stays dead (5),
# GAP s between the two kills (8). Exit status 0 only when the invariants hold.
# For a stack not started by make up: EVENTLY_PIDS (folder of <name>.pid files) and
# RESTART_CMD (a command that starts whatever is down and returns when it is up),
# EVENTLY_LOGS (folder of <name>.log files, shown when recovery fails).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "${1:-}" = -h ] || [ "${1:-}" = --help ] && { sed -n '2,18p' "$0"; exit 0; }
need curl
need jq "apt-get install -y jq"

USERS=${USERS:-8000}
SEATS=${SEATS:-4000}
RATE=${RATE:-30}
WARMUP=${WARMUP:-5}
OUTAGE=${OUTAGE:-5}
GAP=${GAP:-8}
PIDS="${EVENTLY_PIDS:-$EVENTLY_STATE/pids}"
LOGS="${EVENTLY_LOGS:-$EVENTLY_STATE/logs}"
RUN="$EVENTLY_STATE/chaos"
mkdir -p "$RUN"
rm -f "$RUN"/*

case "$GATEWAY" in
  http://127.0.0.1:*|http://localhost:*) ;;
  *) die "chaos.sh kills processes of the local stack; $GATEWAY is not it" ;;
esac

restart() { # log file
  if [ -n "${RESTART_CMD:-}" ]; then
    bash -c "$RESTART_CMD" >"$1" 2>&1
  else
    NO_SEED=1 stack up >"$1" 2>&1
  fi
}

# Everything up and built before the clock starts, so a restart is a restart,
# not a build.
say "bringing the local stack up (${RESTART_CMD:-make up})"
restart "$RUN/make-up-0.log" || { tail -n 20 "$RUN/make-up-0.log"; die "starting the stack failed"; }
gateway_healthy || die "the gateway is not healthy after make up"
[ -f "$PIDS/booking.pid" ] || die "no $PIDS/booking.pid: is booking started by make up?"
sim=$(load_simulator)

sim_pid=""
cleanup() { if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

# ------------------------------------------------------------------ the sale
say "flash sale in the background: $USERS fans, $SEATS seats, $RATE purchases/s"
"$sim" flash-sale --gateway "$GATEWAY" --users "$USERS" --seats "$SEATS" --rate "$RATE" \
  --duration 900 --max-errors 1000000000 --json "$RUN/sale.json" >"$RUN/sale.out" 2>"$RUN/sale.err" &
sim_pid=$!

deadline=$((SECONDS + 300))
until grep -q "timed phase" "$RUN/sale.err" 2>/dev/null; do
  kill -0 "$sim_pid" 2>/dev/null || { tail -n 20 "$RUN/sale.err"; die "the simulator stopped before the sale began"; }
  [ $SECONDS -lt $deadline ] || die "the sale did not begin within 300 s (see $RUN/sale.err)"
  sleep 0.2
done
EVENT_ID=$(sed -n 's/^event \([0-9a-f-]\{36\}\) on sale.*/\1/p' "$RUN/sale.err" | head -n 1)
[ -n "$EVENT_ID" ] || die "could not read the event id from the simulator's output ($RUN/sale.err)"
ok "sale running for event $EVENT_ID (live: $GATEWAY/monitor?event=$EVENT_ID)"
sleep "$WARMUP"

available() { # -> the event's available places, or empty while booking cannot answer
  curl -fsS -m 2 "$API/events/$EVENT_ID/seats/available" 2>/dev/null | jq -r '.available // empty' 2>/dev/null || true
}

# Waits until the sale makes progress again: availability readable and falling.
wait_progress() { # -> prints the ms timestamp of the first fall
  local first="" now deadline=$((SECONDS + 180))
  while [ $SECONDS -lt $deadline ]; do
    now=$(available)
    if [ -n "$now" ]; then
      if [ -z "$first" ]; then first=$now
      elif [ "$now" -lt "$first" ]; then now_ms; return 0
      fi
      [ "$now" = 0 ] && { now_ms; return 0; }
    fi
    sleep 0.1
  done
  return 1
}

wait_until() { # what seconds command... -> prints the ms timestamp when it held
  local what=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || die "$what did not happen within $secs s"
    sleep 0.1
  done
  now_ms
}

last_lines() { # name: what the restarted component said last
  [ -f "$LOGS/$1.log" ] || return 0
  warn "last lines of $LOGS/$1.log:"
  tail -n 8 "$LOGS/$1.log" | cut -c1-300 >&2
}

service_is() { [ "$(service_status "$1")" = "$2" ]; }
all_healthy() { gateway_healthy; }

chaos() { # name pid-file -> sets DOWN_S, RECOVER_S, RESUME_S
  local name=$1 pidfile=$2 pid t_kill t_restart t_up t_progress before
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) is not running"
  # Chaos on a stack that is already failing measures nothing.
  wait_until "a healthy stack before killing $name" 60 all_healthy >/dev/null
  before=$(available)
  say "killing $name (pid $pid) with SIGKILL, ${before:-?} places left"
  t_kill=$(now_ms)
  kill -KILL "$pid"
  if [ "$name" = booking ]; then
    wait_until "the gateway noticing booking is down" 30 service_is booking down >/dev/null
  fi
  ok "$name is down; it stays down for $OUTAGE s"
  sleep "$OUTAGE"
  say "restarting with ${RESTART_CMD:-make up}"
  t_restart=$(now_ms)
  restart "$RUN/make-up-$name.log" || { tail -n 20 "$RUN/make-up-$name.log"; die "restarting failed"; }
  t_up=$(wait_until "every service healthy again" 120 all_healthy) || { last_lines "$name"; exit 1; }
  t_progress=$(wait_progress) || { last_lines "$name"; die "the sale made no progress within 180 s of restarting $name"; }
  DOWN_S=$(awk -v a="$t_kill" -v b="$t_up" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
  RECOVER_S=$(awk -v a="$t_restart" -v b="$t_up" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
  RESUME_S=$(awk -v a="$t_kill" -v b="$t_progress" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
  ok "$name: down ${DOWN_S}s (kill -> healthy), recovery ${RECOVER_S}s (make up -> healthy), sales resumed ${RESUME_S}s after the kill"
}

chaos booking "$PIDS/booking.pid"
B_DOWN=$DOWN_S B_RECOVER=$RECOVER_S B_RESUME=$RESUME_S

K_DOWN=null K_RECOVER=null K_RESUME=null
if [ -n "${SKIP_BROKER:-}" ]; then
  warn "SKIP_BROKER set: the broker is left alone"
elif [ -n "${KAFKA_BROKERS:-}" ] || [ ! -f "$PIDS/broker.pid" ]; then
  warn "the broker is not one make up started (KAFKA_BROKERS set or no broker.pid): left alone"
else
  sleep "$GAP"
  chaos broker "$PIDS/broker.pid"
  K_DOWN=$DOWN_S K_RECOVER=$RECOVER_S K_RESUME=$RESUME_S
fi

# ------------------------------------------------------------------ the verdict
say "waiting for the sale to finish and the simulator's read-back check"
set +e
wait "$sim_pid"
rc=$?
set -e
sim_pid=""
cat "$RUN/sale.out"
[ -s "$RUN/sale.json" ] || die "the simulator wrote no summary (exit $rc); see $RUN/sale.err"

jq -n --slurpfile sale "$RUN/sale.json" --arg event "$EVENT_ID" --argjson rc "$rc" \
  --argjson bd "$B_DOWN" --argjson br "$B_RECOVER" --argjson bs "$B_RESUME" \
  --argjson kd "$K_DOWN" --argjson kr "$K_RECOVER" --argjson ks "$K_RESUME" \
  --argjson users "$USERS" --argjson seats "$SEATS" --argjson rate "$RATE" --argjson outage "$OUTAGE" '{
    event_id: $event, users: $users, seats: $seats, rate: $rate, outage_seconds: $outage,
    booking: {down_seconds: $bd, recovery_seconds: $br, sales_resumed_after_seconds: $bs},
    broker: {down_seconds: $kd, recovery_seconds: $kr, sales_resumed_after_seconds: $ks},
    confirmed: $sale[0].confirmed, oversold: $sale[0].oversold, duplicates: $sale[0].duplicates,
    errors_5xx: $sale[0].errors_5xx, invariants_ok: $sale[0].invariants_ok, simulator_exit: $rc
  }' >"$EVENTLY_STATE/chaos.json"

jq -r '"
Chaos summary (\(.users) fans, \(.seats) seats, \(.rate) purchases/s, each outage \(.outage_seconds) s)
  booking processor  down \(.booking.down_seconds) s   recovery \(.booking.recovery_seconds) s   sales resumed after \(.booking.sales_resumed_after_seconds) s
  broker             down \(.broker.down_seconds // "-") s   recovery \(.broker.recovery_seconds // "-") s   sales resumed after \(.broker.sales_resumed_after_seconds // "-") s
  confirmed bookings \(.confirmed)
  oversold           \(.oversold)
  duplicates         \(.duplicates)
  invariants ok      \(.invariants_ok)   (includes: every booking confirmed to a client is present)
  5xx during chaos   \(.errors_5xx)   (refused while a component was down; never accepted, never lost)"' "$EVENTLY_STATE/chaos.json"

if [ "$rc" -eq 0 ] && [ "$(jq -r '.oversold + .duplicates' "$EVENTLY_STATE/chaos.json")" = 0 ] \
  && [ "$(jq -r .invariants_ok "$EVENTLY_STATE/chaos.json")" = true ]; then
  ok "zero oversell, zero duplicates, no confirmed booking lost ($EVENTLY_STATE/chaos.json)"
else
  die "invariants violated or the simulator failed (exit $rc): see $RUN/sale.out and $EVENTLY_STATE/chaos.json"
fi
