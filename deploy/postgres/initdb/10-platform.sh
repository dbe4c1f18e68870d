#!/bin/sh
# Run by the postgres image once, when it initialises an empty data directory (/docker-entrypoint-initdb.d).
# Creates the platform's roles and databases. Passwords come from the container's environment (deploy/.env
# through compose.yaml), never from this file; psql quotes them as literals (:'name').
#
#   pricing           owner of the `pricing` (platform) and `dagster` (Dagster storage) databases; CREATEROLE
#                     because migration 0004 creates the dashboard's roles and `db migrate` sets their
#                     passwords (pricing_dashboard, pricing_approver)
#   pricing_exporter  the PostgreSQL exporter: member of pg_monitor, nothing else
#
# The image sources a non-executable script into its entrypoint, so this one uses no `set` of its own.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
  -v owner_password="$PLATFORM_DB_PASSWORD" -v exporter_password="$EXPORTER_DB_PASSWORD" <<'SQL'
CREATE ROLE pricing LOGIN CREATEROLE PASSWORD :'owner_password';
CREATE DATABASE pricing OWNER pricing;
CREATE DATABASE dagster OWNER pricing;
CREATE ROLE pricing_exporter LOGIN PASSWORD :'exporter_password' IN ROLE pg_monitor;
SQL
