#!/usr/bin/env bash
# The local Evently stack without Docker: a private PostgreSQL cluster, the
# tansu Kafka-protocol broker (log in SQLite), an SMTP catcher, and the six
# services — each started only if it is not already running, each recorded by
# pid under .evently/pids so `down` stops exactly what `up` started.
#
#   scripts/stack.sh infra    PostgreSQL + broker + SMTP catcher (what tests need)
#   scripts/stack.sh up       infra + release build + the six services, waits for health
#   scripts/stack.sh down     stop everything this script started
#   scripts/stack.sh status   what runs, what is down
#   scripts/stack.sh env      print the environment the services and tests use
#
# Any component is replaced by a real server through its variable:
# DATABASE_URL, KAFKA_BROKERS, SMTP_URL (and MONGODB_URI for the event service).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.evently"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
mkdir -p "$PIDS" "$LOGS"

GATEWAY_PORT="${GATEWAY_PORT:-8080}"
AUTH_PORT="${AUTH_PORT:-8081}"
EVENT_PORT="${EVENT_PORT:-8082}"
BOOKING_PORT="${BOOKING_PORT:-8083}"
WAITLIST_PORT="${WAITLIST_PORT:-8084}"
NOTIFICATION_PORT="${NOTIFICATION_PORT:-8085}"
BROKER_PORT="${BROKER_PORT:-9092}"
SMTP_PORT="${SMTP_PORT:-2525}"
PROFILE="${PROFILE:-release}"
# Where the broker keeps its SQLite log. tansu syncs it on every produce, so a
# slow disk bounds the whole booking path; BROKER_DIR=/dev/shm/evently-broker
# keeps it in memory (survives broker restarts, not machine reboots).
BROKER_DIR="${BROKER_DIR:-$STATE/broker}"
# tansu answers every fetch by querying each requested partition in turn
# (several SQLite queries apiece), and the services' consumers poll all the
# time: with 12 partitions an idle stack kept the broker at 100% of a core and
# a consumed hop cost ~90 ms. The local stack runs one instance of each
# service, so its topics get one partition (idle broker 43% -> 28% of a core
# against 2); docker-compose and k8s (Apache Kafka, scaled out) keep 12.
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-1}"
SERVICES=(auth event booking waitlist notification gateway)

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port what seconds
  local deadline=$((SECONDS + ${3:-60}))
  until port_open "$1"; do
    [ $SECONDS -lt $deadline ] || die "$2 did not open port $1 within ${3:-60}s (see $LOGS)"
    sleep 0.2
  done
}

running() { # name -> 0 if its recorded pid is alive
  local f="$PIDS/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

free_port() { # first free port from $1
  local p=$1
  while port_open "$p"; do p=$((p + 1)); done
  echo "$p"
}

# ---------------------------------------------------------------- PostgreSQL
pg_bindir() {
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  return 1
}

ensure_postgres_binaries() {
  pg_bindir >/dev/null && return
  log "installing PostgreSQL (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bindir >/dev/null || die "PostgreSQL binaries not found after install"
}

# PostgreSQL refuses to run as root; run its binaries as the postgres user then.
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then log "PostgreSQL: using DATABASE_URL"; return; fi
  local data="$STATE/pg/data" bin port
  ensure_postgres_binaries
  bin=$(pg_bindir)
  if [ -f "$STATE/pg/port" ] && pg_run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL: already running on port $(cat "$STATE/pg/port")"
    return
  fi
  mkdir -p "$STATE/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$STATE/pg"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "PostgreSQL: creating a private cluster in $data"
    pg_run "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$LOGS/initdb.log" 2>&1 \
      || die "initdb failed (see $LOGS/initdb.log)"
  fi
  port=$(free_port "${PG_PORT:-55432}")
  echo "$port" >"$STATE/pg/port"
  log "PostgreSQL: starting on 127.0.0.1:$port"
  # Durability is traded for speed only in this throwaway dev cluster.
  pg_run "$bin/pg_ctl" -D "$data" -l "$STATE/pg/postgres.log" -w -t 60 start \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB -c synchronous_commit=off" \
    >/dev/null || die "PostgreSQL did not start (see $STATE/pg/postgres.log)"
}

stop_postgres() {
  [ -n "${DATABASE_URL:-}" ] && return
  local bin data="$STATE/pg/data"
  [ -f "$data/PG_VERSION" ] || return 0
  bin=$(pg_bindir) || return 0
  if pg_run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL: stopping"
    pg_run "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
  fi
}

