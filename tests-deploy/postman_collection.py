"""Builds postman-collection.json (Postman v2.1) from readable Python + JavaScript.

    python3 tests-deploy/postman_collection.py postman-collection.json

Edit the requests here, not in the JSON: tests-deploy/check-postman.sh fails when
the committed JSON differs from what this script writes. Follows DESIGN.md's API
contract; every request asserts its status and the fields a client relies on.
"""
import json, uuid

def lines(s):
    return [l for l in s.strip("\n").split("\n")]

def script(kind, src):
    return {"listen": kind, "script": {"type": "text/javascript", "exec": lines(src)}}

def req(name, method, path, body=None, auth="", tests="", pre="", headers=None, desc=""):
    hdrs = [{"key": "Accept", "value": "application/json"}]
    if body is not None:
        hdrs.append({"key": "Content-Type", "value": "application/json"})
    if auth:
        hdrs.append({"key": "Authorization", "value": "Bearer {{%s}}" % auth})
    for k, v in (headers or {}).items():
        hdrs.append({"key": k, "value": v})
    raw_url = "{{baseUrl}}" + path
    pth, _, query = path.partition("?")
    url = {"raw": raw_url, "host": ["{{baseUrl}}"], "path": [p for p in pth.strip("/").split("/")]}
    if query:
        url["query"] = [{"key": kv.split("=", 1)[0], "value": kv.split("=", 1)[1] if "=" in kv else ""} for kv in query.split("&")]
    r = {"method": method, "header": hdrs, "url": url}
    if desc:
        r["description"] = desc
    if body is not None:
        r["body"] = {"mode": "raw", "raw": body if isinstance(body, str) else json.dumps(body, indent=2),
                     "options": {"raw": {"language": "json"}}}
    item = {"name": name, "request": r, "event": []}
    if pre:
        item["event"].append(script("prerequest", pre))
    if tests:
        item["event"].append(script("test", tests))
    return item

def folder(name, desc, items):
    return {"name": name, "description": desc, "item": items}

# Collection-level helpers: every response is checked for the request id and, on a
# problem+json, its shape. `utils` is defined once here and used by every request.
collection_pre = r"""
// Shared helpers for every request (Postman evaluates this before each one).
// They take the calling script's `pm`: a closure over this script's `pm` has no response.
utils = {
  // A unique, rerunnable e-mail address.
  email(prefix) {
    return `${prefix}.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.com`;
  },
  // Bounded retry of the current request: returns false when the budget is spent.
  retry(pm, counter, max, delayMs) {
    const n = Number(pm.collectionVariables.get(counter) || 0) + 1;
    pm.collectionVariables.set(counter, n);
    if (n >= max) { return false; }
    pm.execution.setNextRequest(pm.info.requestName);
    pm.collectionVariables.set('retryDelayMs', delayMs);
    return true;
  },
  resetRetry(pm, counter) { pm.collectionVariables.set(counter, 0); },
  problem(pm, expectedStatus, slugPart) {
    pm.test(`status is ${expectedStatus}`, () => pm.response.to.have.status(expectedStatus));
    pm.test('problem+json body', () => {
      pm.expect(pm.response.headers.get('Content-Type') || '').to.include('application/problem+json');
      const p = pm.response.json();
      pm.expect(p).to.have.property('type');
      pm.expect(p).to.have.property('title');
      pm.expect(p.status).to.eql(expectedStatus);
      if (slugPart) { pm.expect(p.type).to.include(slugPart); }
    });
  },
};
// A request that asked to be retried waits a little first (bounded by its counter).
const wait = Number(pm.collectionVariables.get('retryDelayMs') || 0);
if (wait > 0) {
  pm.collectionVariables.set('retryDelayMs', 0);
  setTimeout(() => {}, wait);
}
"""

collection_test = r"""
pm.test('answered with a request id', () => {
  pm.expect(pm.response.headers.has('X-Request-Id')).to.be.true;
});
pm.test('no server error', () => pm.expect(pm.response.code).to.be.below(500));
"""

items = []

