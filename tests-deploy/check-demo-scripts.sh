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
exit $fail
