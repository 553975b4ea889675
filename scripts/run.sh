#!/usr/bin/env bash
# Runs the whole stack on this machine without Docker: Redis and Postgres from
# the OS packages (installed if missing), then vote, worker and result built in
# release mode. Ctrl-C stops everything. Data lives in .run/ (delete it to reset).
#
# Ports: VOTE_PORT (8080), RESULT_PORT (8081), WORKER_PORT (8082),
#        VOTE_METRICS_PORT (8090) and RESULT_METRICS_PORT (8091) for their
#        /readyz and /metrics, REDIS_PORT (16379), PG_PORT (15432).
# Also: RUN_DIR (.run) for the data and logs; BIN_DIR to run binaries built
# elsewhere instead of building them (target/release by default).
#
# Exits 0 after Ctrl-C (or SIGTERM, or the terminal closing), saying it stopped
# on request; 1 when something could not start or stopped by itself (its log's
# last lines are printed). A second run on the same RUN_DIR refuses
# to start and leaves the first one alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

VOTE_PORT=${VOTE_PORT:-8080}
RESULT_PORT=${RESULT_PORT:-8081}
WORKER_PORT=${WORKER_PORT:-8082}
VOTE_METRICS_PORT=${VOTE_METRICS_PORT:-8090}
RESULT_METRICS_PORT=${RESULT_METRICS_PORT:-8091}
REDIS_PORT=${REDIS_PORT:-16379}
PG_PORT=${PG_PORT:-15432}
RUN_DIR=$(mkdir -p "${RUN_DIR:-.run}" && cd "${RUN_DIR:-.run}" && pwd)
LOGS="$RUN_DIR/logs"

fail() {
  echo "run.sh: $*" >&2
  exit 1
}

# One stack per RUN_DIR: the lock is held for as long as this script runs.
exec 9>"$RUN_DIR/lock"
if ! flock -n 9; then
  fail "another ./scripts/run.sh is running on $RUN_DIR (pid $(cat "$RUN_DIR/pid" 2>/dev/null || echo '?')); stop it first (Ctrl-C in its terminal), or give this one another RUN_DIR and other ports"
fi
echo $$ >"$RUN_DIR/pid"

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for pair in "VOTE_PORT=$VOTE_PORT" "RESULT_PORT=$RESULT_PORT" "WORKER_PORT=$WORKER_PORT" \
            "VOTE_METRICS_PORT=$VOTE_METRICS_PORT" "RESULT_METRICS_PORT=$RESULT_METRICS_PORT" \
            "REDIS_PORT=$REDIS_PORT" "PG_PORT=$PG_PORT"; do
  if port_taken "${pair#*=}"; then
    fail "port ${pair#*=} is already taken by another program; free it or choose another with ${pair%%=*}=<port>"
  fi
done

ensure_packages redis-server:redis-server redis-cli:redis-tools postgres:postgresql

if [ -n "${BIN_DIR:-}" ]; then
  BIN_DIR=$(cd "$BIN_DIR" && pwd)
else
  echo "==> building the services (release)"
  cargo build --release --bins
  BIN_DIR="$PWD/target/release"
fi

