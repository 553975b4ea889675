#!/bin/sh
# Runs before db (the first primary) starts: refuses to start it once
# db-standby was promoted, as it would come back as a second primary (the
# worker, listing db first, would write there and wait forever for a
# synchronous standby that follows the other); an empty data directory
# would make it a new, empty one. Passes when this server was made a
# standby (standby.signal, recovery.signal) and when db-standby is a
# standby. When db-standby does not answer there is nothing to compare
# with: with data of its own, db waits for it up to 30 s (both may be
# starting at once, as after a reboot), then starts and says so.
set -eu
for signal in standby.signal recovery.signal; do
  [ -f "$PGDATA/$signal" ] && exit 0
done
ask() {
  PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=3 timeout 10 \
    psql -X -h db-standby -U postgres -d postgres -Atqc 'SELECT pg_is_in_recovery()' 2>&1
}
started=$(date +%s)
until in_recovery=$(ask); do
  if [ ! -s "$PGDATA/PG_VERSION" ] || [ $(($(date +%s) - started)) -ge 30 ]; then
    echo "db-standby did not answer (${in_recovery:-no reply}): starting as the primary"
    exit 0
  fi
  sleep 2
done
[ "$in_recovery" = f ] || exit 0
cat >&2 <<MSG
refusing to start: db-standby was promoted and is the primary now; starting this server
as a primary would make a second one (its data in $PGDATA is the old primary's, or none).
Make it a standby of db-standby instead: clone it into this volume
  (pg_basebackup -h db-standby -U postgres -D $PGDATA -R -X stream, into an empty $PGDATA)
or rewind it (pg_rewind --source-server='host=db-standby user=postgres') and add
standby.signal with primary_conninfo pointing at db-standby; then start it again.
MSG
exit 1
