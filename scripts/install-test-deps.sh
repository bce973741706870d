#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine of this project's kind:
# PostgreSQL 15 + pgvector (built from Debian trixie's source package; pgvector is not packaged for
# bookworm) and Chromium for the Playwright browser tests. Idempotent: a second run does nothing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PGV=15
need=()
for p in postgresql-$PGV postgresql-server-dev-$PGV make gcc chromium fonts-liberation; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  echo "install-test-deps: apt-get install ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -f /usr/lib/postgresql/$PGV/lib/vector.so ]; then
  echo "install-test-deps: building pgvector from source"
  W=$(mktemp -d); chmod 755 "$W"; mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/parts"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$W/parts/trixie-src.sources"
  O=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$W/parts" -o Dir::State::Lists="$W/lists" -o Dir::Cache="$W/cache")
  apt-get "${O[@]}" update -qq
  (cd "$W" && apt-get "${O[@]}" -qq source --download-only pgvector && tar xzf pgvector_*.orig.tar.gz)
  make -s -C "$W"/pgvector-*/ -j"$(nproc)" PG_CONFIG=/usr/lib/postgresql/$PGV/bin/pg_config OPTFLAGS="" >/dev/null
  make -s -C "$W"/pgvector-*/ install PG_CONFIG=/usr/lib/postgresql/$PGV/bin/pg_config >/dev/null
  rm -rf "$W"
fi
pg_lsclusters -h | grep -q "^$PGV main" || pg_createcluster $PGV main >/dev/null
pg_ctlcluster $PGV main status >/dev/null 2>&1 || pg_ctlcluster $PGV main start
# A superuser for the test harness; the tests create their own databases and an application role
# that is neither owner nor superuser, so row-level security is really exercised.
su postgres -c "psql -qtAc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='keystone_test') THEN CREATE ROLE keystone_test LOGIN SUPERUSER PASSWORD 'keystone_test'; END IF; END\\\$\\\$;\"" >/dev/null
echo "install-test-deps: PostgreSQL $PGV + pgvector up on 127.0.0.1:5432; chromium at $(command -v chromium)"
