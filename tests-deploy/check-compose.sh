#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine:
#   1. `docker-compose config` accepts it (default and `tools` profile),
#   2. tests-deploy/check_compose.py checks the resolved file: no scalable service has a
#      fixed name or host port, only the gateway and tool UIs are published, health
#      checks and start-up ordering, one database per service, Prometheus discovery,
#      and the Dockerfile's shape.
# Needs Debian's docker-compose package (it brings python3-yaml).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "check-compose: docker-compose is not installed (apt-get install -y docker-compose)" >&2
  exit 2
fi
# The Debian package's interpreter has PyYAML; fall back to whatever python3 is on PATH.
py=/usr/bin/python3
"$py" -c 'import yaml' 2>/dev/null || py=python3

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# No .env from a developer's machine may change what is checked.
export COMPOSE_PROJECT_NAME=evently
docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml --profile tools config -q
docker-compose -f docker-compose.yml config > "$tmp/resolved.yml"
echo "ok: docker-compose config accepts docker-compose.yml"

# Scaling is a property of the file: every service a scale flag names must resolve.
docker-compose -f docker-compose.yml config --services > "$tmp/services"
for svc in auth-service event-service booking-service waitlist-service notification-service; do
  grep -qx "$svc" "$tmp/services" || { echo "FAIL $svc is not a compose service" >&2; exit 1; }
done

"$py" tests-deploy/check_compose.py "$tmp/resolved.yml" "$root"
