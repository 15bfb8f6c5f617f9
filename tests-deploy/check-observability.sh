#!/usr/bin/env bash
# Against `make up`: one hold and its confirmation through the gateway, then
# what an operator sees of it. Mailpit's API must hold the confirmation mail
# (to this run's own address, with the booking reference), and Jaeger's API
# the hold's trace: spans of the gateway, booking's HTTP handler and the
# produce on booking.create, all one trace (W3C traceparent over HTTP and Kafka).
#
#   GATEWAY_URL  (default http://127.0.0.1:8080)
#   MAILPIT_URL  (default http://127.0.0.1:8025)
#   JAEGER_URL   (default http://127.0.0.1:16686)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mailpit="${MAILPIT_URL:-}"
# shellcheck disable=SC1091
[ -z "$mailpit" ] && [ -f "$root/.evently/env" ] && source "$root/.evently/env" && mailpit="${MAILPIT_URL:-}"
export GATEWAY_URL="${GATEWAY_URL:-http://127.0.0.1:${GATEWAY_PORT:-8080}}"
export MAILPIT_URL="${mailpit:-http://127.0.0.1:8025}"
export JAEGER_URL="${JAEGER_URL:-http://127.0.0.1:16686}"

exec python3 - <<'PY'
import json, os, sys, time, uuid, urllib.error, urllib.parse, urllib.request

GATEWAY, MAILPIT, JAEGER = (os.environ[k].rstrip("/") for k in ("GATEWAY_URL", "MAILPIT_URL", "JAEGER_URL"))
PASSWORD = "observability-Pa55word!"

def fail(msg):
    print(f"FAIL {msg}", file=sys.stderr)
    sys.exit(1)

def call(method, url, body=None, token=None):
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if token:
        headers["Authorization"] = "Bearer " + token
    if method == "POST":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text else None), r.headers
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text), e.headers
        except ValueError:
            return e.code, text, e.headers
    except OSError as e:
        fail(f"{method} {url}: {e} (is `make up` running?)")

def expect(what, result, *codes):
    status, body, headers = result
    if status not in codes:
        fail(f"{what}: expected {codes}, got {status} {body}")
    return body, headers

def eventually(what, seconds, check):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    fail(f"timed out after {seconds} s waiting for {what}")

def user(role):
    email = f"obs-{role}-{uuid.uuid4().hex[:10]}@example.com"
    expect(f"register {role}", call("POST", GATEWAY + "/api/v1/auth/register",
        {"email": email, "password": PASSWORD, "name": f"Obs {role}", "role": role}), 201)
    login, _ = expect(f"login {role}", call("POST", GATEWAY + "/api/v1/auth/login",
        {"email": email, "password": PASSWORD}), 200)
    return email, login["access_token"]

# An organizer's published event with one row of reserved seats.
_, organizer = user("organizer")
venue, _ = expect("create venue", call("POST", GATEWAY + "/api/v1/venues", {
    "name": "Obs Hall " + uuid.uuid4().hex[:6], "city": "Lisbon",
    "sections": [{"name": "Stalls", "kind": "reserved", "rows": [{"label": "A", "seats": 4}]}]}, organizer), 201)
starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 7 * 86400))
event, _ = expect("create event", call("POST", GATEWAY + "/api/v1/events", {
    "title": "Obs check " + uuid.uuid4().hex[:6], "category": "music", "venue_id": venue["id"],
    "starts_at": starts, "currency": "EUR",
    "prices": [{"section_id": s["id"], "price": 2500} for s in venue["sections"]]}, organizer), 201)
expect("publish", call("POST", f"{GATEWAY}/api/v1/events/{event['id']}/publish", {}, organizer), 200)
def layout():
    status, body, _ = call("GET", f"{GATEWAY}/api/v1/events/{event['id']}/venue-layout")
    return body if status == 200 and body.get("sections") else None
seat = eventually("the seat map", 60, layout)["sections"][0]["seats"][0]["id"]

email, customer = user("customer")
hold, headers = expect("hold", call("POST", GATEWAY + "/api/v1/seats/hold",
    {"event_id": event["id"], "seat_ids": [seat]}, customer), 201)
traceparent = headers.get("traceparent") or fail("the gateway returned no traceparent")
trace_id = traceparent.split("-")[1]
booking, _ = expect("confirm", call("POST", GATEWAY + "/api/v1/bookings/confirm",
    {"hold_id": hold["hold_id"], "payment": {"method": "card", "card_number": "4242424242424242"}}, customer), 201)
print(f"ok: hold {hold['hold_id']} (trace {trace_id}) confirmed as booking {booking['reference']}")

# Mailpit: the confirmation mail, to this run's own customer.
def mail():
    query = urllib.parse.urlencode({"query": f'to:"{email}"', "limit": 50})
    status, body, _ = call("GET", f"{MAILPIT}/api/v1/search?{query}")
    if status != 200:
        fail(f"Mailpit's search answered {status} {body}")
    return next((m for m in body["messages"] if booking["reference"] in m["Subject"]), None)
found = eventually(f"the confirmation mail to {email} in Mailpit ({MAILPIT})", 60, mail)
status, message, _ = call("GET", f"{MAILPIT}/api/v1/message/{found['ID']}")
if status != 200 or booking["reference"] not in (message.get("Text", "") + message.get("HTML", "")):
    fail(f"the mail's body does not name the booking {booking['reference']}")
print(f"ok: Mailpit has the confirmation mail: \"{found['Subject']}\" ({MAILPIT}/view/{found['ID']})")

# Jaeger: the hold's trace, with spans from at least the gateway, booking's
# HTTP handler and the produce on booking.create (the services export in batches).
def trace():
    status, body, _ = call("GET", f"{JAEGER}/api/traces/{trace_id}")
    if status != 200 or not body.get("data"):
        return None
    t = body["data"][0]
    spans = [(t["processes"][s["processID"]]["serviceName"], s["operationName"],
              {tag["key"]: tag["value"] for tag in s.get("tags", [])}) for s in t["spans"]]
    services = {s for s, _, _ in spans}
    produced = any(s == "booking" and op == "kafka.produce" and str(tags.get("topic", "")).endswith("booking.create")
                   for s, op, tags in spans)
    http = any(s == "booking" and "http.method" in tags or s == "booking" and "http.request.method" in tags
               for s, op, tags in spans)
    return spans if {"gateway", "booking"} <= services and produced and http else None
spans = eventually(f"the hold's trace {trace_id} in Jaeger ({JAEGER}) with gateway, booking HTTP and the produce on booking.create", 60, trace)
ops = sorted({f"{s}:{op}" for s, op, _ in spans})
print(f"ok: Jaeger has the hold's trace with {len(spans)} spans: {', '.join(ops)}")
processor = [op for s, op, _ in spans if s == "booking" and ("process" in op or "kafka.consume" in op)]
if processor:
    print(f"ok: the booking processor's spans are in the same trace: {', '.join(sorted(set(processor)))}")
else:
    fail("the booking processor has no span in the hold's trace")
PY