database_url() {
  if [ -n "${DATABASE_URL:-}" ]; then echo "$DATABASE_URL"; else echo "postgres://postgres@127.0.0.1:$(cat "$STATE/pg/port")/postgres"; fi
}

# ---------------------------------------------------------------- broker
tansu_bin() {
  command -v tansu 2>/dev/null && return
  [ -x "$HOME/.cargo/bin/tansu" ] && { echo "$HOME/.cargo/bin/tansu"; return; }
  return 1
}

ensure_tansu() {
  tansu_bin >/dev/null && return
  log "installing the tansu broker (cargo install, ~10 minutes on 2 cores)"
  cargo install --locked tansu --version 0.6.0 --features libsql >"$LOGS/tansu-install.log" 2>&1 \
    || die "cargo install tansu failed (see $LOGS/tansu-install.log)"
}

start_broker() {
  if [ -n "${KAFKA_BROKERS:-}" ]; then log "broker: using KAFKA_BROKERS=$KAFKA_BROKERS"; return; fi
  if running broker; then log "broker: already running on 127.0.0.1:$BROKER_PORT"; ensure_broker_supervisor; return; fi
  port_open "$BROKER_PORT" && die "port $BROKER_PORT is taken by something else; set BROKER_PORT or KAFKA_BROKERS"
  ensure_tansu
  mkdir -p "$BROKER_DIR"
  local fresh=1
  if [ -f "$BROKER_DIR/tansu.db" ]; then
    fresh=0
    # Offline, before the broker holds the file: on a large log this takes a while.
    python3 "$ROOT/scripts/tansu_index.py" "$BROKER_DIR/tansu.db" || die "indexing the broker's log failed"
  fi
  log "broker: starting tansu on 127.0.0.1:$BROKER_PORT (log in $BROKER_DIR/tansu.db)"
  # tansu reads the sqlite path relative to its working directory (BROKER.md).
  local bin
  bin=$(tansu_bin)
  # The services' RUST_LOG is not the broker's: tansu at info writes a line per
  # request, gigabytes in a sale, and spends most of its CPU formatting them.
  (cd "$BROKER_DIR" && RUST_LOG="${BROKER_LOG:-warn}" exec "$bin" broker \
      --listener-url "tcp://127.0.0.1:$BROKER_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" \
      --storage-engine "sqlite://tansu.db" </dev/null >>"$LOGS/broker.log" 2>&1) &
  echo $! >"$PIDS/broker.pid"
  wait_port "$BROKER_PORT" broker 60
  # tansu created its schema before listening; no client has written yet.
  if [ "$fresh" = 1 ]; then
    python3 "$ROOT/scripts/tansu_index.py" "$BROKER_DIR/tansu.db" || die "indexing the broker's log failed"
  fi
  ensure_broker_supervisor
}

ensure_broker_supervisor() {
  running broker-supervisor && return
  nohup "$ROOT/scripts/stack.sh" supervise-broker </dev/null >>"$LOGS/broker-supervisor.log" 2>&1 &
  echo $! >"$PIDS/broker-supervisor.pid"
}

# tansu 0.6.0's SQLite storage task can panic ("more or less than one row");
# the process then keeps its port but answers nothing that needs storage.
# Restart it when it stops answering metadata requests; acknowledged messages
# are in the SQLite file, and clients reconnect by themselves. A broker that
# was killed is left down (that is what `make status` should show).
cmd_supervise_broker() {
  local misses=0
  while running broker; do
    sleep 5
    if python3 "$ROOT/scripts/kafka_check.py" "127.0.0.1:$BROKER_PORT" 10; then
      misses=0
    else
      misses=$((misses + 1))
    fi
    # A loaded machine can delay an answer; only a minute of silence means dead storage.
    if [ "$misses" -ge 4 ]; then
      log "$(date -u +%FT%TZ) broker stopped answering; restarting it"
      cp "$LOGS/broker.log" "$LOGS/broker-$(date +%s).log" 2>/dev/null || true
      local pid
      pid=$(cat "$PIDS/broker.pid")
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
      (start_broker) || log "restart failed"
      misses=0
    fi
  done
}

brokers() { echo "${KAFKA_BROKERS:-127.0.0.1:$BROKER_PORT}"; }

