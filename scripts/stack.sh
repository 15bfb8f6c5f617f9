#!/usr/bin/env bash
# The local Evently stack without Docker: a private PostgreSQL cluster, Apache
# Kafka (one KRaft node from Maven Central's jars), FerretDB as the event
# service's MongoDB server, Mailpit (mail), Jaeger (traces), and the six services — each
# started only if it is not already running, each recorded by pid under
# .evently/pids so `down` stops exactly what `up` started.
#
#   scripts/stack.sh infra    PostgreSQL + Kafka + FerretDB + Mailpit + Jaeger (what tests need)
#   scripts/stack.sh up       infra + release build + the six services, waits for health
#   scripts/stack.sh down     stop everything this script started
#   scripts/stack.sh status   what runs, what is down
#   scripts/stack.sh env      print the environment the services and tests use
#   scripts/stack.sh kafka-class CLASS ARGS...
#                             run one of Kafka's own tools from the fetched jars, e.g.
#                             org.apache.kafka.tools.consumer.ConsoleConsumer
#
# Any component is replaced by a real server through its variable:
# DATABASE_URL, KAFKA_BROKERS, MONGODB_URI, SMTP_URL (with MAILPIT_URL for the
# tests' mail API), OTLP_ENDPOINT (empty: no trace export).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.evently"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
mkdir -p "$PIDS" "$LOGS"

# The ports a running stack was started with stay its ports: `make test` or
# `make status` after `BROKER_PORT=19092 make infra` must not fall back to the
# defaults. A variable set in the environment still wins; `down` forgets them.
PORT_VARS=(GATEWAY_PORT AUTH_PORT EVENT_PORT BOOKING_PORT WAITLIST_PORT NOTIFICATION_PORT BROKER_PORT
           KAFKA_CONTROLLER_PORT SMTP_PORT MONGO_PORT MAILPIT_UI_PORT JAEGER_UI_PORT JAEGER_OTLP_PORT
           JAEGER_QUERY_GRPC_PORT)
PORTS_FILE="$STATE/ports"
if [ -f "$PORTS_FILE" ]; then
  while IFS='=' read -r name value; do
    [[ " ${PORT_VARS[*]} " == *" $name "* ]] && [ -z "${!name:-}" ] && printf -v "$name" '%s' "$value"
  done <"$PORTS_FILE"
fi
remember_ports() {
  local name
  for name in "${PORT_VARS[@]}"; do echo "$name=${!name}"; done >"$PORTS_FILE"
}

GATEWAY_PORT="${GATEWAY_PORT:-8080}"
AUTH_PORT="${AUTH_PORT:-8081}"
EVENT_PORT="${EVENT_PORT:-8082}"
BOOKING_PORT="${BOOKING_PORT:-8083}"
WAITLIST_PORT="${WAITLIST_PORT:-8084}"
NOTIFICATION_PORT="${NOTIFICATION_PORT:-8085}"
BROKER_PORT="${BROKER_PORT:-9092}"
SMTP_PORT="${SMTP_PORT:-2525}"
PROFILE="${PROFILE:-release}"
MONGO_PORT="${MONGO_PORT:-27017}"
# The design's default partition count: the same topic shape as production,
# so a second booking instance started by hand takes half the partitions.
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-12}"
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

