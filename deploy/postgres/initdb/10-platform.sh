#!/bin/sh
# Run by the postgres image once, when it initialises an empty data directory (/docker-entrypoint-initdb.d).
# Creates the platform's roles and databases. Passwords come from the container's environment (deploy/.env
# through compose.yaml), never from this file; psql quotes them as literals (:'name').
#
#   pricing           owner of the `pricing` (platform) and `dagster` (Dagster storage) databases; no
#                     CREATEROLE (on PostgreSQL 15 it would let the role grant itself server-side roles)
#   pricing_dashboard the dashboard's read-only role; migration 0004 grants what it may read
#   pricing_approver  may only execute approve_recommendation (granted by migration 0004)
#   pricing_exporter  the PostgreSQL exporter: member of pg_monitor, nothing else
#
# The image sources a non-executable script into its entrypoint, so this one uses no `set` of its own.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  -v owner_password="$PLATFORM_DB_PASSWORD" -v exporter_password="$EXPORTER_DB_PASSWORD" \
  -v dashboard_password="$DASHBOARD_DB_PASSWORD" -v approvals_password="$APPROVALS_DB_PASSWORD" <<'SQL'
CREATE ROLE pricing LOGIN PASSWORD :'owner_password';
CREATE ROLE pricing_dashboard LOGIN PASSWORD :'dashboard_password';
CREATE ROLE pricing_approver LOGIN PASSWORD :'approvals_password';
CREATE DATABASE pricing OWNER pricing;
CREATE DATABASE dagster OWNER pricing;
CREATE ROLE pricing_exporter LOGIN PASSWORD :'exporter_password' IN ROLE pg_monitor;
SQL
