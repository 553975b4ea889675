#!/usr/bin/env bash
# The benchmark harness: builds in release mode, starts its own Redis and
# Postgres (fsync on), measures each baseline and our services side by side in
# the same run, prints a table (figure, ours, baseline, ratio) and writes it as
# JSON to target/bench/results.json. About 5-8 minutes on 2 cores.
#
#   BENCH_QUICK=1 scripts/bench.sh    # smaller sizes, for a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_packages redis-server:redis-server redis-benchmark:redis-tools postgres:postgresql wrk:wrk

QUICK=${BENCH_QUICK:-}
DRAIN_VOTES=${DRAIN_VOTES:-$([ -n "$QUICK" ] && echo 100000 || echo 1000000)}
BIG_VOTERS=${BIG_VOTERS:-$([ -n "$QUICK" ] && echo 1000000 || echo 10000000)}
WRK_SECONDS=${WRK_SECONDS:-$([ -n "$QUICK" ] && echo 5 || echo 15)}
VIEWERS=${VIEWERS:-1000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "==> building (release)"
cargo build --release --bins -q
BIN=$PWD/target/release
OUT=$PWD/target/bench
rm -rf "$OUT" && mkdir -p "$OUT"
FIGURES=$OUT/figures.tsv
: >"$FIGURES"
phase() { echo "==> [$(( SECONDS / 60 ))m$(( SECONDS % 60 ))s] $*"; }
figure() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$FIGURES"; }
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true; done
  [ -n "${PG_BIN:-}" ] && "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$OUT/pg" -m immediate stop >/dev/null 2>&1 || true
  redis-cli -p "${REDIS_PORT:-0}" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

REDIS_PORT=$(free_port)
PG_PORT=$(free_port)
PG_BIN=$(pg_bin_dir)
as_postgres=()
mkdir -p "$OUT/pg" "$OUT/redis"
if [ "$(id -u)" -eq 0 ]; then as_postgres=(runuser -u postgres --); chown -R postgres:postgres "$OUT/pg"; fi
echo "==> starting Redis :$REDIS_PORT and Postgres :$PG_PORT (fsync on)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$OUT/redis" --save "" --appendonly no \
  --daemonize yes --logfile "$OUT/redis/redis.log"
"${as_postgres[@]}" "$PG_BIN/initdb" -D "$OUT/pg" -U postgres --auth=trust -E UTF8 >/dev/null
"${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$OUT/pg" -w -l "$OUT/pg/log" \
  -o "-p $PG_PORT -k $OUT/pg -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB -c max_connections=200" start >/dev/null
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
PSQL=(psql -q -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres)
export RUST_LOG=warn

start() { # start NAME PORT [ENV=VALUE...]
  local name=$1 port=$2; shift 2
  env PORT="$port" "$@" "$BIN/$name" >"$OUT/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do PORT=$port "$BIN/vote" healthcheck 2>/dev/null && return 0; sleep 0.1; done
  echo "$name did not start"; cat "$OUT/$name.log"; exit 1
}

# --- vote: POST / throughput against redis-benchmark RPUSH ------------------
phase "baseline: redis-benchmark RPUSH, 50 connections, unpipelined"
rb=$(redis-benchmark -p "$REDIS_PORT" -c 50 -n 300000 -P 1 -t rpush --csv | awk -F'"' '/RPUSH/ { print $4 }')
VOTE_PORT=$(free_port)
start vote "$VOTE_PORT"
VOTE_PID=${pids[-1]}
vote_idle=$(rss "$VOTE_PID")
phase "vote: wrk POST /, 50 connections, ${WRK_SECONDS}s"
wrk -t2 -c50 -d"${WRK_SECONDS}s" --latency -s bench/post.lua "http://127.0.0.1:$VOTE_PORT/" >"$OUT/wrk.txt" &
wrk_pid=$!
sleep $((WRK_SECONDS / 2))
vote_loaded=$(rss "$VOTE_PID")
wait "$wrk_pid"
cat "$OUT/wrk.txt"
vote_rps=$(awk '/^Requests\/sec/ { print $2 }' "$OUT/wrk.txt")
vote_p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; print v }' "$OUT/wrk.txt")
vote_errors=$(awk '/Non-2xx|Socket errors/ { print }' "$OUT/wrk.txt")
figure "vote POST / requests/s (50 conn)" "$vote_rps" "$rb" "req/s vs RPUSH/s" ">=0.5" "${vote_errors:-no errors}"
figure "vote POST / p99 latency" "$vote_p99" "" "ms" "-" "wrk --latency"
queued=$(redis-cli -p "$REDIS_PORT" llen votes)
echo "    votes queued by the load: $queued"

