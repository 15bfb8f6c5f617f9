#!/usr/bin/env bash
# One command to a demo: starts the local stack if the gateway is not healthy
# (`make up`), seeds demo users, venues and events through the public API, and
# prints the logins and URLs. Safe to run again: what exists is reused.
#
#   demo-scripts/setup-demo.sh               # start if needed, seed, print
#   demo-scripts/setup-demo.sh --seed-only   # never start anything (make up calls this)
#   EVENTLY_GATEWAY=http://localhost:8080 demo-scripts/setup-demo.sh   # e.g. docker-compose
#
# Needs curl and jq.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SEED_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --seed-only) SEED_ONLY=1 ;;
    --gateway) GATEWAY=${2%/}; API="$GATEWAY/api/v1"; export API; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
  shift
done
need curl
need jq "apt-get install -y jq"

# Demo accounts. The passwords are for a demo on your own machine only.
ORGANIZER_EMAIL=${DEMO_ORGANIZER_EMAIL:-organizer@evently.local}
CUSTOMER1_EMAIL=${DEMO_CUSTOMER1_EMAIL:-alice@evently.local}
CUSTOMER2_EMAIL=${DEMO_CUSTOMER2_EMAIL:-bob@evently.local}
DEMO_PASSWORD=${DEMO_PASSWORD:-evently-demo-2026}
# The admin cannot be registered through the API: auth creates it at start-up
# from these variables (the local stack and docker-compose pass them through).
export AUTH__BOOTSTRAP_ADMIN_EMAIL=${AUTH__BOOTSTRAP_ADMIN_EMAIL:-admin@evently.local}
export AUTH__BOOTSTRAP_ADMIN_PASSWORD=${AUTH__BOOTSTRAP_ADMIN_PASSWORD:-evently-admin-2026}

if [ "$SEED_ONLY" = 1 ]; then
  for _ in $(seq 60); do gateway_healthy && break; sleep 0.5; done
  gateway_healthy || die "the gateway at $GATEWAY is not healthy (start it with make up)"
else
  ensure_stack
fi
ok "gateway healthy at $GATEWAY"

# ------------------------------------------------------------------ users
login() { # email password -> prints the access token
  call POST /auth/login "$(jq -nc --arg e "$1" --arg p "$2" '{email: $e, password: $p}')"
  [ "$HTTP_STATUS" = 200 ] || return 1
  printf '%s' "$BODY" | jq -r .access_token
}

ensure_user() { # email name role -> prints the access token
  local email=$1 name=$2 role=$3 token
  call POST /auth/register "$(jq -nc --arg e "$email" --arg p "$DEMO_PASSWORD" --arg n "$name" --arg r "$role" \
    '{email: $e, password: $p, name: $n, role: $r}')"
  expect "registering $email" 201 409
  [ "$HTTP_STATUS" = 201 ] && ok "registered $email ($role)" >&2
  token=$(login "$email" "$DEMO_PASSWORD") \
    || die "$email exists with another password (set DEMO_PASSWORD, or use other DEMO_*_EMAIL addresses)"
  printf '%s' "$token"
}

say "demo users"
ORG_TOKEN=$(ensure_user "$ORGANIZER_EMAIL" "Olivia Organizer" organizer)
ALICE_TOKEN=$(ensure_user "$CUSTOMER1_EMAIL" "Alice Attendee" customer)
ensure_user "$CUSTOMER2_EMAIL" "Bob Buyer" customer >/dev/null
ADMIN_NOTE="admin: log in as $AUTH__BOOTSTRAP_ADMIN_EMAIL / $AUTH__BOOTSTRAP_ADMIN_PASSWORD"
if ! login "$AUTH__BOOTSTRAP_ADMIN_EMAIL" "$AUTH__BOOTSTRAP_ADMIN_PASSWORD" >/dev/null; then
  ADMIN_NOTE="admin: none yet. Admins are made by auth at start-up, never by the API: restart auth with
                 AUTH__BOOTSTRAP_ADMIN_EMAIL=$AUTH__BOOTSTRAP_ADMIN_EMAIL AUTH__BOOTSTRAP_ADMIN_PASSWORD=<secret>
                 (make down && AUTH__BOOTSTRAP_ADMIN_EMAIL=... AUTH__BOOTSTRAP_ADMIN_PASSWORD=... make up)"
fi