# Each start keeps the previous run's logs as *.log.1.
mkdir -p "$RUN_DIR/redis" "$LOGS"
for log in "$LOGS"/*.log; do
  [ -e "$log" ] && mv -f "$log" "$log.1"
done
PG_BIN=$(pg_bin_dir)
as_postgres=()
if [ "$(id -u)" -eq 0 ]; then
  as_postgres=(runuser -u postgres --)
  chown postgres:postgres "$RUN_DIR"
  touch "$LOGS/postgres.log"
  chown postgres:postgres "$LOGS/postgres.log"
fi
if [ ! -f "$RUN_DIR/pg/PG_VERSION" ]; then
  echo "==> creating the Postgres cluster in $RUN_DIR/pg"
  mkdir -p "$RUN_DIR/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$RUN_DIR/pg"
  "${as_postgres[@]}" "$PG_BIN/initdb" -D "$RUN_DIR/pg" -U postgres --auth=trust -E UTF8 >/dev/null
fi

# What this run started, and only that, is stopped on the way out.
pids=()
names=()
redis_started=""
pg_started=""
stop_all() {
  local code=${1:-0} why=${2:-}
  trap - INT TERM HUP EXIT
  echo
  echo "==> stopping${why:+ on request ($why)}"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  if [ -n "$pg_started" ]; then
    "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -n "$redis_started" ]; then
    redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  fi
  rm -f "$RUN_DIR/pid"
  exit "$code"
}
trap 'stop_all 0 Ctrl-C' INT
trap 'stop_all 0 SIGTERM' TERM
trap 'stop_all 0 "the terminal closed"' HUP
trap 'stop_all $?' EXIT

# Says which part did not come up, with the end of its log, and stops.
gave_up() {
  echo "run.sh: $1 did not start; the end of $2:" >&2
  tail -n 15 "$2" >&2 || true
  stop_all 1
}

echo "==> starting Redis on 127.0.0.1:$REDIS_PORT and Postgres on 127.0.0.1:$PG_PORT"
# (fd 9, the lock, is closed for every child: a server left behind must not hold it.)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
  --appendonly yes --daemonize yes --logfile "$LOGS/redis.log" 9>&- || gave_up Redis "$LOGS/redis.log"
redis_started=yes
"${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -w -l "$LOGS/postgres.log" \
  -o "-p $PG_PORT -k $RUN_DIR/pg -c listen_addresses=127.0.0.1" start >/dev/null 9>&- ||
  gave_up Postgres "$LOGS/postgres.log"
pg_started=yes

export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DATABASE_URL="postgres://postgres:postgres@127.0.0.1:$PG_PORT/postgres"
# Each service runs in a session of its own (setsid), so a Ctrl-C in the
# terminal reaches this script only: the services would otherwise get the same
# SIGINT, start their drain and could end before this script's trap ran,
# which would then read as a service that stopped by itself. This script stops
# them itself, with SIGTERM, on its way out.
for service in vote worker result; do
  case $service in
    vote) port=$VOTE_PORT metrics=$VOTE_METRICS_PORT ;;
    result) port=$RESULT_PORT metrics=$RESULT_METRICS_PORT ;;
    worker) port=$WORKER_PORT metrics= ;;
  esac
  setsid env PORT="$port" ${metrics:+METRICS_PORT="$metrics"} "$BIN_DIR/$service" \
    >"$LOGS/$service.log" 2>&1 9>&- &
  pids+=($!)
  names+=("$service:$port")
done

# Healthy means this run's process answers: it is still alive and its port
# answers /healthz. Ten seconds each at most.
for i in "${!pids[@]}"; do
  service=${names[$i]%%:*}
  port=${names[$i]#*:}
  for _ in $(seq 1 100); do
    kill -0 "${pids[$i]}" 2>/dev/null || gave_up "$service" "$LOGS/$service.log"
    PORT=$port "$BIN_DIR/vote" healthcheck 2>/dev/null && continue 2
    sleep 0.1
  done
  gave_up "$service (no answer on port $port within 10 s)" "$LOGS/$service.log"
done

cat <<INFO

  The voting app is running:
    vote    http://localhost:$VOTE_PORT      (metrics http://localhost:$VOTE_METRICS_PORT/metrics)
    result  http://localhost:$RESULT_PORT      (metrics http://localhost:$RESULT_METRICS_PORT/metrics)
    worker  http://localhost:$WORKER_PORT/metrics
  Logs (vote, worker, result, redis, postgres) are in $LOGS;
  the previous run's are beside them as *.log.1. Press Ctrl-C to stop.

INFO
wait -n "${pids[@]}" || true
echo "run.sh: a service stopped by itself; see $LOGS" >&2
stop_all 1
