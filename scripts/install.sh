#!/usr/bin/env bash
# Installs everything the platform needs on a fresh Debian/Ubuntu machine: the system packages its
# local servers come from, then the locked Python environment in .venv. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

system_packages=()
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && ! command -v postgres >/dev/null; then
  system_packages+=(postgresql)
fi
# Prometheus scrapes the local stack, the Pushgateway takes the Dagster runs' metrics, the exporter
# PostgreSQL's; Chromium is the real browser of the dashboard's end-to-end test.
command -v prometheus >/dev/null || system_packages+=(prometheus)
command -v prometheus-pushgateway >/dev/null || system_packages+=(prometheus-pushgateway)
command -v prometheus-postgres-exporter >/dev/null || system_packages+=(prometheus-postgres-exporter)
command -v chromium >/dev/null || system_packages+=(chromium)
# Node.js runs the local stack's S3 endpoint (s3rver, from npm).
command -v npm >/dev/null || system_packages+=(nodejs npm)
if ((${#system_packages[@]})); then
  echo "installing system packages: ${system_packages[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${system_packages[@]}"
  # The packages start system-wide services on the ports the local stack uses; `up` runs its own.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for service in prometheus prometheus-pushgateway prometheus-postgres-exporter; do
      if [[ " ${system_packages[*]} " == *" $service "* ]]; then
        $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "installing uv (Python package manager)"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
python3 -m uv sync --frozen --quiet
# The local S3 endpoint, locked in its package-lock.json.
npm ci --prefix pricing_platform/localstack/s3rver --no-audit --no-fund --loglevel=error
# dbt's manifest is built here, once, so loading the Dagster definitions never has to parse the project.
.venv/bin/pricing-platform dbt prepare
echo "environment ready: .venv ($(.venv/bin/python --version))"
