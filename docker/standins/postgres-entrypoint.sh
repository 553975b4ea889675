#!/bin/bash
# The part of the official postgres image's entrypoint contract that the
# voting app uses, for a stand-in built from Debian's packages:
# - POSTGRES_PASSWORD is required for a new database (or
#   POSTGRES_HOST_AUTH_METHOD=trust); POSTGRES_USER defaults to postgres and
#   POSTGRES_DB to POSTGRES_USER;
# - an empty PGDATA is initialised (initdb) on first start; a PGDATA that
#   already holds a cluster is used as it is and the variables are ignored;
# - started as root it takes ownership of PGDATA and drops to the postgres
#   user; started as another user (uid 70 in the manifests) it runs as that;
# - remote connections need the password (scram-sha-256), local ones do not;
# - arguments starting with "-" go to postgres.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

: "${PGDATA:?PGDATA must be set}"
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

mkdir -p "$PGDATA"
chmod 700 "$PGDATA" 2>/dev/null || true

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  POSTGRES_USER=${POSTGRES_USER:-postgres}
  POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "error: the database is uninitialised and POSTGRES_PASSWORD is not set." >&2
    echo "       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust to allow" >&2
    echo "       every connection without a password)." >&2
    exit 1
  fi
  echo "initialising a new database in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  password=()
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    password=(--pwfile="$pwfile")
  fi
  initdb --username="$POSTGRES_USER" "${password[@]}" \
    --auth-local=trust --auth-host="$auth" -D "$PGDATA" >/dev/null
  rm -f "${pwfile:-}"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all $auth" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    createdb --username="$POSTGRES_USER" "$POSTGRES_DB"
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  fi
  echo "database initialised"
fi

exec "$@"