# --- worker: draining queued votes against pgbench 1,000-row upserts --------
phase "schema"
start worker "$(free_port)" WORKER_ID=schema
until [ "$("${PSQL[@]}" -t -A -c "SELECT to_regclass('vote_counts') IS NOT NULL")" = t ]; do sleep 0.1; done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
"${PSQL[@]}" -c "TRUNCATE votes"
phase "baseline: pgbench 1,000-row upserts into votes, 1 client, 15 s"
"$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 1 -T 15 -f bench/upsert.sql postgres >"$OUT/pgbench.txt" 2>&1
pg_tps=$(awk '/^tps/ { print $3; exit }' "$OUT/pgbench.txt")
pg_rows=$(awk -v t="$pg_tps" 'BEGIN { printf "%.0f", t * 1000 }')
"${PSQL[@]}" -c "TRUNCATE votes"
phase "worker: draining $DRAIN_VOTES queued votes"
worker_rate=$("$BIN/bench" drain --redis "$REDIS_URL" --database "$DATABASE_URL" --worker-bin "$BIN/worker" \
  --votes "$DRAIN_VOTES" --rss-out "$OUT/worker_rss")
stored=$("${PSQL[@]}" -t -A -c "SELECT count(*) FROM votes")
figure "worker drain votes/s ($DRAIN_VOTES queued)" "$worker_rate" "$pg_rows" "votes/s vs pgbench rows/s" ">=0.5" "stored $stored rows"

# --- result: tally cost at 1,000 vs many voters; live latency ---------------
phase "result: tally cost"
"${PSQL[@]}" -c "TRUNCATE votes"
"${PSQL[@]}" -c "INSERT INTO votes (id, vote) SELECT 's' || g, CASE WHEN g % 3 = 0 THEN 'b' ELSE 'a' END FROM generate_series(1, 1000) g"
"$BIN/bench" tally --database "$DATABASE_URL" >"$OUT/tally_small.txt"
echo "    filling to $BIG_VOTERS voters"
step=1000000
for ((from = 1001; from <= BIG_VOTERS; from += step)); do
  to=$((from + step - 1)); [ "$to" -gt "$BIG_VOTERS" ] && to=$BIG_VOTERS
  "${PSQL[@]}" -c "INSERT INTO votes (id, vote) SELECT 's' || g, CASE WHEN g % 3 = 0 THEN 'b' ELSE 'a' END FROM generate_series($from, $to) g"
done
"$BIN/bench" tally --database "$DATABASE_URL" >"$OUT/tally_big.txt"
small_ours=$(awk '/^ours_ms/ { print $2 }' "$OUT/tally_small.txt")
big_ours=$(awk '/^ours_ms/ { print $2 }' "$OUT/tally_big.txt")
small_orig=$(awk '/^original_ms/ { print $2 }' "$OUT/tally_small.txt")
big_orig=$(awk '/^original_ms/ { print $2 }' "$OUT/tally_big.txt")
figure "tally query at $BIG_VOTERS vs 1000 voters" "$big_ours" "$small_ours" "ms (ours at big / ours at 1000)" "<=3" "flat: does not grow with voters"
figure "tally at $BIG_VOTERS voters: ours vs original" "$big_ours" "$big_orig" "ms (ours / original GROUP BY)" "<=0.01" "original at 1000: ${small_orig} ms"

phase "result: live latency with $VIEWERS viewers"
start worker "$(free_port)" WORKER_ID=live
RESULT_PORT=$(free_port)
start result "$RESULT_PORT"
RESULT_PID=${pids[-1]}
result_idle=$(rss "$RESULT_PID")
"$BIN/bench" live --vote "http://127.0.0.1:$VOTE_PORT" --result "http://127.0.0.1:$RESULT_PORT" \
  --viewers "$VIEWERS" --samples 30 --result-pid "$RESULT_PID" >"$OUT/live.txt"
figure "vote POST to screen p50, $VIEWERS viewers" "$(awk '/^p50_ms/ { print $2 }' "$OUT/live.txt")" "" "ms" "-" "SSE via LISTEN/NOTIFY"
figure "vote POST to screen p99, $VIEWERS viewers" "$(awk '/^p99_ms/ { print $2 }' "$OUT/live.txt")" "" "ms" "-" "SSE via LISTEN/NOTIFY"
reads=$(curl -s "http://127.0.0.1:$RESULT_PORT/metrics" | awk '/^result_tally_reads_total/ { print $2 }')
figure "result tally reads for 30 votes, $VIEWERS viewers" "$reads" "30" "reads (ours / one per vote)" "<=1.2" "one read per update, not per viewer"

# --- memory --------------------------------------------------------------------
figure "vote RSS idle" "$vote_idle" "" "MB" "-" "original vote (Python, gunicorn): about 180 MB"
figure "vote RSS under wrk load" "$vote_loaded" "" "MB" "-" ""
figure "worker RSS draining" "$(cat "$OUT/worker_rss")" "" "MB" "-" ""
figure "result RSS idle" "$result_idle" "" "MB" "-" ""
figure "result RSS, $VIEWERS viewers" "$(awk '/^rss_mb/ { print $2 }' "$OUT/live.txt")" "" "MB" "-" ""

"$BIN/bench" report --input "$FIGURES" --json "$OUT/results.json"
phase "done"