alive() { # pid
  kill -0 "$1" 2>/dev/null || return 1
  # A process killed with -9 whose parent is gone stays a zombie where nothing
  # reaps orphans (some containers): it answers kill -0 but is dead.
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

running() { # name -> 0 if its recorded pid is alive
  local f="$PIDS/$1.pid"
  [ -f "$f" ] && alive "$(cat "$f")"
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
  # Durable commits (the default): the figures measured on this cluster must hold in production.
  pg_run "$bin/pg_ctl" -D "$data" -l "$STATE/pg/postgres.log" -w -t 60 start \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB" \
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

# ---------------------------------------------------------------- Apache Kafka
# The jars come from Maven Central through deploy/kafka-local/pom.xml (the one
# place the version is pinned); Maven's own cache keeps them across machines'
# sessions, .evently/kafka/lib across `make down`/`make up`.
kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/kafka-local/pom.xml"
}

KAFKA_LIB="$STATE/kafka/lib"

ensure_kafka_jars() {
  local version stamp="$KAFKA_LIB/.version"
  version=$(kafka_version)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && return
  command -v java >/dev/null || die "java (17+) is needed for Apache Kafka: apt-get install openjdk-17-jre-headless"
  command -v mvn >/dev/null || die "mvn is needed to fetch Apache Kafka's jars: apt-get install maven"
  log "Kafka: fetching Apache Kafka $version from Maven Central (once)"
  rm -rf "$KAFKA_LIB"
  mkdir -p "$KAFKA_LIB"
  mvn -q -B -f "$ROOT/deploy/kafka-local/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$KAFKA_LIB" >"$LOGS/kafka-fetch.log" 2>&1 \
    || die "fetching Kafka's jars failed (see $LOGS/kafka-fetch.log)"
  echo "$version" >"$stamp"
}

# java with the broker's classpath; the tools (console consumer, perf test,
# topic command) run through this too: scripts/stack.sh kafka-class CLASS ARGS.
kafka_java() {
  java -Dlog4j2.configurationFile="$ROOT/deploy/kafka-local/log4j2.properties" -cp "$KAFKA_LIB/*" "$@"
}

KAFKA_DIR="${KAFKA_DIR:-$STATE/kafka}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
# Kafka's own script gives the broker 1 GB; the whole stack shares two cores
# and the broker's page cache does the heavy lifting, so less is plenty.
KAFKA_HEAP="${KAFKA_HEAP:-512m}"

write_kafka_config() {
  cat >"$KAFKA_DIR/server.properties" <<PROPS
# Written by scripts/stack.sh: one combined KRaft broker+controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
# The services create the topics they produce to; a typo must not make one.
auto.create.topics.enable=false
num.partitions=$KAFKA_PARTITIONS
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# One node: no one else to wait for before the first group rebalance.
group.initial.rebalance.delay.ms=0
# A restarted node's new registration is refused until its previous
# incarnation's session lapses (9 s by default): after a kill -9 that was most
# of the broker's restart time. On one node nobody else can take over anyway.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
# Unclean-shutdown recovery of the logs, one thread per core.
num.recovery.threads.per.data.dir=2
# The test suite creates topics by the thousand; keep a week, not forever.
log.retention.hours=168
PROPS
}

start_broker() {
  if [ -n "${KAFKA_BROKERS:-}" ]; then log "Kafka: using KAFKA_BROKERS=$KAFKA_BROKERS"; return; fi
  if running broker; then log "Kafka: already running on 127.0.0.1:$BROKER_PORT"; return; fi
  port_open "$BROKER_PORT" && die "port $BROKER_PORT is taken by something else; set BROKER_PORT or KAFKA_BROKERS"
  ensure_kafka_jars
  mkdir -p "$KAFKA_DIR/data"
  write_kafka_config
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    log "Kafka: formatting KRaft storage in $KAFKA_DIR/data"
    kafka_java kafka.tools.StorageTool format --standalone --ignore-formatted \
        -t "$(kafka_java kafka.tools.StorageTool random-uuid)" -c "$KAFKA_DIR/server.properties" \
        >"$LOGS/kafka-format.log" 2>&1 || die "formatting Kafka's storage failed (see $LOGS/kafka-format.log)"
  fi
  log "Kafka: starting Apache Kafka $(kafka_version) on 127.0.0.1:$BROKER_PORT (log in $KAFKA_DIR/data)"
  # Kafka's own JVM defaults (kafka-run-class.sh), with a smaller heap.
  nohup java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$ROOT/deploy/kafka-local/log4j2.properties" \
      -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties" </dev/null >>"$LOGS/broker.log" 2>&1 &
  echo $! >"$PIDS/broker.pid"
  wait_port "$BROKER_PORT" Kafka 120
}

brokers() { echo "${KAFKA_BROKERS:-127.0.0.1:$BROKER_PORT}"; }

# Every test creates its own topics (prefix t<12 hex>., test-support). Left
# behind they make the broker's log hundreds of partitions per `make test`,
# and a broker killed with -9 recovers every one of them before it serves
# (1,215 logs took 11 s), so `make test` drops them before and after.
cmd_drop_test_topics() {
  [ -n "${KAFKA_BROKERS:-}" ] && return 0
  running broker || return 0
  ensure_kafka_jars
  local pattern='t[0-9a-f]{12}\..*'
  if kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$(brokers)" --list \
      | grep -Eq "^$pattern$"; then
    log "Kafka: deleting the topics earlier test runs left"
    kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$(brokers)" \
      --delete --topic "$pattern" >/dev/null || log "deleting test topics failed (harmless)"
  fi
}

# ---------------------------------------------------------------- Go programs
# FerretDB, Mailpit and Jaeger come from the Go module proxy as source and are
# built once into .evently/bin. Each is built inside a writable copy of its own
# module, not with `go install …@version`: FerretDB needs a release-time file
# added, Mailpit its web UI bundled, and Jaeger's go.mod has a replace
# directive, which `go install` refuses outside the main module.
# 0 when BIN still has to be built (and Go is there to build it), 1 when it exists.
go_program_missing() { # title binary version duration
  [ -x "$2" ] && return 1
  command -v go >/dev/null || die "Go (1.24+) is needed to build $1"
  log "$1: building $3 from the Go module proxy (once, $4)"
}

go_module_copy() { # name module@version dir
  local src
  src=$(go mod download -json "$2" 2>>"$LOGS/$1-build.log" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') \
    || die "downloading $1 failed (see $LOGS/$1-build.log)"
  rm -rf "$3"
  mkdir -p "$(dirname "$3")"
  cp -r "$src" "$3"
  chmod -R u+w "$3"
}

go_build_in() { # name dir binary package [go build flags...]
  local name=$1 dir=$2 bin=$3 package=$4
  shift 4
  mkdir -p "$(dirname "$bin")"
  (cd "$dir" && go build "$@" -o "$bin" "$package") >>"$LOGS/$name-build.log" 2>&1 \
    || die "building $name failed (see $LOGS/$name-build.log)"
  rm -rf "$dir"
}

# ---------------------------------------------------------------- FerretDB
# The event service's MongoDB server: FerretDB on the private PostgreSQL
# cluster (its own database, `ferretdb`). PostgreSQL rather than SQLite: it is
# FerretDB's main backend, and the stack already runs, backs up and tunes one
# server rather than two storage engines.
FERRETDB_VERSION=v1.24.2
FERRETDB_BIN="${FERRETDB_BIN:-$STATE/bin/ferretdb-$FERRETDB_VERSION}"

ensure_ferretdb() {
  go_program_missing FerretDB "$FERRETDB_BIN" "$FERRETDB_VERSION" "~2 minutes" || return 0
  # Its version comes from build/version/version.txt, which only FerretDB's
  # own release build writes; without it the binary panics at start.
  local dir="$STATE/build/ferretdb-src"
  go_module_copy ferretdb "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" "$dir"
  echo "$FERRETDB_VERSION" >"$dir/build/version/version.txt"
  go_build_in ferretdb "$dir" "$FERRETDB_BIN" ./cmd/ferretdb
}

start_ferretdb() {
  if [ -n "${MONGODB_URI:-}" ]; then log "MongoDB: using MONGODB_URI"; return; fi
  if running ferretdb; then log "FerretDB: already running on 127.0.0.1:$MONGO_PORT"; return; fi
  port_open "$MONGO_PORT" && die "port $MONGO_PORT is taken by something else; set MONGO_PORT or MONGODB_URI"
  ensure_ferretdb
  local pg_url
  pg_url=$(database_url)
  psql "$pg_url" -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'" | grep -q 1 \
    || psql "$pg_url" -qc "CREATE DATABASE ferretdb ENCODING 'UTF8'" >/dev/null \
    || die "cannot create the ferretdb database"
  mkdir -p "$STATE/ferretdb"
  log "FerretDB: starting on 127.0.0.1:$MONGO_PORT (PostgreSQL database ferretdb)"
  nohup "$FERRETDB_BIN" --handler=pg --postgresql-url="${pg_url%/*}/ferretdb" \
      --listen-addr="127.0.0.1:$MONGO_PORT" --state-dir="$STATE/ferretdb" \
      --debug-addr=- --telemetry=disable --log-level="${FERRETDB_LOG:-warn}" \
      </dev/null >>"$LOGS/ferretdb.log" 2>&1 &
  echo $! >"$PIDS/ferretdb.pid"
  wait_port "$MONGO_PORT" FerretDB 60
}

mongodb_uri() { echo "${MONGODB_URI:-mongodb://127.0.0.1:$MONGO_PORT}"; }

# ---------------------------------------------------------------- Mailpit
# The SMTP catcher with a web UI and an HTTP API (tests read mail through it).
# Built once from the Go module proxy. The module carries no web UI: Mailpit's
# release build bundles it (server/ui/dist) with npm and esbuild first, so this
# does the same in a copy of the module, from deploy/mailpit/ (the build deps,
# locked). Without npm the binary still serves SMTP and the API.
MAILPIT_VERSION=v1.33.1
MAILPIT_BIN="${MAILPIT_BIN:-$STATE/bin/mailpit-$MAILPIT_VERSION}"
MAILPIT_UI_PORT="${MAILPIT_UI_PORT:-8025}"
# Recipients containing "fail" (any case) are refused with 550, to exercise
# retries and the dead-letter queue. Go's regexp has no look-ahead: this is
# "does not contain fail" spelled out as the automaton's loops.
MAILPIT_ALLOWED_RECIPIENTS='^(?i:([^f]|f(f|af|aif)*([^af]|a[^fi]|ai[^fl]))*(f(f|af|aif)*(a|ai)?)?)$'

ensure_mailpit() {
  go_program_missing Mailpit "$MAILPIT_BIN" "$MAILPIT_VERSION" "~2 minutes" || return 0
  local dir="$STATE/build/mailpit-src" blog="$LOGS/mailpit-build.log"
  go_module_copy mailpit "github.com/axllent/mailpit@$MAILPIT_VERSION" "$dir"
  if command -v npm >/dev/null; then
    # `npm install` with the lock (not `npm ci`): the registry here lacks some of
    # sass-embedded's optional per-platform packages, which `npm ci` insists on.
    cp "$ROOT/deploy/mailpit/package.json" "$ROOT/deploy/mailpit/package-lock.json" \
       "$ROOT/deploy/mailpit/esbuild.config.mjs" "$dir/"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error && MINIFY=true node esbuild.config.mjs) >>"$blog" 2>&1 \
      || log "Mailpit: building its web UI failed (see $blog); SMTP and the API work without it"
  else
    log "Mailpit: no npm, so no web UI (SMTP and the API work): apt-get install npm"
  fi
  go_build_in mailpit "$dir" "$MAILPIT_BIN" . -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=$MAILPIT_VERSION"
}

start_smtp() {
  if [ -n "${SMTP_URL:-}" ]; then log "SMTP: using SMTP_URL"; return; fi
  if running smtp; then log "Mailpit: already running (SMTP 127.0.0.1:$SMTP_PORT, UI $(mailpit_url))"; return; fi
  port_open "$SMTP_PORT" && die "port $SMTP_PORT is taken; set SMTP_PORT or SMTP_URL"
  port_open "$MAILPIT_UI_PORT" && die "port $MAILPIT_UI_PORT is taken; set MAILPIT_UI_PORT"
  ensure_mailpit
  mkdir -p "$STATE/mailpit"
  log "Mailpit: SMTP on 127.0.0.1:$SMTP_PORT, web UI and API on $(mailpit_url)"
  # The last 100,000 mails (a 10,000-user sale sends 10,000), in .evently/mailpit.
  nohup "$MAILPIT_BIN" --smtp "127.0.0.1:$SMTP_PORT" --listen "127.0.0.1:$MAILPIT_UI_PORT" \
      --database "$STATE/mailpit/mailpit.db" --max 100000 --smtp-disable-rdns --disable-version-check \
      --smtp-allowed-recipients "$MAILPIT_ALLOWED_RECIPIENTS" --quiet \
    </dev/null >>"$LOGS/mailpit.log" 2>&1 &
  echo $! >"$PIDS/smtp.pid"
  wait_port "$SMTP_PORT" "Mailpit (SMTP)" 30
  wait_port "$MAILPIT_UI_PORT" "Mailpit (web UI)" 30
}

smtp_url() { echo "${SMTP_URL:-smtp://127.0.0.1:$SMTP_PORT}"; }
mailpit_url() { echo "${MAILPIT_URL:-http://127.0.0.1:$MAILPIT_UI_PORT}"; }

# ---------------------------------------------------------------- Jaeger
# Traces: Jaeger v2 (`cmd/jaeger`), built once from the Go module proxy, with
# OTLP/HTTP ingest, in-memory storage and its query API (deploy/jaeger/config.yaml).
# The module has no UI bundle (the release build embeds jaeger-ui, which no
# package registry serves): the port answers the HTTP API (/api/traces,
# /api/services) and a placeholder page.
JAEGER_VERSION=v1.76.0
JAEGER_BIN="${JAEGER_BIN:-$STATE/bin/jaeger-$JAEGER_VERSION}"
JAEGER_UI_PORT="${JAEGER_UI_PORT:-16686}"
JAEGER_OTLP_PORT="${JAEGER_OTLP_PORT:-4318}"
JAEGER_QUERY_GRPC_PORT="${JAEGER_QUERY_GRPC_PORT:-16685}"

ensure_jaeger() {
  go_program_missing Jaeger "$JAEGER_BIN" "$JAEGER_VERSION" "~5 minutes on two cores" || return 0
  local dir="$STATE/build/jaeger-src"
  go_module_copy jaeger "github.com/jaegertracing/jaeger@$JAEGER_VERSION" "$dir"
  go_build_in jaeger "$dir" "$JAEGER_BIN" ./cmd/jaeger -ldflags "-s -w"
}

start_jaeger() {
  if [ -n "${OTLP_ENDPOINT+set}" ]; then log "Jaeger: using OTLP_ENDPOINT=${OTLP_ENDPOINT:-(none, no export)}"; return; fi
  if running jaeger; then log "Jaeger: already running (UI and API $(jaeger_url))"; return; fi
  port_open "$JAEGER_OTLP_PORT" && die "port $JAEGER_OTLP_PORT is taken; set JAEGER_OTLP_PORT or OTLP_ENDPOINT"
  port_open "$JAEGER_UI_PORT" && die "port $JAEGER_UI_PORT is taken; set JAEGER_UI_PORT"
  ensure_jaeger
  log "Jaeger: OTLP/HTTP on 127.0.0.1:$JAEGER_OTLP_PORT, UI and API on $(jaeger_url)"
  JAEGER_UI_PORT="$JAEGER_UI_PORT" JAEGER_OTLP_PORT="$JAEGER_OTLP_PORT" JAEGER_QUERY_GRPC_PORT="$JAEGER_QUERY_GRPC_PORT" \
    nohup "$JAEGER_BIN" --config "file:$ROOT/deploy/jaeger/config.yaml" \
    </dev/null >>"$LOGS/jaeger.log" 2>&1 &
  echo $! >"$PIDS/jaeger.pid"
  wait_port "$JAEGER_OTLP_PORT" "Jaeger (OTLP)" 60
  wait_port "$JAEGER_UI_PORT" "Jaeger (query)" 60
}

# Where the services send their spans; empty OTLP_ENDPOINT turns export off.
otlp_endpoint() { echo "${OTLP_ENDPOINT-http://127.0.0.1:$JAEGER_OTLP_PORT/v1/traces}"; }
jaeger_url() { echo "http://127.0.0.1:$JAEGER_UI_PORT"; }

# ---------------------------------------------------------------- services
internal_token() {
  [ -f "$STATE/internal-token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/internal-token"
  cat "$STATE/internal-token"
}

write_env() {
  cat >"$STATE/env" <<ENV
export DATABASE_URL='$(database_url)'
export KAFKA_BROKERS='$(brokers)'
export MONGODB_URI='$(mongodb_uri)'
export SMTP_URL='$(smtp_url)'
export MAILPIT_URL='$(mailpit_url)'
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
    export DATABASE_URL="$(database_url)" KAFKA_BROKERS="$(brokers)" SMTP_URL="$(smtp_url)" MONGODB_URI="$(mongodb_uri)"
    export KAFKA_PARTITIONS="$KAFKA_PARTITIONS"
    export "${upper}__HTTP__PORT=$port"
    # Spans to the local Jaeger (a batch exporter: never waits on it).
    export "${upper}__TELEMETRY__OTLP_ENDPOINT=$(otlp_endpoint)"
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
  if alive "$pid"; then
    log "$1: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------- commands
cmd_infra() {
  start_postgres
  start_broker
  start_ferretdb
  start_smtp
  start_jaeger
  remember_ports
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
  Kafka          $(brokers)      (make tail TOPIC=booking.create, or kcat -C -b $(brokers) -t booking.create)
  MongoDB        $(mongodb_uri)  (FerretDB on PostgreSQL, for the event service)
  SMTP           $(smtp_url)    (Mailpit; recipients containing "fail" are refused)
  Mail           $(mailpit_url)  (Mailpit web UI and API: every mail the services send)
  Traces         $(jaeger_url)  (Jaeger API: /api/traces?service=gateway; OTLP in at $(otlp_endpoint))
  Topics         http://127.0.0.1:$GATEWAY_PORT/admin/queues   (topic dashboard, admin login; or make tail TOPIC=booking.create)
  Logs           $LOGS           (make logs)
MSG
}

cmd_down() {
  for s in gateway notification waitlist booking event auth; do stop_pid "$s"; done
  stop_pid jaeger
  stop_pid smtp
  stop_pid ferretdb
  stop_pid broker
  stop_postgres
  rm -f "$PORTS_FILE"
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
  for name in broker ferretdb smtp jaeger "${SERVICES[@]}"; do
    if running "$name"; then state=up; else state=down; fi
    case $name in
      broker) printf '%-14s %-8s %s\n' kafka "$state" "$(brokers)" ;;
      ferretdb) printf '%-14s %-8s %s\n' ferretdb "$state" "$(mongodb_uri)" ;;
      smtp) printf '%-14s %-8s %s\n' mailpit "$state" "$(smtp_url) $(mailpit_url)" ;;
      jaeger) printf '%-14s %-8s %s\n' jaeger "$state" "$(jaeger_url)" ;;
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
  kafka-class) shift; ensure_kafka_jars; kafka_java "$@" ;;
  drop-test-topics) cmd_drop_test_topics ;;
  *) echo "usage: $0 infra|up|down|status|env" >&2; exit 2 ;;
esac
