#!/usr/bin/env bash
# Runs the whole stack on this machine without Docker: Redis and Postgres from
# the OS packages (installed if missing), then vote, worker and result built in
# release mode. Ctrl-C stops everything. Data lives in .run/ (delete it to reset).
#
# Ports: VOTE_PORT (8080), RESULT_PORT (8081), WORKER_PORT (8082),
#        REDIS_PORT (16379), PG_PORT (15432).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

VOTE_PORT=${VOTE_PORT:-8080}
RESULT_PORT=${RESULT_PORT:-8081}
WORKER_PORT=${WORKER_PORT:-8082}
REDIS_PORT=${REDIS_PORT:-16379}
PG_PORT=${PG_PORT:-15432}
RUN_DIR="$PWD/.run"

ensure_packages redis-server:redis-server redis-cli:redis-tools postgres:postgresql

echo "==> building the services (release)"
cargo build --release --bins

mkdir -p "$RUN_DIR/redis" "$RUN_DIR/logs"
PG_BIN=$(pg_bin_dir)
as_postgres=()
if [ "$(id -u)" -eq 0 ]; then
  as_postgres=(runuser -u postgres --)
  chown postgres:postgres "$RUN_DIR"
fi
if [ ! -f "$RUN_DIR/pg/PG_VERSION" ]; then
  echo "==> creating the Postgres cluster in $RUN_DIR/pg"
  mkdir -p "$RUN_DIR/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$RUN_DIR/pg"
  "${as_postgres[@]}" "$PG_BIN/initdb" -D "$RUN_DIR/pg" -U postgres --auth=trust -E UTF8 >/dev/null
fi

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  exit 0
}
trap stop_all INT TERM EXIT

echo "==> starting Redis on 127.0.0.1:$REDIS_PORT and Postgres on 127.0.0.1:$PG_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
  --appendonly yes --daemonize yes --logfile "$RUN_DIR/logs/redis.log"
"${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -w -l "$RUN_DIR/pg/postgres.log" \
  -o "-p $PG_PORT -k $RUN_DIR/pg -c listen_addresses=127.0.0.1" start >/dev/null

export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PG_PORT/postgres"
for service in vote worker result; do
  case $service in
    vote) port=$VOTE_PORT ;;
    result) port=$RESULT_PORT ;;
    worker) port=$WORKER_PORT ;;
  esac
  PORT=$port "./target/release/$service" >"$RUN_DIR/logs/$service.log" 2>&1 &
  pids+=($!)
done

for port in "$VOTE_PORT" "$RESULT_PORT" "$WORKER_PORT"; do
  for _ in $(seq 1 100); do
    PORT=$port ./target/release/vote healthcheck 2>/dev/null && break
    sleep 0.1
  done
done

cat <<INFO

  The voting app is running:
    vote    http://localhost:$VOTE_PORT
    result  http://localhost:$RESULT_PORT
    worker  http://localhost:$WORKER_PORT/metrics
  Logs are in $RUN_DIR/logs. Press Ctrl-C to stop.

INFO
wait -n "${pids[@]}" || true
echo "==> a service stopped; see $RUN_DIR/logs"
