#!/bin/sh
# Runs before db (the first primary) starts: refuses to start it once
# db-standby was promoted, as it would come back as a second primary (the
# worker, listing db first, would write there and wait forever for a
# synchronous standby that follows the other). Passes on the first start (no
# data yet), when this server was made a standby again (standby.signal), and
# when db-standby does not answer (nothing to compare with).
set -eu
[ -s "$PGDATA/PG_VERSION" ] || exit 0
[ -f "$PGDATA/standby.signal" ] && exit 0
in_recovery=$(PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=3 psql -h db-standby \
  -U postgres -d postgres -Atqc 'SELECT pg_is_in_recovery()' 2>/dev/null) || true
[ "$in_recovery" = f ] || exit 0
cat >&2 <<MSG
refusing to start: db-standby was promoted and is the primary now; this server's
data ($PGDATA) is the old primary's and would make it a second primary.
Make it a standby of db-standby: delete its volume and clone db-standby, or
rewind it (pg_rewind --source-server='host=db-standby user=postgres') and add
standby.signal with primary_conninfo pointing at db-standby.
MSG
exit 1
