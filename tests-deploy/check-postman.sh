#!/usr/bin/env bash
# Checks postman-collection.json:
#   1. it is the output of tests-deploy/postman_collection.py (edit there),
#   2. it is a Postman v2.1 collection where every request has a test asserting its status,
#   3. its scripts work (captured tokens, bounded retry loops): newman runs it against
#      tests-deploy/postman_mock.py, a throwaway in-memory stand-in,
#   4. when a gateway answers at EVENTLY_BASE_URL (default http://127.0.0.1:8080),
#      newman runs it against the real stack. REQUIRE_STACK=1 makes a missing stack a failure.
# Needs python3 and node/npx (newman comes from npm, or NEWMAN=/path/to/newman).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
base="${EVENTLY_BASE_URL:-http://127.0.0.1:8080}"

tmp="$(mktemp -d)"
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

python3 tests-deploy/postman_collection.py "$tmp/collection.json" >/dev/null
if ! cmp -s "$tmp/collection.json" postman-collection.json; then
  echo "FAIL postman-collection.json is not what tests-deploy/postman_collection.py builds;" \
       "run: python3 tests-deploy/postman_collection.py postman-collection.json" >&2
  exit 1
fi
echo "ok: postman-collection.json matches its generator"

python3 - postman-collection.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["info"]["schema"].endswith("/v2.1.0/collection.json"), "not a v2.1 collection"
assert any(v["key"] == "baseUrl" and v["value"] == "http://localhost:8080" for v in c["variable"]), "baseUrl"
n = 0
for folder in c["item"]:
    for item in folder["item"]:
        n += 1
        tests = "\n".join(l for e in item.get("event", []) if e["listen"] == "test" for l in e["script"]["exec"])
        assert any(k in tests for k in ("to.have.status(", "utils.problem(pm, ", "pm.response.code).to.be.oneOf(")), f"{folder['name']} / {item['name']}: no status assertion"
        assert item["request"]["url"]["raw"].startswith("{{baseUrl}}/"), f"{item['name']}: not on baseUrl"
print(f"ok: {len(c['item'])} folders, {n} requests, each asserting its status")
PY

if [ -n "${NEWMAN:-}" ]; then newman=("$NEWMAN")
elif command -v newman >/dev/null 2>&1; then newman=(newman)
else newman=(npx --yes newman@6); fi

port=18080
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
python3 tests-deploy/postman_mock.py "$port" & mock_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"${newman[@]}" run postman-collection.json --env-var "baseUrl=http://127.0.0.1:$port" \
  --reporters cli --reporter-cli-no-success-assertions --color off > "$tmp/mock.log" 2>&1 \
  || { cat "$tmp/mock.log"; echo "FAIL the collection's scripts fail against the mock" >&2; exit 1; }
echo "ok: newman runs the collection against the mock ($(grep -E 'assertions' "$tmp/mock.log" | tr -s ' │' ' '))"

if curl -fsS -m 3 "$base/health" >/dev/null 2>&1; then
  "${newman[@]}" run postman-collection.json --env-var "baseUrl=$base" --color off
  echo "ok: newman run against the stack at $base passed"
elif [ "${REQUIRE_STACK:-0}" = 1 ]; then
  echo "FAIL no healthy gateway at $base (start it with make up)" >&2
  exit 1
else
  echo "SKIPPED newman against the real stack: no healthy gateway at $base (make up; REQUIRE_STACK=1 to insist)"
fi