# ------------------------------------------------------------------ organizer setup
org = []
org.append(req("Register organizer", "POST", "/api/v1/auth/register",
    body='{\n  "email": "{{organizerEmail}}",\n  "password": "{{password}}",\n  "name": "Olivia Organizer",\n  "role": "organizer"\n}',
    pre="pm.collectionVariables.set('organizerEmail', utils.email('organizer'));",
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const body = pm.response.json();
pm.test('returns the new organizer', () => {
  pm.expect(body.id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(body.email).to.eql(pm.collectionVariables.get('organizerEmail'));
  pm.expect(body.role).to.eql('organizer');
  pm.expect(body).to.not.have.property('password');
  pm.expect(body).to.not.have.property('password_hash');
});
pm.collectionVariables.set('organizerId', body.id);
"""))
org.append(req("Register same email again is 409", "POST", "/api/v1/auth/register",
    body='{\n  "email": "{{organizerEmail}}",\n  "password": "{{password}}",\n  "name": "Someone Else"\n}',
    tests="utils.problem(pm, 409);"))
org.append(req("Login organizer", "POST", "/api/v1/auth/login",
    body='{\n  "email": "{{organizerEmail}}",\n  "password": "{{password}}"\n}',
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const body = pm.response.json();
pm.test('bearer tokens', () => {
  pm.expect(body.access_token).to.be.a('string').and.not.empty;
  pm.expect(body.refresh_token).to.be.a('string').and.not.empty;
  pm.expect(body.token_type).to.eql('Bearer');
  pm.expect(body.expires_in).to.be.a('number').and.above(0);
});
pm.collectionVariables.set('organizerToken', body.access_token);
"""))
org.append(req("Login with a wrong password is 401", "POST", "/api/v1/auth/login",
    body='{\n  "email": "{{organizerEmail}}",\n  "password": "not-the-password"\n}',
    tests="utils.problem(pm, 401);"))
org.append(req("Create venue", "POST", "/api/v1/venues", auth="organizerToken",
    body=json.dumps({
        "name": "Postman Hall {{runId}}", "city": "Lisbon", "address": "Rua Augusta 1",
        "sections": [
            {"name": "Stalls", "kind": "reserved", "rows": [{"label": "A", "seats": 4}, {"label": "B", "seats": 4}]},
            {"name": "Standing", "kind": "general", "capacity": 2},
        ]}, indent=2),
    pre="pm.collectionVariables.set('runId', `${Date.now()}`);",
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const venue = pm.response.json();
const stalls = venue.sections.find(s => s.kind === 'reserved');
const standing = venue.sections.find(s => s.kind === 'general');
pm.test('ids for the venue and every section', () => {
  pm.expect(venue.id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(venue.sections).to.have.lengthOf(2);
  pm.expect(stalls.id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(standing.id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(stalls.capacity).to.eql(8);
  pm.expect(standing.capacity).to.eql(2);
});
pm.collectionVariables.set('venueId', venue.id);
pm.collectionVariables.set('reservedSectionId', stalls.id);
pm.collectionVariables.set('generalSectionId', standing.id);
"""))
org.append(req("Creating a venue needs a token (401)", "POST", "/api/v1/venues",
    body='{"name": "x", "city": "y", "sections": [{"name": "s", "kind": "general", "capacity": 1}]}',
    tests="utils.problem(pm, 401);",
    desc="Without a token: 401. (With a customer token it is 403; see the buying flow.)"))
org.append(req("Create event (draft)", "POST", "/api/v1/events", auth="organizerToken",
    body='{\n  "title": "Postman Live {{runId}}",\n  "description": "An evening of API calls",\n  "category": "concert",\n  "venue_id": "{{venueId}}",\n  "starts_at": "{{startsAt}}",\n  "currency": "EUR",\n  "prices": [\n    { "section_id": "{{reservedSectionId}}", "price": 4500 },\n    { "section_id": "{{generalSectionId}}", "price": 2500 }\n  ],\n  "max_tickets_per_user": 6\n}',
    pre="pm.collectionVariables.set('startsAt', new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString().replace(/\\.\\d+Z$/, 'Z'));",
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const event = pm.response.json();
pm.test('a draft event', () => {
  pm.expect(event.id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(event.status).to.eql('draft');
  pm.expect(event.title).to.include('Postman Live');
  pm.expect(event.currency).to.eql('EUR');
  pm.expect(event.venue_id).to.eql(pm.collectionVariables.get('venueId'));
});
pm.collectionVariables.set('eventId', event.id);
"""))
org.append(req("Draft is not visible to the public (404)", "GET", "/api/v1/events/{{eventId}}",
    tests="pm.test('status is 404', () => pm.response.to.have.status(404));"))
org.append(req("Publish event", "POST", "/api/v1/events/{{eventId}}/publish", auth="organizerToken",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const event = pm.response.json();
pm.test('published', () => {
  pm.expect(event.id).to.eql(pm.collectionVariables.get('eventId'));
  pm.expect(event.status).to.eql('published');
});
utils.resetRetry(pm, 'inventoryTries');
"""))
org.append(req("Wait for seat inventory", "GET", "/api/v1/events/{{eventId}}/seats/available",
    desc="Booking creates the inventory from event.lifecycle after publishing, asynchronously: retried (at most 40 times, 250 ms apart) until all 10 seats are there.",
    tests=r"""
const ready = pm.response.code === 200 && pm.response.json().available === 10;
if (!ready && utils.retry(pm, 'inventoryTries', 40, 250)) {
  console.log(`inventory not ready yet (HTTP ${pm.response.code}), retrying`);
} else {
  pm.test('inventory exists: 10 seats available', () => {
    pm.response.to.have.status(200);
    const body = pm.response.json();
    pm.expect(body.event_id).to.eql(pm.collectionVariables.get('eventId'));
    pm.expect(body.available).to.eql(10);
    const stalls = body.sections.find(s => s.id === pm.collectionVariables.get('reservedSectionId'));
    pm.expect(stalls.available).to.eql(8);
    pm.expect(stalls.seat_ids).to.have.lengthOf(8);
  });
  utils.resetRetry(pm, 'inventoryTries');
}
"""))
items.append(folder("1. Organizer setup",
    "Register and log in an organizer, create a venue (a reserved section of 8 seats and a general-admission section of 2), create an event, publish it, and wait until booking has created its inventory.",
    org))

# ------------------------------------------------------------------ buying flow
buy = []
buy.append(req("Register customer", "POST", "/api/v1/auth/register",
    body='{\n  "email": "{{customerEmail}}",\n  "password": "{{password}}",\n  "name": "Carla Customer"\n}',
    pre="pm.collectionVariables.set('customerEmail', utils.email('customer'));",
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const body = pm.response.json();
pm.test('a customer by default', () => {
  pm.expect(body.role).to.eql('customer');
  pm.expect(body.email).to.eql(pm.collectionVariables.get('customerEmail'));
});
pm.collectionVariables.set('customerId', body.id);
"""))
buy.append(req("Login customer", "POST", "/api/v1/auth/login",
    body='{\n  "email": "{{customerEmail}}",\n  "password": "{{password}}"\n}',
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const body = pm.response.json();
pm.test('bearer tokens', () => {
  pm.expect(body.token_type).to.eql('Bearer');
  pm.expect(body.access_token).to.be.a('string').and.not.empty;
});
pm.collectionVariables.set('customerToken', body.access_token);
pm.collectionVariables.set('customerRefreshToken', body.refresh_token);
"""))
buy.append(req("Register second customer", "POST", "/api/v1/auth/register",
    body='{\n  "email": "{{waiterEmail}}",\n  "password": "{{password}}",\n  "name": "Walter Waiting"\n}',
    pre="pm.collectionVariables.set('waiterEmail', utils.email('waiter'));",
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
pm.collectionVariables.set('waiterId', pm.response.json().id);
"""))
buy.append(req("Login second customer", "POST", "/api/v1/auth/login",
    body='{\n  "email": "{{waiterEmail}}",\n  "password": "{{password}}"\n}',
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
pm.collectionVariables.set('waiterToken', pm.response.json().access_token);
"""))
buy.append(req("Refresh customer token", "POST", "/api/v1/auth/refresh",
    body='{\n  "refresh_token": "{{customerRefreshToken}}"\n}',
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const body = pm.response.json();
pm.test('a new refresh token (rotation)', () => {
  pm.expect(body.token_type).to.eql('Bearer');
  pm.expect(body.refresh_token).to.not.eql(pm.collectionVariables.get('customerRefreshToken'));
});
pm.collectionVariables.set('customerToken', body.access_token);
pm.collectionVariables.set('customerRefreshToken', body.refresh_token);
"""))
buy.append(req("Who am I", "GET", "/api/v1/auth/me", auth="customerToken",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
pm.test('the customer', () => {
  const me = pm.response.json();
  pm.expect(me.id).to.eql(pm.collectionVariables.get('customerId'));
  pm.expect(me.email).to.eql(pm.collectionVariables.get('customerEmail'));
  pm.expect(me.role).to.eql('customer');
});
"""))
buy.append(req("Customer cannot create a venue (403)", "POST", "/api/v1/venues", auth="customerToken",
    body='{"name": "x", "city": "y", "sections": [{"name": "s", "kind": "general", "capacity": 1}]}',
    tests="utils.problem(pm, 403);"))
buy.append(req("Browse events", "GET", "/api/v1/events?q=Postman&city=Lisbon&per_page=50",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const page = pm.response.json();
pm.test('a page of events', () => {
  pm.expect(page.items).to.be.an('array');
  pm.expect(page.page).to.eql(1);
  pm.expect(page.per_page).to.eql(50);
  pm.expect(page.total).to.be.a('number').and.at.least(page.items.length);
});
pm.test('our published event is listed', () => {
  pm.expect(page.items.map(e => e.id)).to.include(pm.collectionVariables.get('eventId'));
});
"""))
buy.append(req("Event details", "GET", "/api/v1/events/{{eventId}}",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const event = pm.response.json();
pm.test('published, with its prices', () => {
  pm.expect(event.id).to.eql(pm.collectionVariables.get('eventId'));
  pm.expect(event.status).to.eql('published');
  pm.expect(event.currency).to.eql('EUR');
});
"""))
buy.append(req("Venue layout", "GET", "/api/v1/events/{{eventId}}/venue-layout",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const layout = pm.response.json();
const stalls = layout.sections.find(s => s.id === pm.collectionVariables.get('reservedSectionId'));
const standing = layout.sections.find(s => s.id === pm.collectionVariables.get('generalSectionId'));
pm.test('sections with live availability', () => {
  pm.expect(layout.event_id).to.eql(pm.collectionVariables.get('eventId'));
  pm.expect(stalls.kind).to.eql('reserved');
  pm.expect(stalls.capacity).to.eql(8);
  pm.expect(stalls.available).to.eql(8);
  pm.expect(stalls.price).to.eql(4500);
  pm.expect(standing.kind).to.eql('general');
  pm.expect(standing.available).to.eql(2);
});
pm.test('seats with coordinates and status', () => {
  pm.expect(stalls.seats).to.have.lengthOf(8);
  stalls.seats.forEach(seat => {
    pm.expect(seat).to.include.keys('id', 'row', 'number', 'x', 'y', 'status');
    pm.expect(seat.status).to.eql('available');
  });
});
// The customer picks the first two seats of the stalls.
const picked = stalls.seats.slice(0, 2).map(s => s.id);
pm.collectionVariables.set('seatIds', JSON.stringify(picked));
pm.collectionVariables.set('holdKey', `postman-hold-${Date.now()}`);
"""))
buy.append(req("Hold two seats", "POST", "/api/v1/seats/hold", auth="customerToken",
    headers={"Idempotency-Key": "{{holdKey}}"},
    body='{\n  "event_id": "{{eventId}}",\n  "seat_ids": {{seatIds}}\n}',
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const hold = pm.response.json();
const seatId = s => (typeof s === 'string' ? s : s.id || s.seat_id);
pm.test('a hold on exactly those seats', () => {
  pm.expect(hold.hold_id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(hold.event_id).to.eql(pm.collectionVariables.get('eventId'));
  pm.expect(hold.seats.map(seatId).sort()).to.eql(JSON.parse(pm.collectionVariables.get('seatIds')).sort());
  pm.expect(hold.quantity).to.eql(2);
  pm.expect(hold.total_price).to.eql(9000);
  pm.expect(hold.currency).to.eql('EUR');
  pm.expect(new Date(hold.expires_at).getTime()).to.be.above(Date.now());
});
pm.collectionVariables.set('holdId', hold.hold_id);
"""))
buy.append(req("Same Idempotency-Key, same hold", "POST", "/api/v1/seats/hold", auth="customerToken",
    headers={"Idempotency-Key": "{{holdKey}}"},
    body='{\n  "event_id": "{{eventId}}",\n  "seat_ids": {{seatIds}}\n}',
    desc="Invariant 3: the same request sent twice has one effect and one answer.",
    tests=r"""
pm.test('status is 201 again', () => pm.response.to.have.status(201));
pm.test('the same hold, not a second one', () => {
  pm.expect(pm.response.json().hold_id).to.eql(pm.collectionVariables.get('holdId'));
});
"""))
buy.append(req("Held seats cannot be held again (409)", "POST", "/api/v1/seats/hold", auth="waiterToken",
    body='{\n  "event_id": "{{eventId}}",\n  "seat_ids": {{seatIds}}\n}',
    desc="The second customer tries the same seats.",
    tests="utils.problem(pm, 409, 'seats-unavailable');"))
buy.append(req("Declined card (402)", "POST", "/api/v1/bookings/confirm", auth="customerToken",
    body='{\n  "hold_id": "{{holdId}}",\n  "payment": { "method": "card", "card_number": "4000000000000002" }\n}',
    tests="utils.problem(pm, 402);"))
buy.append(req("Confirm booking", "POST", "/api/v1/bookings/confirm", auth="customerToken",
    headers={"Idempotency-Key": "postman-confirm-{{holdId}}"},
    body='{\n  "hold_id": "{{holdId}}",\n  "payment": { "method": "card", "card_number": "4242424242424242" }\n}',
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const booking = pm.response.json();
pm.test('a confirmed booking with a reference', () => {
  pm.expect(booking.id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(booking.reference).to.match(/^EVT-[A-Z0-9]{6}$/);
  pm.expect(booking.event_id).to.eql(pm.collectionVariables.get('eventId'));
  pm.expect(booking.status).to.eql('confirmed');
  pm.expect(booking.quantity).to.eql(2);
  pm.expect(booking.total_price).to.eql(9000);
  pm.expect(booking.currency).to.eql('EUR');
});
pm.collectionVariables.set('bookingId', booking.id);
pm.collectionVariables.set('bookingReference', booking.reference);
"""))
buy.append(req("My bookings", "GET", "/api/v1/bookings/me", auth="customerToken",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
const page = pm.response.json();
pm.test('the new booking is listed', () => {
  pm.expect(page.items).to.be.an('array');
  const mine = page.items.find(b => b.id === pm.collectionVariables.get('bookingId'));
  pm.expect(mine, 'booking in /bookings/me').to.exist;
  pm.expect(mine.status).to.eql('confirmed');
  pm.expect(mine.reference).to.eql(pm.collectionVariables.get('bookingReference'));
});
"""))
buy.append(req("Booking by id", "GET", "/api/v1/bookings/{{bookingId}}", auth="customerToken",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
pm.test('the booking', () => {
  const b = pm.response.json();
  pm.expect(b.id).to.eql(pm.collectionVariables.get('bookingId'));
  pm.expect(b.status).to.eql('confirmed');
});
"""))
buy.append(req("Layout shows the seats booked", "GET", "/api/v1/events/{{eventId}}/venue-layout",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
pm.test('both seats are booked, six left', () => {
  const layout = pm.response.json();
  const stalls = layout.sections.find(s => s.id === pm.collectionVariables.get('reservedSectionId'));
  const picked = JSON.parse(pm.collectionVariables.get('seatIds'));
  stalls.seats.filter(s => picked.includes(s.id)).forEach(s => pm.expect(s.status).to.eql('booked'));
  pm.expect(stalls.available).to.eql(6);
  // The next request holds (and releases) the first seat still available.
  pm.collectionVariables.set('spareSeatId', stalls.seats.find(s => s.status === 'available').id);
});
"""))
buy.append(req("Hold one more seat", "POST", "/api/v1/seats/hold", auth="customerToken",
    body='{\n  "event_id": "{{eventId}}",\n  "seat_ids": ["{{spareSeatId}}"]\n}',
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const hold = pm.response.json();
pm.test('one seat held', () => pm.expect(hold.quantity).to.eql(1));
pm.collectionVariables.set('spareHoldId', hold.hold_id);
"""))
buy.append(req("Release the hold", "DELETE", "/api/v1/seats/hold/{{spareHoldId}}", auth="customerToken",
    tests=r"""
pm.test('status is 200 or 204', () => pm.expect(pm.response.code).to.be.oneOf([200, 204]));
utils.resetRetry(pm, 'releaseTries');
"""))
buy.append(req("Released seat is available again", "GET", "/api/v1/events/{{eventId}}/seats/available",
    tests=r"""
const body = pm.response.code === 200 ? pm.response.json() : { sections: [] };
const stalls = (body.sections || []).find(s => s.id === pm.collectionVariables.get('reservedSectionId'));
const back = stalls && stalls.seat_ids.includes(pm.collectionVariables.get('spareSeatId'));
if (!back && utils.retry(pm, 'releaseTries', 20, 250)) {
  console.log('seat not released yet, retrying');
} else {
  pm.test('status is 200', () => pm.response.to.have.status(200));
  pm.test('the seat is back on sale, six available', () => {
    pm.expect(back).to.be.true;
    pm.expect(stalls.available).to.eql(6);
  });
  utils.resetRetry(pm, 'releaseTries');
}
"""))
items.append(folder("2. Buying flow",
    "Two customers register and log in; the first browses, reads the venue layout, holds two seats (twice with the same Idempotency-Key: one hold), fails with a declined card, confirms, and finds the booking.",
    buy))

# ------------------------------------------------------------------ waitlist flow
wl = []
wl.append(req("Customer buys all standing places: hold", "POST", "/api/v1/seats/hold", auth="customerToken",
    body='{\n  "event_id": "{{eventId}}",\n  "section_id": "{{generalSectionId}}",\n  "quantity": 2\n}',
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const hold = pm.response.json();
pm.test('two general-admission places', () => {
  pm.expect(hold.quantity).to.eql(2);
  pm.expect(hold.total_price).to.eql(5000);
});
pm.collectionVariables.set('gaHoldId', hold.hold_id);
"""))
wl.append(req("Customer buys all standing places: confirm", "POST", "/api/v1/bookings/confirm", auth="customerToken",
    body='{\n  "hold_id": "{{gaHoldId}}",\n  "payment": { "method": "card", "card_number": "4242424242424242" }\n}',
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const booking = pm.response.json();
pm.test('confirmed', () => {
  pm.expect(booking.status).to.eql('confirmed');
  pm.expect(booking.quantity).to.eql(2);
});
pm.collectionVariables.set('gaBookingId', booking.id);
"""))
wl.append(req("Standing is sold out (409)", "POST", "/api/v1/seats/hold", auth="waiterToken",
    body='{\n  "event_id": "{{eventId}}",\n  "section_id": "{{generalSectionId}}",\n  "quantity": 1\n}',
    tests="utils.problem(pm, 409, 'sold-out');"))
wl.append(req("Join the waitlist", "POST", "/api/v1/waitlist/join", auth="waiterToken",
    body='{\n  "event_id": "{{eventId}}",\n  "quantity": 1,\n  "preferences": { "section_id": "{{generalSectionId}}", "max_price": 3000 }\n}',
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const entry = pm.response.json();
pm.test('first in line, waiting', () => {
  pm.expect(entry.id).to.match(/^[0-9a-f-]{36}$/);
  pm.expect(entry.position).to.eql(1);
  pm.expect(entry.status).to.eql('waiting');
});
pm.collectionVariables.set('waitlistEntryId', entry.id);
"""))
wl.append(req("Waitlist status", "GET", "/api/v1/waitlist/status/{{eventId}}", auth="waiterToken",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
pm.test('waiting at position 1', () => {
  const s = pm.response.json();
  pm.expect(s.id).to.eql(pm.collectionVariables.get('waitlistEntryId'));
  pm.expect(s.position).to.eql(1);
  pm.expect(s.status).to.eql('waiting');
});
"""))
wl.append(req("Booking knows someone waits", "GET", "/api/v1/events/{{eventId}}/sales", auth="organizerToken",
    desc="The waitlist tells booking asynchronously (WaitlistActivated on booking.create); from then on freed seats are parked for the waitlist. Retried (at most 40 times, 250 ms apart) until the sales figures say so.",
    tests=r"""
const s = pm.response.code === 200 ? pm.response.json() : {};
if (s.waitlist_active !== true && utils.retry(pm, 'activeTries', 40, 250)) {
  console.log('waitlist not active at booking yet, retrying');
} else {
  pm.test('status is 200', () => pm.response.to.have.status(200));
  pm.test('the waitlist is active for this event', () => pm.expect(s.waitlist_active).to.eql(true));
  utils.resetRetry(pm, 'activeTries');
}
"""))
items.append(folder("3. Waitlist flow",
    "The first customer buys both standing places; the second customer finds the section sold out and joins its waitlist, and booking learns that someone waits.",
    wl))

# ------------------------------------------------------------------ cancellation
cx = []
cx.append(req("Cancel the standing booking", "DELETE", "/api/v1/bookings/{{gaBookingId}}/cancel", auth="customerToken",
    desc="200 with the cancelled booking, or 202 when the cancellation is accepted but its outcome is not known within the reply wait.",
    tests=r"""
pm.test('status is 200 (or 202 accepted)', () => pm.expect(pm.response.code).to.be.oneOf([200, 202]));
if (pm.response.code === 200) {
  pm.test('cancelled', () => {
    const b = pm.response.json();
    pm.expect(b.id).to.eql(pm.collectionVariables.get('gaBookingId'));
    pm.expect(b.status).to.eql('cancelled');
  });
}
utils.resetRetry(pm, 'offerTries');
"""))
cx.append(req("Wait for the waitlist offer", "GET", "/api/v1/waitlist/status/{{eventId}}", auth="waiterToken",
    desc="The freed places go to the waitlist first: retried (at most 40 times, 250 ms apart) until the entry is offered.",
    tests=r"""
const s = pm.response.code === 200 ? pm.response.json() : {};
if (s.status !== 'offered' && utils.retry(pm, 'offerTries', 40, 250)) {
  console.log(`no offer yet (${s.status || pm.response.code}), retrying`);
} else {
  pm.test('offered a hold that expires later', () => {
    pm.response.to.have.status(200);
    pm.expect(s.status).to.eql('offered');
    pm.expect(s.offer.hold_id).to.match(/^[0-9a-f-]{36}$/);
    pm.expect(new Date(s.offer.expires_at).getTime()).to.be.above(Date.now());
  });
  if (s.offer) { pm.collectionVariables.set('offerHoldId', s.offer.hold_id); }
  utils.resetRetry(pm, 'offerTries');
}
"""))
cx.append(req("Others cannot take the offered place (409)", "POST", "/api/v1/seats/hold", auth="customerToken",
    body='{\n  "event_id": "{{eventId}}",\n  "section_id": "{{generalSectionId}}",\n  "quantity": 2\n}',
    desc="One place is offered to the waitlist, so two are not available to anyone else.",
    tests=r"""
pm.test('status is 409', () => pm.response.to.have.status(409));
"""))
cx.append(req("Confirm the offered hold", "POST", "/api/v1/bookings/confirm", auth="waiterToken",
    body='{\n  "hold_id": "{{offerHoldId}}",\n  "payment": { "method": "card", "card_number": "4242424242424242" }\n}',
    tests=r"""
pm.test('status is 201', () => pm.response.to.have.status(201));
const booking = pm.response.json();
pm.test('the waiting customer has a place', () => {
  pm.expect(booking.status).to.eql('confirmed');
  pm.expect(booking.quantity).to.eql(1);
  pm.expect(booking.reference).to.match(/^EVT-/);
});
pm.collectionVariables.set('waiterBookingId', booking.id);
utils.resetRetry(pm, 'acceptTries');
"""))
cx.append(req("Waitlist entry accepted", "GET", "/api/v1/waitlist/status/{{eventId}}", auth="waiterToken",
    tests=r"""
const s = pm.response.code === 200 ? pm.response.json() : {};
if (s.status !== 'accepted' && utils.retry(pm, 'acceptTries', 20, 250)) {
  console.log(`entry is ${s.status || pm.response.code}, retrying`);
} else {
  pm.test('accepted', () => {
    pm.response.to.have.status(200);
    pm.expect(s.status).to.eql('accepted');
  });
  utils.resetRetry(pm, 'acceptTries');
}
"""))
cx.append(req("Cancelled booking in my bookings", "GET", "/api/v1/bookings/me", auth="customerToken",
    tests=r"""
const b = pm.response.code === 200
  ? (pm.response.json().items || []).find(x => x.id === pm.collectionVariables.get('gaBookingId'))
  : undefined;
if ((!b || b.status !== 'cancelled') && utils.retry(pm, 'cancelTries', 20, 250)) {
  console.log(`booking is ${b ? b.status : 'missing'}, retrying`);
} else {
  pm.test('status is 200', () => pm.response.to.have.status(200));
  pm.test('shows as cancelled', () => {
    pm.expect(b, 'the cancelled booking').to.exist;
    pm.expect(b.status).to.eql('cancelled');
  });
  utils.resetRetry(pm, 'cancelTries');
}
utils.resetRetry(pm, 'notificationTries');
"""))
cx.append(req("Waiting customer was notified", "GET", "/api/v1/notifications/me", auth="waiterToken",
    desc="Every email is also an in-app notification: retried (at most 40 times, 250 ms apart) until the offer's notification is there.",
    tests=r"""
const page = pm.response.code === 200 ? pm.response.json() : { items: [] };
if ((page.items || []).length === 0 && utils.retry(pm, 'notificationTries', 40, 250)) {
  console.log('no notification yet, retrying');
} else {
  pm.test('at least one notification', () => {
    pm.response.to.have.status(200);
    pm.expect(page.items).to.be.an('array').that.is.not.empty;
  });
  utils.resetRetry(pm, 'notificationTries');
}
"""))
cx.append(req("Sales figures (organizer)", "GET", "/api/v1/events/{{eventId}}/sales", auth="organizerToken",
    tests=r"""
pm.test('status is 200', () => pm.response.to.have.status(200));
pm.test('sold, held, available, revenue, waitlist', () => {
  const s = pm.response.json();
  pm.expect(s).to.include.keys('sold', 'held', 'available', 'revenue');
  // 2 stalls seats + 1 standing place are sold now.
  pm.expect(s.sold).to.eql(3);
});
"""))
cx.append(req("Customers may not read sales (403)", "GET", "/api/v1/events/{{eventId}}/sales", auth="customerToken",
    tests="utils.problem(pm, 403);"))
cx.append(req("Log out (ends the session)", "POST", "/api/v1/auth/logout", auth="customerToken",
    body='{\n  "refresh_token": "{{customerRefreshToken}}"\n}',
    tests="pm.test('status is 204', () => pm.response.to.have.status(204));"))
cx.append(req("Refresh after logout is 401", "POST", "/api/v1/auth/refresh",
    body='{\n  "refresh_token": "{{customerRefreshToken}}"\n}',
    tests="utils.problem(pm, 401);"))
items.append(folder("4. Cancellation with the waitlist offer",
    "The first customer cancels the standing booking; the freed place is offered to the waiting customer, who confirms it like any hold and is notified. The organizer reads the sales figures; the first customer logs out and the refresh token is dead.",
    cx))

collection = {
    "info": {
        "_postman_id": "6f1c2a9e-5d2b-4f59-9a1e-evently0001".replace("evently0001", "0e7e17e1f001"),
        "name": "Evently API",
        "description": "The Evently API through the gateway, as in DESIGN.md's API contract.\n\nRun it against a running stack:\n\n    npx newman run postman-collection.json --env-var baseUrl=http://127.0.0.1:8080\n\nEvery run registers fresh users (timestamped e-mails) and creates its own venue and event, so reruns pass. Tokens are captured by the test scripts into collection variables. Waits for asynchronous work (inventory after publishing, waitlist offers, notifications) are bounded retries.",
        "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
    },
    "variable": [
        {"key": "baseUrl", "value": "http://localhost:8080", "type": "string"},
        {"key": "password", "value": "correct-horse-battery-staple", "type": "string"},
    ],
    "event": [script("prerequest", collection_pre), script("test", collection_test)],
    "item": items,
}
out = json.dumps(collection, indent=2) + "\n"
import sys
target = sys.argv[1] if len(sys.argv) > 1 else "postman-collection.json"
with open(target, "w") as f:
    f.write(out)
print(f"{target}: {len(out)} bytes, {sum(len(f['item']) for f in items)} requests")
