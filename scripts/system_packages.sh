#!/usr/bin/env bash
# The Debian packages cluster mode (and its test) needs: PostgreSQL and Redis servers;
# and Chromium for the browser tests of the Airflow UI (Playwright cannot download one here).
# Installs what is missing when run as root; otherwise says what to install, in one line.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Cluster mode and the browser tests need ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' (or run make as root)." >&2
  exit 1
fi
echo "Installing ${missing[*]} (Debian packages)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged servers on their default ports; the project runs its own, so stop those.
for service in redis-server postgresql; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  elif service "$service" status >/dev/null 2>&1; then
    service "$service" stop >/dev/null 2>&1 || true
  fi
done
echo "Installed ${missing[*]}."
