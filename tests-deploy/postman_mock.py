"""A minimal in-memory stand-in for the gateway, ONLY to exercise the Postman
collection's own scripts (token capture, bounded retry loops, variable flow) and
demo-scripts/setup-demo.sh in CI without the stack. It is not a reference implementation and proves nothing about
the services: tests-deploy/check-postman.sh runs the collection against the real
gateway too when one is up.

    python3 tests-deploy/postman_mock.py [PORT]
"""
import sys
import json, uuid, re, time, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
S = {"users": {}, "tokens": {}, "refresh": {}, "venues": {}, "events": {}, "inv_calls": {}, "holds": {}, "idem": {},
     "bookings": {}, "wl": {}, "notes": {}, "offer_polls": {}}
L = threading.Lock()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body, problem=False):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/problem+json" if problem else "application/json")
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def prob(self, code, slug):
        self.send(code, {"type": f"https://evently.dev/problems/{slug}", "title": slug, "status": code, "detail": slug}, True)
    def user(self):
        a = self.headers.get("Authorization", "")
        return S["users"].get(S["tokens"].get(a[7:])) if a.startswith("Bearer ") else None
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")
    def do_GET(self): self.route("GET")
    def do_POST(self): self.route("POST")
    def do_DELETE(self): self.route("DELETE")
    def route(self, m):
        with L: self._route(m)
    def _route(self, m):
        p = self.path.split("?")[0]; u = self.user()
        if p == "/health":
            return self.send(200, {"service": "gateway", "status": "up",
                                   "services": {n: {"status": "up"} for n in ("auth", "event", "booking", "waitlist", "notification")}})
        if m == "GET" and p == "/api/v1/venues":
            if not u: return self.prob(401, "unauthorized")
            items = [v for v in S["venues"].values() if v["owner"] == u["id"]]
            return self.send(200, {"items": items, "page": 1, "per_page": 100, "total": len(items)})
        mm = re.match(r"^/api/v1/venues/([^/]+)$", p)
        if mm and m == "GET":
            v = S["venues"].get(mm.group(1))
            return self.send(200, v) if v else self.prob(404, "not-found")
        if m == "POST" and p == "/api/v1/auth/register":
            b = self.body()
            if any(x["email"] == b["email"] for x in S["users"].values()): return self.prob(409, "email-taken")
            i = str(uuid.uuid4()); S["users"][i] = {"id": i, "email": b["email"], "name": b["name"], "role": b.get("role", "customer"), "pw": b["password"]}
            return self.send(201, {k: v for k, v in S["users"][i].items() if k != "pw"})
        if m == "POST" and p in ("/api/v1/auth/login", "/api/v1/auth/refresh"):
            b = self.body()
            if p.endswith("login"):
                x = next((x for x in S["users"].values() if x["email"] == b["email"] and x["pw"] == b["password"]), None)
            else:
                x = S["users"].get(S["refresh"].pop(b["refresh_token"], None))
            if not x: return self.prob(401, "unauthorized")
            t, r = str(uuid.uuid4()), str(uuid.uuid4()); S["tokens"][t] = x["id"]; S["refresh"][r] = x["id"]
            return self.send(200, {"access_token": t, "refresh_token": r, "token_type": "Bearer", "expires_in": 900})
        if m == "POST" and p == "/api/v1/auth/logout":
            b = self.body()
            S["refresh"].pop(b.get("refresh_token"), None)
            self.send_response(204); self.send_header("X-Request-Id", str(uuid.uuid4())); self.end_headers()
            return
        mm = re.match(r"^/api/v1/seats/hold/([^/]+)$", p)
        if mm and m == "DELETE":
            h = S["holds"][mm.group(1)]; e = S["events"][h["event_id"]]
            for x in h["seats"]: e["inv"][h["section_id"]][x] = "available"
            return self.send(200, dict(h, status="released"))
        if p == "/api/v1/auth/me":
            return self.send(200, {k: v for k, v in u.items() if k != "pw"}) if u else self.prob(401, "unauthorized")
        if m == "POST" and p == "/api/v1/venues":
            if not u: return self.prob(401, "unauthorized")
            if u["role"] != "organizer": return self.prob(403, "forbidden")
            b = self.body(); v = {"id": str(uuid.uuid4()), "name": b["name"], "owner": u["id"], "sections": []}
            for s in b["sections"]:
                sec = {"id": str(uuid.uuid4()), "name": s["name"], "kind": s["kind"]}
                if s["kind"] == "reserved":
                    sec["seats"] = [{"id": f"{r['label']}-{n}", "row": r["label"], "number": n, "x": n, "y": 1} for r in s["rows"] for n in range(1, r["seats"] + 1)]
                    sec["capacity"] = len(sec["seats"])
                else: sec["capacity"] = s["capacity"]
                v["sections"].append(sec)
            v["capacity"] = sum(x["capacity"] for x in v["sections"])
            S["venues"][v["id"]] = v
            return self.send(201, v)
        if m == "POST" and p == "/api/v1/events":
            b = self.body(); e = dict(b, id=str(uuid.uuid4()), status="draft", owner=u["id"]); S["events"][e["id"]] = e
            return self.send(201, e)
        mm = re.match(r"^/api/v1/events/([^/]+)(/.*)?$", p)
        if mm:
            e = S["events"].get(mm.group(1)); rest = mm.group(2) or ""
            if not e: return self.prob(404, "not-found")
            v = S["venues"][e["venue_id"]]; price = {x["section_id"]: x["price"] for x in e["prices"]}
            if rest == "/publish":
                e["status"] = "published"; S["inv_calls"][e["id"]] = 0
                e["inv"] = {s["id"]: ({x["id"]: "available" for x in s["seats"]} if s["kind"] == "reserved" else {"free": s["capacity"], "cap": s["capacity"]}) for s in v["sections"]}
                return self.send(200, e)
            if rest == "" and m == "GET":
                visible = e["status"] == "published" or (u is not None and u["id"] == e["owner"])
                return self.send(200, e) if visible else self.prob(404, "not-found")
            def avail(s):
                i = e["inv"][s["id"]]
                return sum(1 for x in i.values() if x == "available") if s["kind"] == "reserved" else i["free"]
            if rest == "/seats/available":
                S["inv_calls"][e["id"]] += 1
                if S["inv_calls"][e["id"]] < 4: return self.prob(404, "no-inventory")
                secs = [{"id": s["id"], "available": avail(s), "seat_ids": [k for k, x in e["inv"][s["id"]].items() if x == "available"] if s["kind"] == "reserved" else []} for s in v["sections"]]
                return self.send(200, {"event_id": e["id"], "available": sum(x["available"] for x in secs), "sections": secs})
            if rest == "/venue-layout":
                secs = []
                for s in v["sections"]:
                    d = {"id": s["id"], "name": s["name"], "kind": s["kind"], "price": price[s["id"]], "capacity": s["capacity"], "available": avail(s), "seats": []}
                    if s["kind"] == "reserved": d["seats"] = [dict(x, status=e["inv"][s["id"]][x["id"]]) for x in s["seats"]]
                    secs.append(d)
                return self.send(200, {"event_id": e["id"], "sections": secs})
            if rest == "/sales":
                if u["role"] != "organizer": return self.prob(403, "forbidden")
                sold = sum(b["quantity"] for b in S["bookings"].values() if b["event_id"] == e["id"] and b["status"] == "confirmed")
                waiting = any(w["event_id"] == e["id"] and w["status"] == "waiting" for w in S["wl"].values())
                return self.send(200, {"sold": sold, "held": 0, "available": 0, "revenue": 0, "waitlist_active": waiting})
        if m == "GET" and p == "/api/v1/events":
            if "mine=true" in self.path and u:
                items = [e for e in S["events"].values() if e["owner"] == u["id"]]
            else:
                items = [e for e in S["events"].values() if e["status"] == "published"]
            return self.send(200, {"items": items, "page": 1, "per_page": 50, "total": len(items)})
        if m == "POST" and p == "/api/v1/seats/hold":
            k = self.headers.get("Idempotency-Key")
            if k and k in S["idem"]: return self.send(201, S["idem"][k])
            b = self.body(); e = S["events"][b["event_id"]]; price = {x["section_id"]: x["price"] for x in e["prices"]}
            if "seat_ids" in b:
                sec = next(s for s in S["venues"][e["venue_id"]]["sections"] if s["kind"] == "reserved"); inv = e["inv"][sec["id"]]
                if any(inv[x] != "available" for x in b["seat_ids"]): return self.prob(409, "seats-unavailable")
                for x in b["seat_ids"]: inv[x] = "held"
                q, seats, sid = len(b["seat_ids"]), b["seat_ids"], sec["id"]
            else:
                inv = e["inv"][b["section_id"]]
                if inv["free"] < b["quantity"]: return self.prob(409, "sold-out")
                inv["free"] -= b["quantity"]; q, seats, sid = b["quantity"], [], b["section_id"]
            h = {"hold_id": str(uuid.uuid4()), "event_id": e["id"], "seats": seats, "quantity": q, "total_price": q * price[sid], "currency": e["currency"], "expires_at": "2099-01-01T00:00:00Z", "section_id": sid, "user": u["id"]}
            S["holds"][h["hold_id"]] = h
            if k: S["idem"][k] = h
            return self.send(201, h)
        if m == "POST" and p == "/api/v1/bookings/confirm":
            b = self.body(); h = S["holds"][b["hold_id"]]
            if b["payment"]["card_number"] == "4000000000000002": return self.prob(402, "payment-declined")
            e = S["events"][h["event_id"]]
            for x in h["seats"]: e["inv"][h["section_id"]][x] = "booked"
            bk = {"id": str(uuid.uuid4()), "reference": "EVT-" + uuid.uuid4().hex[:6].upper(), "event_id": h["event_id"], "seats": h["seats"], "quantity": h["quantity"], "total_price": h["total_price"], "currency": h["currency"], "status": "confirmed", "user": u["id"], "section_id": h["section_id"]}
            S["bookings"][bk["id"]] = bk
            for w in S["wl"].values():
                if w.get("offer", {}).get("hold_id") == h["hold_id"]: w["status"] = "accepted"
            return self.send(201, bk)
        if p == "/api/v1/bookings/me":
            items = [b for b in S["bookings"].values() if b["user"] == u["id"]]
            return self.send(200, {"items": items, "page": 1, "per_page": 20, "total": len(items)})
        mm = re.match(r"^/api/v1/bookings/([^/]+)(/cancel)?$", p)
        if mm:
            bk = S["bookings"][mm.group(1)]
            if m == "DELETE":
                bk["status"] = "cancelled"; e = S["events"][bk["event_id"]]
                e["inv"][bk["section_id"]]["free"] += bk["quantity"]
                for w in S["wl"].values():
                    if w["event_id"] == e["id"] and w["status"] == "waiting": w["pending_offer_at"] = 0
            return self.send(200, bk)
        if m == "POST" and p == "/api/v1/waitlist/join":
            b = self.body(); w = {"id": str(uuid.uuid4()), "position": 1, "status": "waiting", "event_id": b["event_id"], "user": u["id"], "q": b["quantity"], "section_id": b["preferences"]["section_id"]}
            S["wl"][u["id"] + b["event_id"]] = w
            return self.send(201, {k: w[k] for k in ("id", "position", "status")})
        mm = re.match(r"^/api/v1/waitlist/status/(.+)$", p)
        if mm:
            w = S["wl"][u["id"] + mm.group(1)]
            if "pending_offer_at" in w and w["status"] == "waiting":
                w["pending_offer_at"] += 1
                if w["pending_offer_at"] >= 3:
                    e = S["events"][w["event_id"]]; e["inv"][w["section_id"]]["free"] -= w["q"]
                    price = {x["section_id"]: x["price"] for x in e["prices"]}
                    h = {"hold_id": str(uuid.uuid4()), "event_id": e["id"], "seats": [], "quantity": w["q"], "total_price": w["q"] * price[w["section_id"]], "currency": e["currency"], "expires_at": "2099-01-01T00:00:00Z", "section_id": w["section_id"], "user": u["id"]}
                    S["holds"][h["hold_id"]] = h; w["status"] = "offered"; w["offer"] = {"hold_id": h["hold_id"], "seats": [], "expires_at": h["expires_at"]}
                    S["notes"].setdefault(u["id"], []).append({"id": str(uuid.uuid4()), "kind": "waitlist-offer"})
            return self.send(200, {k: w[k] for k in ("id", "position", "status", "offer") if k in w})
        if p == "/api/v1/notifications/me":
            items = S["notes"].get(u["id"], [])
            return self.send(200, {"items": items, "page": 1, "per_page": 20, "total": len(items)})
        self.prob(404, "not-found")
if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18080
    ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
