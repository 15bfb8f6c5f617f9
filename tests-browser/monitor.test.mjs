// The realtime monitor and the topic dashboard in headless Chromium, against
// a running stack (`make up`): a person opens /monitor on an event, someone
// books through the API, and the page shows it without a reload.
//
//   GATEWAY_URL    the gateway (default http://127.0.0.1:8080)
//   MAILPIT_URL    Mailpit's web UI (default http://127.0.0.1:8025)
//   CHROMIUM_PATH  the browser (default /usr/bin/chromium, Debian's package)
//   ADMIN_EMAIL / ADMIN_PASSWORD  the bootstrapped admin, for the dashboard
//                  (defaults: the local stack's demo admin)
//
// Run with ./run.sh (installs the npm dependencies from the lock file).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

const GATEWAY = (process.env.GATEWAY_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const MAILPIT = (process.env.MAILPIT_URL || "http://127.0.0.1:8025").replace(/\/$/, "");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ADMIN_EMAIL = process.env.ADMIN_EMAIL || "admin@evently.local";
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || "evently-admin-2026";
const ARTIFACTS = new URL("./artifacts/", import.meta.url);
const PASSWORD = "monitor-test-Pa55word!";

let browser;

before(async () => {
  try {
    await fetch(GATEWAY + "/health", { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new Error(`the gateway is not reachable at ${GATEWAY} (${err.cause?.code || err.message}); ` +
      "start the stack with `make up` or set GATEWAY_URL");
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
});

async function api(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = "Bearer " + token;
  if (method === "POST") headers["Idempotency-Key"] = randomUUID();
  const response = await fetch(GATEWAY + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: response.status, body: json };
}

function expectStatus(what, result, ...wanted) {
  assert.ok(wanted.includes(result.status),
    `${what}: expected ${wanted.join(" or ")}, got ${result.status} ${JSON.stringify(result.body)}`);
  return result.body;
}

async function user(role, email = `monitor-${role}-${randomUUID().slice(0, 8)}@example.com`) {
  expectStatus(`register ${role}`, await api("POST", "/api/v1/auth/register",
    { email, password: PASSWORD, name: `Monitor ${role}`, role }), 201);
  const login = expectStatus(`login ${role}`, await api("POST", "/api/v1/auth/login", { email, password: PASSWORD }), 200);
  return login.access_token;
}

async function eventually(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/// An organizer's published event with a reserved and a general section.
async function publishedEvent() {
  const organizer = await user("organizer");
  const venue = expectStatus("create venue", await api("POST", "/api/v1/venues", {
    name: "Monitor Hall " + randomUUID().slice(0, 6), city: "Lisbon",
    sections: [
      { name: "Stalls", kind: "reserved", rows: [{ label: "A", seats: 8 }, { label: "B", seats: 8 }] },
      { name: "Floor", kind: "general", capacity: 20 },
    ],
  }, organizer), 201);
  const startsAt = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();
  const event = expectStatus("create event", await api("POST", "/api/v1/events", {
    title: "Monitor test " + randomUUID().slice(0, 6), category: "music", venue_id: venue.id,
    starts_at: startsAt, currency: "EUR",
    prices: venue.sections.map((s) => ({ section_id: s.id, price: 2500 })),
  }, organizer), 201);
  expectStatus("publish", await api("POST", `/api/v1/events/${event.id}/publish`, {}, organizer), 200);
  // Booking builds the inventory from event.lifecycle, a moment later.
  const layout = await eventually("the seat map", 30000, async () => {
    const r = await api("GET", `/api/v1/events/${event.id}/venue-layout`);
    return r.status === 200 && r.body.sections?.length === 2 ? r.body : null;
  });
  const reserved = layout.sections.find((s) => s.kind === "reserved");
  const general = layout.sections.find((s) => s.kind === "general");
  return { id: event.id, title: event.title, organizer, reserved, general };
}

async function text(page, selector) {
  return (await page.textContent(selector)).trim();
}

test("the monitor shows holds and bookings made through the API as they happen", async () => {
  const event = await publishedEvent();
  const [first, second] = event.reserved.seats.map((s) => s.id);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(`${GATEWAY}/monitor?event=${event.id}`);
    await page.waitForSelector(`[data-seat-id="${first}"][data-status="available"]`, { timeout: 15000 });
    await page.waitForFunction(() => document.getElementById("conn-text").textContent === "live", null, { timeout: 15000 });
    assert.equal(await text(page, "#count-available"), "36", "16 seats and 20 standing places");
    assert.equal(await text(page, "#count-sold"), "0");

    // A customer holds two seats: they turn "held" on the open page.
    const customer = await user("customer");
    const heldAt = Date.now();
    const hold = expectStatus("hold", await api("POST", "/api/v1/seats/hold",
      { event_id: event.id, seat_ids: [first, second] }, customer), 201);
    await page.waitForSelector(`[data-seat-id="${first}"][data-status="held"]`, { timeout: 5000 });
    await page.waitForSelector(`[data-seat-id="${second}"][data-status="held"]`, { timeout: 5000 });
    console.log(`hold visible on the page ${Date.now() - heldAt} ms after the API call was sent`);
    await page.waitForFunction(() => document.getElementById("count-held").textContent === "2", null, { timeout: 5000 });
    assert.equal(await text(page, "#count-available"), "34");
    assert.match(await text(page, "#log"), /HoldPlaced/);

    // It is paid for: "booked", and the sold counter moves.
    const booking = expectStatus("confirm", await api("POST", "/api/v1/bookings/confirm",
      { hold_id: hold.hold_id, payment: { method: "card", card_number: "4242424242424242" } }, customer), 201);
    await page.waitForSelector(`[data-seat-id="${first}"][data-status="booked"]`, { timeout: 5000 });
    await page.waitForFunction(() => document.getElementById("count-sold").textContent === "2", null, { timeout: 5000 });
    assert.equal(await text(page, "#count-held"), "0");
    assert.ok(booking.reference, "the booking has a reference");
    await page.waitForFunction(() => /BookingConfirmed/.test(document.getElementById("log").textContent),
      null, { timeout: 5000 });
    assert.ok(!(await text(page, "#log")).includes(booking.reference), "the public page shows no booking reference");

    // General admission moves by quantity.
    expectStatus("hold standing places", await api("POST", "/api/v1/seats/hold",
      { event_id: event.id, section_id: event.general.id, quantity: 3 }, customer), 201);
    await page.waitForSelector(`[data-section-id="${event.general.id}"][data-available="17"]`, { timeout: 5000 });
    await page.waitForFunction(() => document.getElementById("count-held").textContent === "3", null, { timeout: 5000 });

    // Someone takes the rest of the floor; the next person joins its waitlist.
    const rival = await user("customer");
    expectStatus("hold the rest of the floor", await api("POST", "/api/v1/seats/hold",
      { event_id: event.id, section_id: event.general.id, quantity: 17 }, rival), 201);
    await page.waitForSelector(`[data-section-id="${event.general.id}"][data-available="0"]`, { timeout: 5000 });
    const waiting = await user("customer");
    expectStatus("join the waitlist", await api("POST", "/api/v1/waitlist/join",
      { event_id: event.id, quantity: 2, preferences: { section_id: event.general.id } }, waiting), 201);
    await page.waitForFunction(() => document.getElementById("count-waitlist").textContent === "≈1", null, { timeout: 5000 });
    await page.waitForFunction(() => /Joined/.test(document.getElementById("log").textContent), null, { timeout: 5000 });

    await page.screenshot({ path: new URL("monitor.png", ARTIFACTS).pathname });
    assert.deepEqual(errors, [], "no script errors on the page");
  } finally {
    await page.close();
  }
});

test("the topic dashboard is for admins and shows the booking traffic", async (t) => {
  const anonymous = await api("GET", "/admin/queues/api/overview");
  assert.equal(anonymous.status, 401);
  const customer = await user("customer");
  assert.equal((await api("GET", "/admin/queues/api/overview", undefined, customer)).status, 403);

  const login = await api("POST", "/api/v1/auth/login", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  if (login.status !== 200) {
    t.skip(`no admin account ${ADMIN_EMAIL} on this stack (set ADMIN_EMAIL/ADMIN_PASSWORD)`);
    return;
  }
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  try {
    await page.goto(`${GATEWAY}/admin/queues`);
    await page.fill("#email", ADMIN_EMAIL);
    await page.fill("#password", ADMIN_PASSWORD);
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#topics tbody tr");
    const row = page.locator("#topics tbody tr", { hasText: "booking.events" });
    const messages = Number((await row.locator("td").nth(3).textContent()).replace(/[^0-9]/g, ""));
    assert.ok(messages > 0, "booking.events has messages");
    await page.selectOption("#topic", "booking.events");
    await page.waitForSelector("#recent tbody tr td b", { timeout: 10000 });
    await page.screenshot({ path: new URL("queues.png", ARTIFACTS).pathname, fullPage: true });
  } finally {
    await page.close();
  }
});

test("a booking's confirmation mail shows in Mailpit's web UI", async () => {
  const event = await publishedEvent();
  const email = `mail-ui-${randomUUID().slice(0, 8)}@example.com`;
  const customer = await user("customer", email);
  const hold = expectStatus("hold", await api("POST", "/api/v1/seats/hold",
    { event_id: event.id, seat_ids: [event.reserved.seats[0].id] }, customer), 201);
  const booking = expectStatus("confirm", await api("POST", "/api/v1/bookings/confirm",
    { hold_id: hold.hold_id, payment: { method: "card", card_number: "4242424242424242" } }, customer), 201);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    // The inbox, searched for this customer: the mail arrives within seconds.
    await eventually("the mail in Mailpit's list", 30000, async () => {
      await page.goto(`${MAILPIT}/search?q=${encodeURIComponent(`to:"${email}"`)}`);
      return page.waitForSelector(`text=${booking.reference}`, { timeout: 3000 }).catch(() => null);
    });
    await page.click(`text=${booking.reference}`);
    // The message view: its subject, and the HTML body (in an iframe) greets the customer.
    await page.waitForURL(/\/view\//, { timeout: 10000 });
    const frame = await (await page.waitForSelector("iframe", { timeout: 10000 })).contentFrame();
    await frame.waitForSelector(`text=${booking.reference}`, { timeout: 10000 });
    await page.screenshot({ path: new URL("mailpit.png", ARTIFACTS).pathname });
    assert.deepEqual(errors, [], "no script errors on Mailpit's page");
  } finally {
    await page.close();
  }
});
