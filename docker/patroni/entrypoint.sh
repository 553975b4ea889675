#!/bin/sh
# One image, three roles for the replicated data tier:
#   (no argument) | patroni   this node's Postgres, run by Patroni
#   etcd [FLAGS...]           a member of the etcd cluster Patroni keeps its state in (compose)
#   health patroni|etcd       exit 0 when the local Patroni or etcd says it is healthy
# Anything else runs as given.
#
# Patroni's variables (PATRONI_*) win; the rest default from the official
# postgres image's own: POSTGRES_PASSWORD is the superuser's password and, unless
# PATRONI_REPLICATION_PASSWORD is set, the replication user's; PGDATA is the
# data directory; the node is named after the host.
set -eu

role=${1:-patroni}
[ $# -gt 0 ] && shift

case $role in
  patroni) ;;
  etcd) exec etcd "$@" ;;
  health)
    case ${1:-patroni} in
      patroni) url=http://127.0.0.1:8008/health ;;
      etcd) url=http://127.0.0.1:2379/health ;;
      *) echo "health: patroni or etcd, not '$1'" >&2; exit 2 ;;
    esac
    exec python3 -c 'import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except Exception as error:
    sys.exit(f"not healthy: {error}")' "$url" ;;
  *) exec "$role" "$@" ;;
esac

if [ -z "${PATRONI_SUPERUSER_PASSWORD:-${POSTGRES_PASSWORD:-}}" ]; then
  echo "error: set POSTGRES_PASSWORD (or PATRONI_SUPERUSER_PASSWORD): the superuser's password" >&2
  exit 1
fi
host=$(hostname)
export PATRONI_NAME="${PATRONI_NAME:-$host}"
export PATRONI_SUPERUSER_USERNAME="${PATRONI_SUPERUSER_USERNAME:-postgres}"
export PATRONI_SUPERUSER_PASSWORD="${PATRONI_SUPERUSER_PASSWORD:-$POSTGRES_PASSWORD}"
export PATRONI_REPLICATION_USERNAME="${PATRONI_REPLICATION_USERNAME:-replicator}"
export PATRONI_REPLICATION_PASSWORD="${PATRONI_REPLICATION_PASSWORD:-$PATRONI_SUPERUSER_PASSWORD}"
export PATRONI_POSTGRESQL_DATA_DIR="${PATRONI_POSTGRESQL_DATA_DIR:-$PGDATA}"
export PATRONI_POSTGRESQL_BIN_DIR="${PATRONI_POSTGRESQL_BIN_DIR:-$(dirname "$(command -v postgres)")}"
export PATRONI_POSTGRESQL_CONNECT_ADDRESS="${PATRONI_POSTGRESQL_CONNECT_ADDRESS:-$host:5432}"
export PATRONI_RESTAPI_CONNECT_ADDRESS="${PATRONI_RESTAPI_CONNECT_ADDRESS:-$host:8008}"
# The data directory's parent must be writable: Patroni moves a directory it
# gives up on aside before cloning again.
mkdir -p "$(dirname "$PATRONI_POSTGRESQL_DATA_DIR")"
exec patroni "${PATRONI_CONFIG:-/etc/patroni/patroni.yml}"
