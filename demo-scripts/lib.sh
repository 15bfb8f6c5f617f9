# Shared by the demo scripts: where the gateway is, how to bring the local stack
# up, where the load simulator is. Source it; do not run it.
# shellcheck shell=bash

DEMO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this
EVENTLY_STATE="$DEMO_ROOT/.evently"
GATEWAY="${EVENTLY_GATEWAY:-http://127.0.0.1:8080}"
GATEWAY="${GATEWAY%/}"
API="$GATEWAY/api/v1"

if [ -t 2 ]; then B=$'\033[1m' G=$'\033[32m' R=$'\033[31m' Y=$'\033[33m' N=$'\033[0m'; else B='' G='' R='' Y='' N=''; fi
say() { printf '%s==>%s %s\n' "$B" "$N" "$*" >&2; }
ok() { printf '%s ok %s %s\n' "$G" "$N" "$*" >&2; }
warn() { printf '%swarn%s %s\n' "$Y" "$N" "$*" >&2; }
die() { printf '%serror:%s %s\n' "$R" "$N" "$*" >&2; exit 1; }

need() { # command [hint]
  command -v "$1" >/dev/null 2>&1 || die "$1 is needed${2:+ ($2)}"
}

now_ms() { date +%s%3N; }
secs_since() { # start_ms -> seconds with one decimal
  awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'
}

gateway_healthy() { curl -fsS -m 3 "$GATEWAY/health" >/dev/null 2>&1; }

# The status one service has in the gateway's /health ("up", "down", or "unknown").
service_status() {
  curl -sS -m 3 "$GATEWAY/health" 2>/dev/null | jq -r --arg s "$1" '.services[$s].status // "unknown"' 2>/dev/null \
    || echo unknown
}

# Start the local stack the way the lead's Makefile does; `make up` restarts only
# what is down. Falls back to the script behind it when there is no Makefile.
stack() { # up|down|status
  if [ -f "$DEMO_ROOT/Makefile" ] && grep -q "^$1:" "$DEMO_ROOT/Makefile"; then
    make -C "$DEMO_ROOT" --no-print-directory "$1"
  elif [ -x "$DEMO_ROOT/scripts/stack.sh" ]; then
    "$DEMO_ROOT/scripts/stack.sh" "$1"
  else
    die "no way to run '$1': neither 'make $1' nor scripts/stack.sh exists"
  fi
}

ensure_stack() {
  gateway_healthy && return 0
  case "$GATEWAY" in
    http://127.0.0.1:*|http://localhost:*) ;;
    *) die "the gateway at $GATEWAY is not healthy, and it is not the local stack I could start" ;;
  esac
  say "gateway at $GATEWAY is not healthy: starting the local stack (make up)"
  NO_SEED=1 stack up
  gateway_healthy || die "the stack started but $GATEWAY/health is not healthy"
}

# The load simulator: LOAD_SIMULATOR when set, else the release binary (built
# now when missing or older than its sources).
load_simulator() {
  if [ -n "${LOAD_SIMULATOR:-}" ]; then
    [ -x "$LOAD_SIMULATOR" ] || die "LOAD_SIMULATOR=$LOAD_SIMULATOR is not an executable"
    echo "$LOAD_SIMULATOR"
    return
  fi
  local bin="$DEMO_ROOT/target/release/load-simulator"
  if [ ! -x "$bin" ] || [ -n "$(find "$DEMO_ROOT/load-simulator/src" -newer "$bin" -name '*.rs' 2>/dev/null | head -n 1)" ]; then
    say "building the load simulator (cargo build --release -p load-simulator)"
    (cd "$DEMO_ROOT" && cargo build --release --quiet -p load-simulator) || die "building the load simulator failed"
  fi
  echo "$bin"
}

# JSON over HTTP, without a subshell so the results stay visible:
# sets BODY (the response body) and HTTP_STATUS.
BODY='' HTTP_STATUS=0
call() { # method path [json] [token]
  local method=$1 path=$2 body=${3:-} token=${4:-} out
  local args=(-sS -m 30 -X "$method" -H 'Accept: application/json' -w '\n%{http_code}')
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
  [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
  out=$(curl "${args[@]}" "$API$path") || die "$method $path: no answer from $GATEWAY"
  HTTP_STATUS=${out##*$'\n'}
  BODY=${out%$'\n'*}
}

expect() { # what statuses... (checks the last call)
  local what=$1 s
  shift
  for s in "$@"; do [ "$HTTP_STATUS" = "$s" ] && return 0; done
  die "$what: HTTP $HTTP_STATUS: $(printf '%s' "$BODY" | jq -c '{type, detail}' 2>/dev/null || printf '%s' "$BODY" | head -c 300)"
}