# ------------------------------------------------------------------ venues
ensure_venue() { # name json -> prints the venue id
  local name=$1 json=$2 id
  call GET "/venues?per_page=100" "" "$ORG_TOKEN"
  expect "listing venues" 200
  id=$(printf '%s' "$BODY" | jq -r --arg n "$name" '[.items[] | select(.name == $n)][0].id // empty')
  if [ -z "$id" ]; then
    call POST /venues "$json" "$ORG_TOKEN"
    expect "creating venue $name" 201
    id=$(printf '%s' "$BODY" | jq -r .id)
    ok "venue $name ($(printf '%s' "$BODY" | jq -r .capacity) places)" >&2
  fi
  printf '%s' "$id"
}

venue_sections() { # venue id -> prints the venue JSON
  call GET "/venues/$1" "" "$ORG_TOKEN"
  expect "reading venue $1" 200
  printf '%s' "$BODY"
}

say "demo venues"
rows() { # first-letter last-letter seats -> JSON rows
  local out=() l
  for l in $(eval "echo {$1..$2}"); do out+=("{\"label\":\"$l\",\"seats\":$3}"); done
  local IFS=,
  printf '[%s]' "${out[*]}"
}
ARENA=$(ensure_venue "Evently Arena" "$(jq -nc --argjson lower "$(rows A J 20)" --argjson upper "$(rows K T 25)" '{
  name: "Evently Arena", city: "Lisbon", address: "Av. da Liberdade 100",
  sections: [
    {name: "Lower Bowl", kind: "reserved", rows: $lower},
    {name: "Upper Bowl", kind: "reserved", rows: $upper},
    {name: "Floor", kind: "general", capacity: 500}
  ]}')")
CLUB=$(ensure_venue "Blue Note Club" "$(jq -nc --argjson balcony "$(rows A C 12)" '{
  name: "Blue Note Club", city: "Porto", address: "Rua das Flores 12",
  sections: [
    {name: "Balcony", kind: "reserved", rows: $balcony},
    {name: "Standing", kind: "general", capacity: 150}
  ]}')")
ATTIC=$(ensure_venue "The Attic" "$(jq -nc --argjson front "$(rows A A 6)" '{
  name: "The Attic", city: "Lisbon",
  sections: [
    {name: "Front Row", kind: "reserved", rows: $front},
    {name: "Back", kind: "general", capacity: 4}
  ]}')")

# ------------------------------------------------------------------ events
ensure_event() { # title venue-id category days-ahead publish? price-per-section...
  local title=$1 venue=$2 category=$3 days=$4 publish=$5 id status prices venue_json
  shift 5
  call GET "/events?mine=true&per_page=100" "" "$ORG_TOKEN"
  expect "searching events" 200
  id=$(printf '%s' "$BODY" | jq -r --arg t "$title" '[.items[] | select(.title == $t)][0].id // empty')
  if [ -z "$id" ]; then
    venue_json=$(venue_sections "$venue")
    # Prices in section order: the remaining arguments, cents.
    prices=$(printf '%s' "$venue_json" | jq -c --argjson p "$(printf '%s\n' "$@" | jq -sc .)" \
      '[.sections | to_entries[] | {section_id: .value.id, price: $p[.key]}]')
    call POST /events "$(jq -nc --arg t "$title" --arg v "$venue" --arg c "$category" \
      --arg s "$(date -u -d "+$days days" +%Y-%m-%dT19:30:00Z)" --arg e "$(date -u -d "+$days days" +%Y-%m-%dT23:00:00Z)" \
      --argjson prices "$prices" \
      '{title: $t, description: "Seeded by demo-scripts/setup-demo.sh", category: $c, venue_id: $v,
        starts_at: $s, ends_at: $e, currency: "EUR", prices: $prices, max_tickets_per_user: 8}')" "$ORG_TOKEN"
    expect "creating event $title" 201
    id=$(printf '%s' "$BODY" | jq -r .id)
    ok "event $title (draft)" >&2
  fi
  call GET "/events/$id" "" "$ORG_TOKEN"
  expect "reading event $title" 200
  status=$(printf '%s' "$BODY" | jq -r .status)
  if [ "$publish" = publish ] && [ "$status" = draft ]; then
    call POST "/events/$id/publish" "" "$ORG_TOKEN"
    expect "publishing $title" 200
    ok "event $title published" >&2
  fi
  printf '%s' "$id"
}