# ---------------------------------------------------------------- SMTP catcher
start_smtp() {
  if [ -n "${SMTP_URL:-}" ]; then log "SMTP: using SMTP_URL"; return; fi
  if running smtp; then log "SMTP: already running on 127.0.0.1:$SMTP_PORT"; return; fi
  port_open "$SMTP_PORT" && die "port $SMTP_PORT is taken; set SMTP_PORT or SMTP_URL"
  # The workspace's own catcher (crates/smtp-catcher): a 10,000-user sale sends
  # 10,000 mails, and the Python catcher used before cost a quarter of a core.
  log "SMTP: building the catcher (cargo build --profile $PROFILE -p smtp-catcher)"
  (cd "$ROOT" && cargo build --profile "$PROFILE" -p smtp-catcher --quiet) || die "building smtp-catcher failed"
  mkdir -p "$STATE/mail"
  log "SMTP: catcher on 127.0.0.1:$SMTP_PORT, mail kept in $STATE/mail"
  # Recipients containing "fail" are refused (550), to exercise retries and the dead-letter queue.
  nohup "$ROOT/target/$PROFILE/smtp-catcher" --listen "127.0.0.1:$SMTP_PORT" --dir "$STATE/mail" --reject fail \
    </dev/null >>"$LOGS/smtp.log" 2>&1 &
  echo $! >"$PIDS/smtp.pid"
  wait_port "$SMTP_PORT" "SMTP catcher" 30
}

smtp_url() { echo "${SMTP_URL:-smtp://127.0.0.1:$SMTP_PORT}"; }

# ---------------------------------------------------------------- services
internal_token() {
  [ -f "$STATE/internal-token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/internal-token"
  cat "$STATE/internal-token"
}

write_env() {
  cat >"$STATE/env" <<ENV
export DATABASE_URL='$(database_url)'
export KAFKA_BROKERS='$(brokers)'
export SMTP_URL='$(smtp_url)'
ENV
}

service_port() {
  case $1 in
    gateway) echo "$GATEWAY_PORT" ;; auth) echo "$AUTH_PORT" ;; event) echo "$EVENT_PORT" ;;
    booking) echo "$BOOKING_PORT" ;; waitlist) echo "$WAITLIST_PORT" ;; notification) echo "$NOTIFICATION_PORT" ;;
  esac
}

build_services() {
  log "building release binaries (cargo build --profile $PROFILE)"
  (cd "$ROOT" && cargo build --profile "$PROFILE" --bins --quiet) || die "build failed"
}

start_service() {
  local name=$1 port upper bin
  port=$(service_port "$name")
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  if running "$name"; then log "$name: already running on :$port"; return; fi
  port_open "$port" && die "port $port (for $name) is taken by something else"
  bin="$ROOT/target/$PROFILE/$name-service"
  [ -x "$bin" ] || die "$bin is missing (build failed?)"
  log "$name: starting on 127.0.0.1:$port"
  (
    cd "$ROOT"
    export DATABASE_URL="$(database_url)" KAFKA_BROKERS="$(brokers)" SMTP_URL="$(smtp_url)"
    export KAFKA_PARTITIONS="$KAFKA_PARTITIONS"
    # A restarted processor rejoins as the same static group member and takes
    # its partitions straight back (tansu left a replacing dynamic member
    # without partitions; see docs/booking.md).
    [ "$name" = booking ] && export BOOKING__BOOKING__PROCESSOR_INSTANCE_ID="${BOOKING__BOOKING__PROCESSOR_INSTANCE_ID:-booking-local-$port}"
    export "${upper}__HTTP__PORT=$port"
    # The service credential for booking's /internal endpoints (never exposed by the gateway).
    export BOOKING__INTERNAL_TOKEN="$(internal_token)" NOTIFICATION__INTERNAL_TOKEN="$(internal_token)"
    export JWKS_URL="http://127.0.0.1:$AUTH_PORT/.well-known/jwks.json"
    export GATEWAY__UPSTREAMS__AUTH="http://127.0.0.1:$AUTH_PORT" GATEWAY__UPSTREAMS__EVENT="http://127.0.0.1:$EVENT_PORT" \
      GATEWAY__UPSTREAMS__BOOKING="http://127.0.0.1:$BOOKING_PORT" GATEWAY__UPSTREAMS__WAITLIST="http://127.0.0.1:$WAITLIST_PORT" \
      GATEWAY__UPSTREAMS__NOTIFICATION="http://127.0.0.1:$NOTIFICATION_PORT"
    export WAITLIST__BOOKING_URL="http://127.0.0.1:$BOOKING_PORT" NOTIFICATION__BOOKING_URL="http://127.0.0.1:$BOOKING_PORT"
    export NOTIFICATION__PUBLIC_URL="${NOTIFICATION__PUBLIC_URL:-http://127.0.0.1:$GATEWAY_PORT}"
    # A local-only admin so the demo and the topic dashboard work out of the box.
    export AUTH__BOOTSTRAP_ADMIN_EMAIL="${AUTH__BOOTSTRAP_ADMIN_EMAIL:-admin@evently.local}"
    export AUTH__BOOTSTRAP_ADMIN_PASSWORD="${AUTH__BOOTSTRAP_ADMIN_PASSWORD:-evently-admin-2026}"
    export AUTH__SIGNING_KEY_FILE="$STATE/auth-signing-key.pem"
    # The load simulator registers thousands of users: a cheap hash in the
    # local stack only (AUTH__PASSWORD_HASH_COST=owasp restores the real one).
    export AUTH__PASSWORD_HASH_COST="${AUTH__PASSWORD_HASH_COST:-dev-fast}"
    nohup "$bin" </dev/null >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$PIDS/$name.pid"
  )
}

