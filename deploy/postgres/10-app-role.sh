#!/bin/sh
# Run once by the postgres image when it creates the database (/docker-entrypoint-initdb.d).
# $POSTGRES_USER owns the database and runs the migrations, so it owns every table and the audit
# triggers. Web, worker and beat connect as releasedeck_app: no superuser, owner of nothing, so
# it can neither disable nor drop a trigger; it reads and writes rows, and on the audit tables
# the triggers refuse UPDATE, DELETE and TRUNCATE to it.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" \
  -v app_password="${RELEASEDECK_APP_DB_PASSWORD:?set RELEASEDECK_APP_DB_PASSWORD}" <<'SQL'
CREATE ROLE releasedeck_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS PASSWORD :'app_password';
GRANT CONNECT ON DATABASE :"db" TO releasedeck_app;
GRANT USAGE ON SCHEMA public TO releasedeck_app;
-- Tables and sequences the owner's migrations create from now on (no TRUNCATE, no REFERENCES,
-- no TRIGGER: those are the owner's).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO releasedeck_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO releasedeck_app;
SQL