say "demo events"
HEADLINER=$(ensure_event "Midnight Echoes - Live" "$ARENA" concert 21 publish 8900 5900 4500)
JAZZ=$(ensure_event "Jazz at the Blue Note" "$CLUB" jazz 10 publish 3500 2200)
ATTIC_SHOW=$(ensure_event "Acoustic Attic Session" "$ATTIC" concert 5 publish 2500 1500)
DRAFT=$(ensure_event "Rust at Scale (conference)" "$CLUB" conference 45 draft 19900 14900)

# Booking creates inventory from event.lifecycle, asynchronously.
wait_inventory() { # event id
  for _ in $(seq 60); do
    call GET "/events/$1/seats/available"
    [ "$HTTP_STATUS" = 200 ] && return 0
    sleep 0.5
  done
  return 1
}
for e in "$HEADLINER" "$JAZZ" "$ATTIC_SHOW"; do
  wait_inventory "$e" || warn "no seat inventory for event $e after 30 s (is booking consuming event.lifecycle?)"
done

# A booking for Alice, so "my bookings" has something to show (once).
call GET /bookings/me "" "$ALICE_TOKEN"
if [ "$HTTP_STATUS" = 200 ] && [ "$(printf '%s' "$BODY" | jq '.items | length')" = 0 ]; then
  call GET "/events/$HEADLINER/seats/available"
  seats=$(printf '%s' "$BODY" | jq -c '[.sections[] | select((.seat_ids // []) | length >= 2)][0].seat_ids[0:2] // empty')
  if [ -n "$seats" ]; then
    call POST /seats/hold "$(jq -nc --arg e "$HEADLINER" --argjson s "$seats" '{event_id: $e, seat_ids: $s}')" "$ALICE_TOKEN"
    if [ "$HTTP_STATUS" = 201 ]; then
      hold=$(printf '%s' "$BODY" | jq -r .hold_id)
      call POST /bookings/confirm "$(jq -nc --arg h "$hold" '{hold_id: $h, payment: {method: "card", card_number: "4242424242424242"}}')" "$ALICE_TOKEN"
      [ "$HTTP_STATUS" = 201 ] && ok "Alice booked $(printf '%s' "$seats" | jq -r 'join(", ")') ($(printf '%s' "$BODY" | jq -r .reference))"
    else
      warn "Alice's demo hold answered HTTP $HTTP_STATUS"
    fi
  fi
fi

MAILPIT_URL=${MAILPIT_URL:-http://127.0.0.1:8025}
JAEGER_URL=${JAEGER_URL:-http://127.0.0.1:16686}
mail_hint="$MAILPIT_URL   (Mailpit: every mail sent; not answering right now)"
curl -fsS -m 2 "$MAILPIT_URL/api/v1/info" >/dev/null 2>&1 && mail_hint="$MAILPIT_URL   (Mailpit: every mail sent, e.g. Alice's confirmation)"
trace_hint="$JAEGER_URL/api/traces?service=gateway&limit=20   (Jaeger; not answering right now)"
curl -fsS -m 2 "$JAEGER_URL/api/services" >/dev/null 2>&1 \
  && trace_hint="$JAEGER_URL/api/traces?service=booking&operation=kafka.produce&limit=20   (Jaeger's API: a hold end to end)"

cat <<EOF

${B}Evently demo is ready${N}

  Logins (password: $DEMO_PASSWORD)
    organizer  $ORGANIZER_EMAIL
    customer   $CUSTOMER1_EMAIL   (has a booking)
    customer   $CUSTOMER2_EMAIL
    $ADMIN_NOTE

  Events
    $HEADLINER  Midnight Echoes - Live   (Evently Arena, 950 places)
    $JAZZ  Jazz at the Blue Note    (Blue Note Club, 186 places)
    $ATTIC_SHOW  Acoustic Attic Session   (The Attic, 10 places: sell it out, try the waitlist)
    $DRAFT  Rust at Scale            (draft, visible to its organizer only)

  URLs
    API          $GATEWAY/api/v1/events
    Health       $GATEWAY/health
    OpenAPI      $GATEWAY/api/v1/openapi.json
    Live monitor $GATEWAY/monitor?event=$HEADLINER
    Topics       $GATEWAY/admin/queues   (admin)
    Mail         $mail_hint
    Traces       $trace_hint

  Next
    demo-scripts/flash-sale.sh            10,000 fans, 5,000 seats
    demo-scripts/tail-topics.sh           watch booking.create / booking.events
    npx newman run postman-collection.json --env-var baseUrl=$GATEWAY
EOF
