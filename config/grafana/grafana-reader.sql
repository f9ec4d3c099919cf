-- The read-only PostgreSQL role that Grafana's data source logs in as
-- (config/grafana/provisioning/datasources/postgres.yml). docker-compose's
-- `grafana-reader` one-shot runs this file with psql as the database owner
-- on every `up` of the monitoring profile, after `migrate`;
-- tests/integration/test_grafana_analytics.sh runs every panel of the
-- analytics dashboard as this role.
--
-- The role's name and password come from the environment (GRAFANA_PG_USER,
-- GRAFANA_PG_PASSWORD: psql's \getenv, so neither is on a command line).
-- Run again, it sets the password again: changing GRAFANA_PG_PASSWORD in
-- .env takes effect on the next `up`. The role may read every table and
-- view of the schema, present and future (the owner's default privileges),
-- and nothing else: its transactions are read-only by default and a
-- statement stops after 30 s, so a heavy ad-hoc query in Grafana's Explore
-- cannot hold the database.
\set ON_ERROR_STOP on
\getenv reader GRAFANA_PG_USER
\getenv reader_password GRAFANA_PG_PASSWORD
\if :{?reader}
\else
\set reader ''
\endif
\if :{?reader_password}
\else
\set reader_password ''
\endif
SELECT :'reader' <> '' AND :'reader_password' <> '' AS reader_set \gset
\if :reader_set
\else
DO $$BEGIN RAISE EXCEPTION 'GRAFANA_PG_USER and GRAFANA_PG_PASSWORD must be set'; END$$;
\endif

SELECT format('CREATE ROLE %I', :'reader')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L',
              :'reader', :'reader_password') \gexec
SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', :'reader') \gexec
SELECT format('ALTER ROLE %I SET statement_timeout = %L', :'reader', '30s') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'reader') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'reader') \gexec
SELECT format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', :'reader') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I', :'reader') \gexec
\echo grafana-reader.sql: role :reader can read the schema
