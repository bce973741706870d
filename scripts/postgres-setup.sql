-- Keystone's PostgreSQL database, its owner role and its application role (PostgreSQL 15 or later, pgvector
-- installed on the server). Run once, as a superuser, then `--migrate` as the owner (README: PostgreSQL + pgvector):
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v db=keystone \
--     -v owner=keystone_owner -v owner_password='…' -v app=keystone_app -v app_password='…' \
--     -f scripts/postgres-setup.sql
--
-- tests/Keystone.Web.Tests/Hosting/PostgresSetupTests.cs runs this file as it stands (it understands the psql
-- variables :"name" and :'name' and the \connect line, nothing else: keep the file to those).

-- The owner: owns the database and, through PostgreSQL 15's pg_database_owner, its public schema, where migrations
-- create the tables (since PostgreSQL 15 other roles may not create in public: the "42501: permission denied for
-- schema public" of a database the owner role does not own). It also creates Hangfire's schema. Not a superuser, so
-- forced row-level security applies to it as well.
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;

-- The application: neither owner nor superuser and never bypasses row-level security, so the tenant policies hold for
-- every query the instances make. `--migrate` grants it its table rights. Optionally cap what all instances together
-- may open (README: connection arithmetic): ALTER ROLE keystone_app CONNECTION LIMIT 90;
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;

CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";

\connect :"db"

-- pgvector is not a trusted extension: a superuser creates it in the database before the migrations run.
CREATE EXTENSION IF NOT EXISTS vector;
GRANT USAGE ON SCHEMA public TO :"app";

-- Full-text search under forced row-level security (decision 0055): PostgreSQL applies a table's policy before any
-- condition whose function is not LEAKPROOF, and the match operator `tsvector @@ tsquery` (ts_match_vq) is not marked
-- so, which keeps the GIN indexes of knowledge and trace search from serving it (every row of the tenant is read
-- instead). Its result is a boolean computed from its two arguments and it raises no error that depends on a row's
-- words, so it is marked here, in this database only; the policies still filter every row. Only a superuser may mark a
-- function LEAKPROOF: where this step cannot (a managed server), it warns, search still works (slower), and
-- `--migrate` warns too.
DO $$BEGIN ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF; EXCEPTION
  WHEN insufficient_privilege THEN RAISE WARNING 'ts_match_vq could not be marked LEAKPROOF (needs a superuser): full-text search will not use its GIN indexes under row-level security'; END
$$;