wait_healthy() {
  local deadline=$((SECONDS + ${1:-120})) url="http://127.0.0.1:$GATEWAY_PORT/health"
  log "waiting for $url to report every service up"
  until curl -fsS "$url" >/dev/null 2>&1; do
    for s in "${SERVICES[@]}"; do
      running "$s" || die "$s exited during start-up; last lines of $LOGS/$s.log:
$(tail -n 5 "$LOGS/$s.log" 2>/dev/null)"
    done
    [ $SECONDS -lt $deadline ] || { curl -sS "$url" || true; echo; die "not healthy within ${1:-120}s (see $LOGS)"; }
    sleep 0.5
  done
}

stop_pid() { # name
  local f="$PIDS/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    log "$1: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------- commands
cmd_infra() {
  start_postgres
  start_broker
  start_smtp
  write_env
}

cmd_up() {
  cmd_infra
  build_services
  for s in "${SERVICES[@]}"; do start_service "$s"; done
  wait_healthy 180
  if [ -x "$ROOT/demo-scripts/setup-demo.sh" ] && [ -z "${NO_SEED:-}" ]; then
    EVENTLY_GATEWAY="http://127.0.0.1:$GATEWAY_PORT" "$ROOT/demo-scripts/setup-demo.sh" --seed-only || log "demo seed failed (the stack is up)"
  fi
  cat <<MSG

Evently is up.
  Gateway        http://127.0.0.1:$GATEWAY_PORT   (health: /health, API: /api/v1/..., monitor: /monitor)
  Services       auth :$AUTH_PORT  event :$EVENT_PORT  booking :$BOOKING_PORT  waitlist :$WAITLIST_PORT  notification :$NOTIFICATION_PORT
  PostgreSQL     $(database_url)
  Broker         $(brokers)      (make tail TOPIC=booking.create)
  SMTP catcher   $(smtp_url)    (mail in $STATE/mail)
  Logs           $LOGS           (make logs)
MSG
}

cmd_down() {
  for s in gateway notification waitlist booking event auth; do stop_pid "$s"; done
  stop_pid smtp
  stop_pid broker-supervisor
  stop_pid broker
  stop_postgres
}

cmd_status() {
  local name state
  printf '%-14s %-8s %s\n' COMPONENT STATE WHERE
  if [ -n "${DATABASE_URL:-}" ]; then
    printf '%-14s %-8s %s\n' postgres external "$DATABASE_URL"
  elif [ -f "$STATE/pg/port" ] && port_open "$(cat "$STATE/pg/port")"; then
    printf '%-14s %-8s %s\n' postgres up "127.0.0.1:$(cat "$STATE/pg/port")"
  else
    printf '%-14s %-8s\n' postgres down
  fi
  for name in broker smtp "${SERVICES[@]}"; do
    if running "$name"; then state=up; else state=down; fi
    case $name in
      broker) printf '%-14s %-8s %s\n' broker "$state" "$(brokers)" ;;
      smtp) printf '%-14s %-8s %s\n' smtp "$state" "$(smtp_url)" ;;
      *) printf '%-14s %-8s %s\n' "$name" "$state" "http://127.0.0.1:$(service_port "$name")" ;;
    esac
  done
}

case "${1:-}" in
  infra) cmd_infra ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) write_env; cat "$STATE/env" ;;
  supervise-broker) cmd_supervise_broker ;;
  *) echo "usage: $0 infra|up|down|status|env" >&2; exit 2 ;;
esac
