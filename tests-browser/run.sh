#!/usr/bin/env bash
# Headless Chromium checks of the realtime monitor, the topic dashboard and Mailpit.
# Needs the full stack running (`make up`); GATEWAY_URL points at its gateway.
#
#   tests-browser/run.sh                      # against http://127.0.0.1:8080
#   GATEWAY_URL=http://127.0.0.1:18080 tests-browser/run.sh
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM_PATH" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing Debian's chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "run.sh: no browser at $CHROMIUM_PATH: apt-get install -y chromium (or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi
command -v node >/dev/null || { echo "run.sh: node is missing (apt-get install -y nodejs npm)" >&2; exit 1; }

# playwright-core never downloads a browser; it drives the one above.
npm ci --no-audit --no-fund --loglevel=error

export CHROMIUM_PATH GATEWAY_URL=${GATEWAY_URL:-http://127.0.0.1:8080} MAILPIT_URL=${MAILPIT_URL:-http://127.0.0.1:8025}
echo "run.sh: testing the pages of $GATEWAY_URL with $("$CHROMIUM_PATH" --version 2>/dev/null || echo chromium)" >&2
exec node --test --test-reporter=spec --test-concurrency=1 monitor.test.mjs
