#!/usr/bin/env bash
# Static checks of demo-scripts/*.sh: bash syntax, shellcheck (when installed:
# apt-get install -y shellcheck), executable bits, and a --help that runs without
# a stack. Running them for real needs the stack (make up); see docs/deployment.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/demo-scripts"
fail=0
for s in *.sh; do
  bash -n "$s" || { echo "FAIL $s: syntax"; fail=1; }
done
if command -v shellcheck >/dev/null 2>&1; then
  if shellcheck -x -P SCRIPTDIR ./*.sh; then echo "ok: shellcheck"; else fail=1; fi
else
  echo "SKIPPED shellcheck (not installed)"
fi
for s in setup-demo.sh flash-sale.sh multi-event-load-test.sh tail-topics.sh chaos.sh; do
  [ -x "$s" ] || { echo "FAIL $s is not executable"; fail=1; continue; }
  out=$(./"$s" --help) || { echo "FAIL $s --help"; fail=1; continue; }
  [ -n "$out" ] || { echo "FAIL $s --help printed nothing"; fail=1; }
done
[ $fail = 0 ] && echo "ok: demo scripts pass static checks"

# setup-demo.sh's own logic (seeding, reuse on a second run) against the in-memory
# stand-in of the API (tests-deploy/postman_mock.py); the real stack: make up.
if command -v jq >/dev/null 2>&1; then
  port=18090
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  python3 "$root/tests-deploy/postman_mock.py" "$port" & mock=$!
  trap 'kill $mock 2>/dev/null' EXIT
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  gw="http://127.0.0.1:$port"
  if first=$(EVENTLY_GATEWAY=$gw ./setup-demo.sh --seed-only 2>&1) \
     && second=$(EVENTLY_GATEWAY=$gw ./setup-demo.sh --seed-only 2>&1); then
    published=$(curl -fsS "$gw/api/v1/events?per_page=100" | jq .total)
    created_again=$(printf '%s\n' "$second" | grep -cE ' ok +(registered|venue|event)' || true)
    if [ "$published" = 3 ] && [ "$created_again" = 0 ] && printf '%s' "$first" | grep -q "Evently demo is ready"; then
      echo "ok: setup-demo.sh seeds 3 published events + 1 draft, and a second run reuses them"
    else
      echo "FAIL setup-demo.sh: $published published events after two runs, $created_again things created again"
      fail=1
    fi
  else
    echo "FAIL setup-demo.sh against the stand-in API:"; printf '%s\n%s\n' "${first:-}" "${second:-}" | tail -n 20
    fail=1
  fi
else
  echo "SKIPPED setup-demo.sh run (jq not installed)"
fi
exit $fail
