#!/usr/bin/env bash
# The benchmark harness: builds in release mode, starts its own Redis and
# Postgres (fsync on), measures each baseline and our services side by side in
# the same run, prints a table (figure, ours, baseline, ratio) and writes it as
# JSON to target/bench/results.json. Each figure, under its key, with the date,
# the machine and the versions, goes into docs/results/bench.tsv (a run
# replaces the figures it measured; BENCH_RESULTS=FILE writes elsewhere; a
# BENCH_QUICK run writes target/bench/results.tsv), which the docs quote
# (scripts/docs-figures.py). About 15-20 minutes on 2 cores.
#
#   BENCH_QUICK=1 scripts/bench.sh    # smaller sizes, for a smoke run
#   BEFORE_BIN=DIR scripts/bench.sh   # also measures the vote and worker
#                                     # binaries in DIR (an earlier build) in
#                                     # the same run, for a before/after figure
#   BENCH_ONLY=live scripts/bench.sh  # only the live phase (viewers on result)
#   BENCH_ONLY=backlog scripts/bench.sh  # millions queued, worker stopped, then drained
#   BENCH_ONLY=replicated scripts/bench.sh  # vote with REDIS_MIN_REPLICAS 1 vs 0,
#                                     # a master and a replica, alternating rounds
#   BENCH_ONLY=standby scripts/bench.sh  # the worker's drain, Postgres committing
#                                     # synchronously to a standby vs not
#   RESULT_BASELINE=FILE scripts/bench.sh      # the live phase also runs the
#   RESULT_BASELINE_REF=c17ef16 scripts/bench.sh  # result binary FILE, or the
#                                     # one built from a git ref (in
#                                     # target/baseline), in the same run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_packages redis-server:redis-server redis-benchmark:redis-tools postgres:postgresql wrk:wrk jq:jq valgrind:valgrind curl:curl

QUICK=${BENCH_QUICK:-}
DRAIN_VOTES=${DRAIN_VOTES:-$([ -n "$QUICK" ] && echo 100000 || echo 1000000)}
BIG_VOTERS=${BIG_VOTERS:-$([ -n "$QUICK" ] && echo 1000000 || echo 10000000)}
WRK_SECONDS=${WRK_SECONDS:-$([ -n "$QUICK" ] && echo 5 || echo 15)}
VIEWERS=${VIEWERS:-$([ -n "$QUICK" ] && echo 1000 || echo 10000)}
SUSTAIN_SECONDS=${SUSTAIN_SECONDS:-90}
CALLGRIND_VOTES=${CALLGRIND_VOTES:-5000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

ONLY=${BENCH_ONLY:-}
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
RESULT_BASELINE=${RESULT_BASELINE:-}
if [ -n "${RESULT_BASELINE_REF:-}" ]; then
  # Built first, in the same target directory, so that it shares the
  # dependencies; the build below then puts back this tree's binaries.
  echo "==> building result at $RESULT_BASELINE_REF (release)"
  base_src=$PWD/target/baseline/src
  rm -rf "$base_src" && mkdir -p "$base_src"
  git archive "$RESULT_BASELINE_REF" | tar -x -C "$base_src"
  (cd "$base_src" && CARGO_TARGET_DIR=$OLDPWD/target cargo build --release --workspace --bin result -q)
  cp target/release/result target/baseline/result
  RESULT_BASELINE=$PWD/target/baseline/result
fi

echo "==> building (release)"
cargo build --release --bins -q
BIN=$PWD/target/release
OUT=$PWD/target/bench
rm -rf "$OUT" && mkdir -p "$OUT"
FIGURES=$OUT/figures.tsv
KEYED=$OUT/keyed.tsv
RESULTS=${BENCH_RESULTS:-$([ -n "$QUICK" ] && echo "$OUT/results.tsv" || echo docs/results/bench.tsv)}
: >"$FIGURES"
: >"$KEYED"
phase() { PHASE=$*; echo "==> [$(( SECONDS / 60 ))m$(( SECONDS % 60 ))s] $*"; }
# figure [KEY] NAME OURS BASELINE UNIT TARGET NOTE: a line of the table; and
# under KEY (dotted, no spaces; else one made of NAME), with the phase that
# measured it, a figure of the results file.
figure() {
  local key
  if [[ $1 =~ ^[a-z0-9_.]+$ ]]; then key=$1; shift
  else key=$(printf '%s' "$1" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '_' | sed 's/^_//; s/_$//'); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$FIGURES"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "${PHASE:-}" "$@" >>"$KEYED"
}
# What /proc says of a process, read by the bench tool (bench/src/procfs.rs).
rss() { "$BIN/bench" proc --pid "$1" rss-mb; }
cpu_seconds() { "$BIN/bench" proc --pid "$1" cpu-seconds; }
user_seconds() { "$BIN/bench" proc --pid "$1" user-seconds; }
# per_request_us BEFORE AFTER REQUESTS: CPU microseconds per request, from
# CPU seconds before and after.
per_request_us() { awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN { printf "%.2f", (a - b) * 1e6 / n }'; }
# wrk_ms QUANTILE FILE: a latency percentile of wrk --latency, in ms.
wrk_ms() { awk -v q="$1" '$1 == q { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; print v }' "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true; done
  for dir in "$OUT/pg" "$OUT/pg-primary" "$OUT/pg-standby"; do
    [ -n "${PG_BIN:-}" ] && [ -f "$dir/postmaster.pid" ] && "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
  done
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
# pg_start DIR PORT [OPTION...]: a Postgres server on DIR, its socket in
# $OUT/pg-sockets (out of the data folder, which pg_basebackup copies).
mkdir -p "$OUT/pg-sockets"
if [ ${#as_postgres[@]} -gt 0 ]; then chown postgres:postgres "$OUT/pg-sockets"; fi
pg_start() {
  local dir=$1 port=$2; shift 2
  "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$dir" -w -l "$dir/log" \
    -o "-p $port -k $OUT/pg-sockets -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB -c max_connections=200 $*" start >/dev/null
}
pg_start "$OUT/pg" "$PG_PORT"
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
if want vote; then
REDIS_PID=$(redis-cli -p "$REDIS_PORT" info server | awk -F: '/^process_id/ { print $2+0 }')
phase "baseline: redis-benchmark RPUSH, 50 connections, unpipelined"
redis_before=$(cpu_seconds "$REDIS_PID")
redis-benchmark -p "$REDIS_PORT" -c 50 -n 300000 -P 1 -t rpush --csv >"$OUT/rpush.csv"
rb=$(awk -F'"' '/RPUSH/ { print $4 }' "$OUT/rpush.csv")
redis_us=$(per_request_us "$redis_before" "$(cpu_seconds "$REDIS_PID")" 300000)
VOTE_PORT=$(free_port)
start vote "$VOTE_PORT"
VOTE_PID=${pids[-1]}
vote_idle=$(rss "$VOTE_PID")
# The vote's peak resident memory over every load below, sampled each second.
"$BIN/bench" proc --pid "$VOTE_PID" peak-rss-mb --out "$OUT/vote_peak_mb" &
pids+=($!)
# wrk_cpu NAME PID PORT SCRIPT SECONDS: a wrk run at 50 connections against
# the server PID on PORT, with its CPU per answered request (from /proc) in
# $OUT/NAME.cpu, and the user-space part of it in $OUT/NAME.user.
wrk_cpu() {
  local name=$1 pid=$2 port=$3 script=$4 seconds=$5 before user_before requests
  before=$(cpu_seconds "$pid")
  user_before=$(user_seconds "$pid")
  wrk -t2 -c50 -d"${seconds}s" --latency -s "$script" "http://127.0.0.1:$port/" >"$OUT/$name.txt"
  requests=$(awk '/requests in/ { print $1 }' "$OUT/$name.txt")
  per_request_us "$before" "$(cpu_seconds "$pid")" "$requests" >"$OUT/$name.cpu"
  per_request_us "$user_before" "$(user_seconds "$pid")" "$requests" >"$OUT/$name.user"
}
wrk_vote() { wrk_cpu "$1" "$VOTE_PID" "$VOTE_PORT" "$2" "$3"; cat "$OUT/$1.txt"; }
phase "vote: wrk POST /, returning voters (a voter_id cookie each), 50 connections, ${WRK_SECONDS}s"
wrk_vote wrk bench/post.lua "$WRK_SECONDS"
vote_rps=$(awk '/^Requests\/sec/ { print $2 }' "$OUT/wrk.txt")
vote_errors=$(awk '/Non-2xx|Socket errors/ { print }' "$OUT/wrk.txt")
figure vote.rps "vote POST / requests/s (50 conn)" "$vote_rps" "$rb" "req/s vs RPUSH/s" ">=0.5" "${vote_errors:-no errors}"
figure vote.cpu_us.returning "vote CPU per vote, returning voter" "$(cat "$OUT/wrk.cpu")" "$redis_us" "us (vote / Redis per RPUSH)" "-" "goal 7 us; from /proc over the wrk run"
phase "vote: wrk POST /, new voters (no cookie), 50 connections, ${WRK_SECONDS}s"
wrk_vote wrk-new bench/post-new.lua "$WRK_SECONDS"
figure vote.cpu_us.new "vote CPU per vote, new voter" "$(cat "$OUT/wrk-new.cpu")" "$redis_us" "us (vote / Redis per RPUSH)" "-" "goal 9 us; sets the voter_id cookie"
phase "the floor under a vote (bench floor: read, one pipelined RPUSH, write), the same wrk run"
answer_bytes=$(curl -s -X POST -b voter_id=bench-floor -d vote=a "http://127.0.0.1:$VOTE_PORT/" | wc -c)
FLOOR_PORT=$(free_port)
"$BIN/bench" floor --redis "$REDIS_URL" --port "$FLOOR_PORT" --answer-bytes "$answer_bytes" >"$OUT/floor.log" 2>&1 &
pids+=($!)
floor_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$FLOOR_PORT") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$FLOOR_PORT") 2>/dev/null || { echo "bench floor did not start"; cat "$OUT/floor.log"; exit 1; }
wrk_cpu wrk-floor "$floor_pid" "$FLOOR_PORT" bench/post.lua "$WRK_SECONDS"
kill "$floor_pid"
redis-cli -p "$REDIS_PORT" del bench:floor >/dev/null
figure vote.cpu_us.vs_floor "vote CPU per vote vs the floor" "$(cat "$OUT/wrk.cpu")" "$(cat "$OUT/wrk-floor.cpu")" "us (vote / floor)" "-" "returning voters; the floor answers $answer_bytes bytes, as vote does"
figure vote.user_cpu_us.vs_floor "vote user CPU per vote vs the floor" "$(cat "$OUT/wrk.user")" "$(cat "$OUT/wrk-floor.user")" "us (vote / floor)" "-" "user space only: what vote's own code adds"
if [ -n "${BEFORE_BIN:-}" ]; then
  phase "vote from $BEFORE_BIN: the same wrk run, returning voters"
  before_port=$(free_port)
  env PORT="$before_port" "$BEFORE_BIN/vote" >"$OUT/vote-before.log" 2>&1 &
  pids+=($!)
  before_pid=$!
  for _ in $(seq 1 100); do PORT=$before_port "$BIN/vote" healthcheck 2>/dev/null && break; sleep 0.1; done
  wrk_cpu wrk-before "$before_pid" "$before_port" bench/post.lua "$WRK_SECONDS"
  before_us=$(cat "$OUT/wrk-before.cpu")
  kill "$before_pid"
  figure vote.cpu_us.vs_before "vote CPU per vote: ours vs before" "$(cat "$OUT/wrk.cpu")" "$before_us" "us (ours / $BEFORE_BIN)" "-" "returning voters, same wrk run"
  figure vote.rps.vs_before "vote requests/s: ours vs before" "$vote_rps" "$(awk '/^Requests\/sec/ { print $2 }' "$OUT/wrk-before.txt")" "req/s" "-" "50 connections"
fi

# seed against wrk in alternating rounds (wrk, then seed, on the same vote):
# the shared machine's noise lands on both alike; the ratio of each pair.
SEED_ROUNDS=${SEED_ROUNDS:-3}
for round in $(seq 1 "$SEED_ROUNDS"); do
  phase "seed against wrk: round $round/$SEED_ROUNDS, the same endpoint, 50 connections, ${WRK_SECONDS}s each"
  wrk -t2 -c50 -d"${WRK_SECONDS}s" --latency -s bench/post.lua "http://127.0.0.1:$VOTE_PORT/" >"$OUT/pair-wrk-$round.txt"
  "$BIN/seed" --url "http://127.0.0.1:$VOTE_PORT/" --votes 1000000000 --duration "${WRK_SECONDS}s" \
    --concurrency 50 --quiet --json "$OUT/pair-seed-$round.json" 2>"$OUT/pair-seed-$round.txt" || true
  awk -v s="$(jq '.requests_per_s' "$OUT/pair-seed-$round.json")" '/^Requests\/sec/ {
    printf "%.3f %.0f %.0f\n", s / $2, s, $2 }' "$OUT/pair-wrk-$round.txt" >"$OUT/pair-$round.ratio"
  echo "    seed / wrk: $(awk '{ printf "%s (%s / %s req/s)", $1, $2, $3 }' "$OUT/pair-$round.ratio")"
done
# pair_median COLUMN: the median over the rounds of a column of the pairs
# (1: seed / wrk, 2: seed req/s, 3: wrk req/s).
pair_median() { cat "$OUT"/pair-*.ratio | awk -v c="$1" '{ print $c }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
last=$SEED_ROUNDS
figure seed.rps.vs_wrk "seed requests/s vs wrk (50 conn)" "$(pair_median 2)" "$(pair_median 3)" "req/s (seed / wrk)" ">=0.95" \
  "median of $SEED_ROUNDS alternating pairs; per pair: $(cat "$OUT"/pair-*.ratio | awk '{ printf "%s%s", sep, $1; sep = ", " }'); median ratio $(pair_median 1); seed errors: $(jq -r '.errors | add // 0' "$OUT/pair-seed-$last.json")"
for q in 50 99; do
  figure "seed.p${q}_ms.vs_wrk" "latency p$q: seed vs wrk" "$(jq ".latency_ms.p$q" "$OUT/pair-seed-$last.json")" "$(wrk_ms "$q%" "$OUT/pair-wrk-$last.txt")" "ms (seed / wrk)" "-" "the same closed model; HDR histograms in both; the last pair"
done

if [ -z "$QUICK" ]; then
  phase "vote: sustained load, wrk ${SUSTAIN_SECONDS}s (memory)"
  wrk_vote wrk-sustained bench/post.lua "$SUSTAIN_SECONDS" >/dev/null
  echo "    $(awk '/requests in/ { print $1 }' "$OUT/wrk-sustained.txt") requests"
fi
sustained_requests=$(cat "$OUT"/wrk*.txt | awk '/requests in/ { n += $1 } END { print n }')
vote_loaded=$(cat "$OUT/vote_peak_mb")
queued=$(redis-cli -p "$REDIS_PORT" llen votes)
echo "    votes queued by the load: $queued"

if command -v valgrind >/dev/null; then
  phase "vote: instructions per vote under callgrind (fixed counts)"
  for kind in returning new; do
    BIN_DIR=$BIN scripts/vote-instructions.sh "$kind" "$CALLGRIND_VOTES" >"$OUT/callgrind-$kind.txt"
    cat "$OUT/callgrind-$kind.txt"
    figure "vote.instructions.$kind" "vote instructions per vote, $kind voter" "$(awk '/^instructions_per_vote/ { print $2 }' "$OUT/callgrind-$kind.txt")" "" "instructions" "-" "valgrind --tool=callgrind, $CALLGRIND_VOTES votes after a warm-up"
  done
  BIN_DIR=$BIN scripts/vote-instructions.sh floor "$CALLGRIND_VOTES" >"$OUT/callgrind-floor.txt"
  cat "$OUT/callgrind-floor.txt"
  figure vote.instructions.vs_floor "vote instructions per vote vs the floor" "$(awk '/^instructions_per_vote/ { print $2 }' "$OUT/callgrind-returning.txt")" \
    "$(awk '/^instructions_per_vote/ { print $2 }' "$OUT/callgrind-floor.txt")" "instructions (vote / floor)" "-" "returning voters; repeatable"
  if [ -n "${BEFORE_BIN:-}" ]; then
    BIN_DIR=$BEFORE_BIN SEED_BIN=$BIN/seed scripts/vote-instructions.sh returning "$CALLGRIND_VOTES" >"$OUT/callgrind-before.txt"
    figure vote.instructions.vs_before "vote instructions per vote: ours vs before" "$(awk '/^instructions_per_vote/ { print $2 }' "$OUT/callgrind-returning.txt")" \
      "$(awk '/^instructions_per_vote/ { print $2 }' "$OUT/callgrind-before.txt")" "instructions (ours / $BEFORE_BIN)" "-" "returning voters; repeatable"
  fi
fi
redis-cli -p "$REDIS_PORT" del votes >/dev/null
fi

# --- vote with a replica confirming each vote: REDIS_MIN_REPLICAS 1 vs 0 ----
# A master and one replica of its own on loopback, two vote processes on it
# (REDIS_MIN_REPLICAS 0 and 1; with BEFORE_BIN, its vote with 1 as well), wrk
# on each in alternating rounds: the shared machine's noise lands on all
# alike; min and median of the rounds.
if want replicated; then
REPL_ROUNDS=${REPL_ROUNDS:-$([ -n "$QUICK" ] && echo 2 || echo 5)}
REPL_SECONDS=${REPL_SECONDS:-$([ -n "$QUICK" ] && echo 5 || echo 10)}
MASTER_PORT=$(free_port)
REPLICA_PORT=$(free_port)
for node in master replica; do mkdir -p "$OUT/redis-$node"; done
redis-server --port "$MASTER_PORT" --bind 127.0.0.1 --dir "$OUT/redis-master" --save "" --appendonly no \
  --logfile "$OUT/redis-master/redis.log" &
pids+=($!)
redis-server --port "$REPLICA_PORT" --bind 127.0.0.1 --dir "$OUT/redis-replica" --save "" --appendonly no \
  --logfile "$OUT/redis-replica/redis.log" --replicaof 127.0.0.1 "$MASTER_PORT" &
pids+=($!)
phase "replicated: master :$MASTER_PORT, replica :$REPLICA_PORT; waiting for the replica to be online"
for _ in $(seq 1 200); do
  redis-cli -p "$MASTER_PORT" info replication 2>/dev/null | grep -q '^slave0:.*state=online' && break
  sleep 0.1
done
redis-cli -p "$MASTER_PORT" info replication | grep -q '^slave0:.*state=online' || { echo "the replica did not come online"; exit 1; }
# Variants: 0 and 1 (this build, REDIS_MIN_REPLICAS 0 and 1), b1 (BEFORE_BIN's vote, 1).
declare -A repl_port
variants=(0 1)
[ -n "${BEFORE_BIN:-}" ] && variants+=(b1)
for v in "${variants[@]}"; do
  repl_port[$v]=$(free_port)
  binary=$BIN/vote
  [ "$v" = b1 ] && binary=$BEFORE_BIN/vote
  env PORT="${repl_port[$v]}" REDIS_URL="redis://127.0.0.1:$MASTER_PORT/0" REDIS_MIN_REPLICAS="${v#b}" \
    "$binary" >"$OUT/vote-replicas-$v.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do PORT=${repl_port[$v]} "$BIN/vote" healthcheck 2>/dev/null && break; sleep 0.1; done
done
waits=0
for round in $(seq 1 "$REPL_ROUNDS"); do
  for v in "${variants[@]}"; do
    phase "replicated: round $round/$REPL_ROUNDS, vote $v, wrk 50 connections, ${REPL_SECONDS}s"
    redis-cli -p "$MASTER_PORT" config resetstat >/dev/null
    wrk -t2 -c50 -d"${REPL_SECONDS}s" --latency -s bench/post.lua "http://127.0.0.1:${repl_port[$v]}/" \
      >"$OUT/repl-$v-$round.txt"
    if [ "$v" = 1 ]; then
      waits=$((waits + $(redis-cli -p "$MASTER_PORT" info commandstats | awk -F'[=,]' '/^cmdstat_wait:/ { print $2 }')))
    fi
    redis-cli -p "$MASTER_PORT" del votes >/dev/null
    awk -v v="$v" -v r="$round" '/^Requests\/sec/ { rps = $2 } /requests in/ { req = $1 }
      /Non-2xx/ { bad = $NF } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
      END { printf "    vote %s round %s: %s req/s, p50 %s, p99 %s, %s requests, %s non-2xx\n", v, r, rps, p50, p99, req, bad + 0 }' \
      "$OUT/repl-$v-$round.txt"
  done
done
# repl_stat VARIANT min|median FIELD: a figure over the rounds of one vote
# (FIELD: rps, p50 or p99).
repl_stat() {
  local n=$1 stat=$2 field=$3 f
  for f in "$OUT"/repl-"$n"-*.txt; do
    case "$field" in
      rps) awk '/^Requests\/sec/ { print $2 }' "$f" ;;
      p50) wrk_ms 50% "$f" ;;
      p99) wrk_ms 99% "$f" ;;
    esac
  done | sort -g | awk -v s="$stat" '{ v[NR] = $1 } END { print (s == "min") ? v[1] : v[int((NR + 1) / 2)] }'
}
repl_requests=$(cat "$OUT"/repl-1-*.txt | awk '/requests in/ { n += $1 } END { print n }')
repl_errors=$(cat "$OUT"/repl-*-*.txt | awk '/Non-2xx|Socket errors/ { n++ } END { print n + 0 }')
if [ -n "${BEFORE_BIN:-}" ]; then
  figure replicated.rps.vs_before "vote req/s, REDIS_MIN_REPLICAS=1: ours vs before" "$(repl_stat 1 median rps)" "$(repl_stat b1 median rps)" "req/s (ours / $BEFORE_BIN)" "-" \
    "median of $REPL_ROUNDS alternating rounds; min $(repl_stat 1 min rps) / $(repl_stat b1 min rps)"
  figure replicated.rps.before_1_vs_0 "vote req/s, REDIS_MIN_REPLICAS 1 vs 0, before" "$(repl_stat b1 median rps)" "$(repl_stat 0 median rps)" "req/s ($BEFORE_BIN with 1 / ours with 0)" "-" \
    "what the safe mode cost before"
  figure replicated.p99_ms.vs_before "vote p99, REDIS_MIN_REPLICAS=1: ours vs before" "$(repl_stat 1 median p99)" "$(repl_stat b1 median p99)" "ms (ours / $BEFORE_BIN)" "-" "median of $REPL_ROUNDS rounds"
fi
figure replicated.rps "vote req/s, REDIS_MIN_REPLICAS 1 vs 0 (50 conn)" "$(repl_stat 1 median rps)" "$(repl_stat 0 median rps)" "req/s (1 / 0)" ">=0.8" \
  "median of $REPL_ROUNDS alternating rounds; min $(repl_stat 1 min rps) / $(repl_stat 0 min rps); $repl_errors rounds with errors"
for q in p50 p99; do
  figure "replicated.${q}_ms" "vote $q, REDIS_MIN_REPLICAS 1 vs 0" "$(repl_stat 1 median "$q")" "$(repl_stat 0 median "$q")" "ms (1 / 0)" \
    "$([ "$q" = p99 ] && echo "<=2" || echo -)" "median of $REPL_ROUNDS rounds; min $(repl_stat 1 min "$q") / $(repl_stat 0 min "$q")"
done
figure replicated.votes_per_wait "votes per WAIT, REDIS_MIN_REPLICAS=1 (50 conn)" "$(awk -v r="$repl_requests" -v w="$waits" 'BEGIN { printf "%.1f", r / (w ? w : 1) }')" "" "votes" "-" \
  "$repl_requests votes, $waits WAIT calls (the master's commandstats)"
fi

# --- worker: draining queued votes against pgbench 1,000-row upserts --------
phase "schema"
start worker "$(free_port)" WORKER_ID=schema
until [ "$("${PSQL[@]}" -t -A -c "SELECT to_regclass('vote_counts') IS NOT NULL")" = t ]; do sleep 0.1; done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
"${PSQL[@]}" -c "TRUNCATE votes"
if want worker; then
phase "baseline: pgbench 1,000-row upserts into votes, 1 client, 15 s"
"$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 1 -T 15 -f bench/upsert.sql postgres >"$OUT/pgbench.txt" 2>&1
pg_tps=$(awk '/^tps/ { print $3; exit }' "$OUT/pgbench.txt")
pg_rows=$(awk -v t="$pg_tps" 'BEGIN { printf "%.0f", t * 1000 }')
"${PSQL[@]}" -c "TRUNCATE votes"
phase "worker: draining $DRAIN_VOTES queued votes"
worker_rate=$("$BIN/bench" drain --redis "$REDIS_URL" --database "$DATABASE_URL" --worker-bin "$BIN/worker" \
  --votes "$DRAIN_VOTES" --rss-out "$OUT/worker_rss")
stored=$("${PSQL[@]}" -t -A -c "SELECT count(*) FROM votes")
figure worker.drain_votes_per_s "worker drain votes/s ($DRAIN_VOTES queued)" "$worker_rate" "$pg_rows" "votes/s vs pgbench rows/s" ">=1.0" "stored $stored rows"
if [ -n "${BEFORE_BIN:-}" ]; then
  phase "worker from $BEFORE_BIN: draining $DRAIN_VOTES queued votes"
  "${PSQL[@]}" -c "TRUNCATE votes"
  before_rate=$("$BIN/bench" drain --redis "$REDIS_URL" --database "$DATABASE_URL" --worker-bin "$BEFORE_BIN/worker" \
    --votes "$DRAIN_VOTES" --rss-out "$OUT/worker_before_rss")
  figure worker.drain_votes_per_s.vs_before "worker drain votes/s: ours vs before" "$worker_rate" "$before_rate" "votes/s (ours / $BEFORE_BIN)" "-" "same queue, same server"
fi

fi

# --- worker: draining into a primary that commits synchronously to a standby -
# A primary and one streaming standby of its own on loopback (pg_basebackup),
# fsync on both; the worker drains the same backlog with the primary's
# synchronous_standby_names '*' (each commit waits for the standby's flush)
# and '' (asynchronous), in alternating rounds; median of the rounds.
if want standby; then
STANDBY_ROUNDS=${STANDBY_ROUNDS:-$([ -n "$QUICK" ] && echo 1 || echo 2)}
PRIMARY_PORT=$(free_port)
STANDBY_PORT=$(free_port)
primary=$OUT/pg-primary
standby=$OUT/pg-standby
mkdir -p "$primary" "$standby"
chmod 700 "$primary" "$standby"
if [ ${#as_postgres[@]} -gt 0 ]; then chown postgres:postgres "$primary" "$standby"; fi
phase "standby: primary :$PRIMARY_PORT, standby :$STANDBY_PORT (pg_basebackup); waiting for it to stream"
"${as_postgres[@]}" "$PG_BIN/initdb" -D "$primary" -U postgres --auth=trust -E UTF8 >/dev/null
pg_start "$primary" "$PRIMARY_PORT"
"${as_postgres[@]}" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$standby" -R -X stream -c fast
pg_start "$standby" "$STANDBY_PORT" -c cluster_name=standby
ON_PRIMARY=(psql -q -X -t -A -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres)
# replication_state: the standby's sync_state as the primary sees it
# (async, sync), empty while it is not streaming.
replication_state() { "${ON_PRIMARY[@]}" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby' AND state = 'streaming'"; }
for _ in $(seq 1 200); do [ -n "$(replication_state)" ] && break; sleep 0.1; done
[ -n "$(replication_state)" ] || { echo "the standby did not stream"; cat "$standby/log"; exit 1; }
PRIMARY_URL="postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres"
start worker "$(free_port)" WORKER_ID=schema DATABASE_URL="$PRIMARY_URL"
until [ "$("${ON_PRIMARY[@]}" -c "SELECT to_regclass('vote_counts') IS NOT NULL")" = t ]; do sleep 0.1; done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
for round in $(seq 1 "$STANDBY_ROUNDS"); do
  for commit in async sync; do
    names=$([ "$commit" = sync ] && echo '*' || echo '')
    "${ON_PRIMARY[@]}" -c "ALTER SYSTEM SET synchronous_standby_names = '$names'" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 100); do [ "$(replication_state)" = "$commit" ] && break; sleep 0.1; done
    [ "$(replication_state)" = "$commit" ] || { echo "the standby is not $commit: $(replication_state)"; exit 1; }
    "${ON_PRIMARY[@]}" -c "TRUNCATE votes"
    phase "standby: round $round/$STANDBY_ROUNDS, $commit commit, the worker drains $DRAIN_VOTES queued votes"
    "$BIN/bench" drain --redis "$REDIS_URL" --database "$PRIMARY_URL" --worker-bin "$BIN/worker" \
      --votes "$DRAIN_VOTES" >"$OUT/standby-$commit-$round.rate"
    echo "    $(cat "$OUT/standby-$commit-$round.rate") votes/s"
  done
done
# standby_stat MODE min|median: votes/s over the rounds of one commit mode.
standby_stat() {
  sort -g "$OUT"/standby-"$1"-*.rate | awk -v s="$2" '{ v[NR] = $1 } END { print (s == "min") ? v[1] : v[int((NR + 1) / 2)] }'
}
for _ in $(seq 1 300); do
  [ "$("${ON_PRIMARY[@]}" -c "SELECT replay_lsn >= pg_current_wal_lsn() FROM pg_stat_replication WHERE application_name = 'standby'")" = t ] && break
  sleep 0.1
done
replayed=$(psql -q -X -t -A -h 127.0.0.1 -p "$STANDBY_PORT" -U postgres -d postgres -c "SELECT count(*) FROM votes")
figure standby.drain_votes_per_s.sync_vs_async "worker drain votes/s, synchronous vs asynchronous standby" "$(standby_stat sync median)" "$(standby_stat async median)" "votes/s (sync / async)" "-" \
  "$DRAIN_VOTES queued; median of $STANDBY_ROUNDS alternating rounds; min $(standby_stat sync min) / $(standby_stat async min); the standby has $replayed rows"
fi

# --- backlog: millions queued with the worker stopped, then drained ----------
if want backlog; then
BACKLOG_VOTES=${BACKLOG_VOTES:-$([ -n "$QUICK" ] && echo 200000 || echo 5000000)}
BACKLOG_VOTERS=$((BACKLOG_VOTES / 5))
BACKLOG_ROWS=${BACKLOG_ROWS:-$BACKLOG_VOTES}
[ -n "${VOTE_PORT:-}" ] || { VOTE_PORT=$(free_port); start vote "$VOTE_PORT"; }
phase "backlog: the votes table filled with $BACKLOG_ROWS rows of random 16-hex voter ids"
"${PSQL[@]}" -c "TRUNCATE votes"
"${PSQL[@]}" -c "INSERT INTO votes (id, vote, ts) SELECT substr(md5('fill' || g), 1, 16), CASE WHEN g % 3 = 0 THEN 'b' ELSE 'a' END, 1 FROM generate_series(1, $BACKLOG_ROWS) g ON CONFLICT DO NOTHING"
"${PSQL[@]}" -c "VACUUM ANALYZE votes"
table_rows=$("${PSQL[@]}" -t -A -c "SELECT count(*) FROM votes")
phase "backlog: pgbench 1,000-row upserts of random ids into $table_rows rows, 1 client, 15 s"
"$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 1 -T 15 -f bench/upsert-random.sql postgres >"$OUT/pgbench-random.txt" 2>&1
pg_random_rows=$(awk '/^tps/ { printf "%.0f", $3 * 1000; exit }' "$OUT/pgbench-random.txt")
redis-cli -p "$REDIS_PORT" del votes >/dev/null
mem_before=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print $2+0 }')
phase "backlog: seed queues $BACKLOG_VOTES votes from $BACKLOG_VOTERS voters through vote, worker stopped"
"$BIN/seed" --url "http://127.0.0.1:$VOTE_PORT/" --votes "$BACKLOG_VOTES" --voters "$BACKLOG_VOTERS" \
  --concurrency 50 --quiet --json "$OUT/backlog-seed.json" >"$OUT/backlog-seed.txt" 2>&1 || true
queued=$(redis-cli -p "$REDIS_PORT" llen votes)
mem_after=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print $2+0 }')
seed_p99=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["latency_ms"]["p99"])' "$OUT/backlog-seed.json" 2>/dev/null || echo "")
seed_rps=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d["requests_per_s"]))' "$OUT/backlog-seed.json" 2>/dev/null || echo "")
figure backlog.redis_bytes_per_vote "Redis memory per queued vote ($queued queued)" "$(awk -v a="$mem_after" -v b="$mem_before" -v n="$queued" 'BEGIN { printf "%.1f", (a - b) / n }')" "" "bytes" "-" "used_memory before and after"
figure backlog.vote_p99_ms "vote p99 while the queue grows to $queued" "$seed_p99" "" "ms" "-" "seed, 50 at once, $seed_rps votes/s"
RESULT_PORT_BACKLOG=$(free_port)
start result "$RESULT_PORT_BACKLOG"
# A viewer watching live through the drain: it must get updates all along.
curl -sN --max-time 3600 "http://127.0.0.1:$RESULT_PORT_BACKLOG/events" >"$OUT/backlog-events.txt" &
viewer=$!
pids+=("$viewer")
phase "backlog: the worker drains $queued votes into $table_rows rows"
drain_started=$(date +%s.%N)
start worker "$(free_port)" WORKER_ID=backlog
until [ "$(redis-cli -p "$REDIS_PORT" llen votes)" = 0 ] &&
      [ -z "$(redis-cli -p "$REDIS_PORT" --scan --pattern 'votes:processing:*' | head -n 1)" ]; do sleep 0.2; done
drain_seconds=$(awk -v s="$drain_started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
sleep 1
kill "$viewer" 2>/dev/null || true
updates=$(grep -c '^event: tally' "$OUT/backlog-events.txt" || true)
drain_rate=$(awk -v n="$queued" -v t="$drain_seconds" 'BEGIN { printf "%.0f", n / t }')
figure backlog.drain_votes_per_s "worker drain votes/s, $queued queued into $table_rows rows (random ids)" "$drain_rate" "$pg_random_rows" "votes/s vs pgbench rows/s" ">=1.0" "${drain_seconds} s"
figure backlog.viewer_updates "result updates seen by a live viewer during the drain" "$updates" "" "updates" "-" "over ${drain_seconds} s"
kill -TERM "${pids[-1]}" 2>/dev/null || true
fi

# --- result: tally cost at 1,000 vs many voters; live latency ---------------
if want tally; then
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
figure tally.ms.big_vs_small "tally query at $BIG_VOTERS vs 1000 voters" "$big_ours" "$small_ours" "ms (ours at big / ours at 1000)" "<=3" "flat: does not grow with voters"
figure tally.ms.vs_original "tally at $BIG_VOTERS voters: ours vs original" "$big_ours" "$big_orig" "ms (ours / original GROUP BY)" "<=0.01" "original at 1000: ${small_orig} ms"

fi

if want live; then
if [ -z "${VOTE_PORT:-}" ]; then
  VOTE_PORT=$(free_port)
  start vote "$VOTE_PORT"
fi
start worker "$(free_port)" WORKER_ID=live
# live NAME BINARY: the live phase against the result binary BINARY; its
# figures are named NAME ("ours" or "before").
live() {
  local name=$1 binary=$2 port pid idle reads
  phase "result ($name: $binary): live latency with $VIEWERS viewers"
  port=$(free_port)
  env PORT="$port" "$binary" >"$OUT/result-$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do PORT=$port "$BIN/vote" healthcheck 2>/dev/null && break; sleep 0.1; done
  idle=$(rss "$pid")
  "$BIN/bench" live --vote "http://127.0.0.1:$VOTE_PORT" --result "http://127.0.0.1:$port" \
    --viewers "$VIEWERS" --samples 30 --result-pid "$pid" >"$OUT/live-$name.txt"
  reads=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^result_tally_reads_total/ { print $2 }')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  field() { awk -v k="$1" '$1 == k { print $2 }' "$OUT/live-$name.txt"; }
  figure "live.$name.p50_ms" "vote POST to screen p50, $VIEWERS viewers ($name)" "$(field p50_ms)" "" "ms" "-" "SSE via LISTEN/NOTIFY"
  figure "live.$name.p99_ms" "vote POST to screen p99, $VIEWERS viewers ($name)" "$(field p99_ms)" "150" "ms (goal)" "<=1" "SSE via LISTEN/NOTIFY"
  figure "live.$name.result_cpu_ms_per_update" "result CPU per update, $VIEWERS viewers ($name)" "$(field result_cpu_ms_per_update)" "" "ms" "-" "from /proc over the samples"
  figure "live.$name.viewers_cpu_ms_per_update" "viewers' CPU per update, the bench tool ($name)" "$(field viewers_cpu_ms_per_update)" "" "ms" "-" "on the same two cores as result"
  figure "live.$name.machine_cpu_ms_per_update" "machine busy CPU per update ($name)" "$(field machine_busy_ms_per_update)" "" "ms" "-" "/proc/stat: all processes and the kernel's network work"
  figure "live.$name.tally_reads" "result tally reads for 30 votes, $VIEWERS viewers ($name)" "$reads" "30" "reads (ours / one per vote)" "<=1.2" "one read per update, not per viewer"
  figure "live.$name.result_rss_idle_mb" "result RSS idle ($name)" "$idle" "" "MB" "-" ""
  figure "live.$name.result_rss_mb" "result RSS, $VIEWERS viewers ($name)" "$(field rss_mb)" "128" "MB (goal)" "<=1" ""
}
live ours "$BIN/result"
if [ -n "$RESULT_BASELINE" ]; then
  live before "$RESULT_BASELINE"
  for q in p50 p99; do
    figure "live.${q}_ms.vs_before" "vote POST to screen $q: ours vs before" "$(awk -v k="${q}_ms" '$1 == k { print $2 }' "$OUT/live-ours.txt")" \
      "$(awk -v k="${q}_ms" '$1 == k { print $2 }' "$OUT/live-before.txt")" "ms (ours / before)" "-" "$VIEWERS viewers, same run"
  done
  figure live.result_rss_mb.vs_before "result RSS, $VIEWERS viewers: ours vs before" "$(awk '$1 == "rss_mb" { print $2 }' "$OUT/live-ours.txt")" \
    "$(awk '$1 == "rss_mb" { print $2 }' "$OUT/live-before.txt")" "MB (ours / before)" "-" "same run"
fi
fi

# --- memory --------------------------------------------------------------------
if want vote; then
  phase "memory: vote's RSS idle at start and its peak over the vote phase's loads"
  figure vote.rss_idle_mb "vote RSS idle" "$vote_idle" "" "MB" "-" "original vote (Python, gunicorn): about 180 MB"
  figure vote.rss_peak_mb "vote RSS peak under load" "$vote_loaded" "" "MB" "-" "goal 30 MB; over $sustained_requests requests"
fi
if want worker; then PHASE="memory: the worker's peak RSS while draining $DRAIN_VOTES votes"; figure worker.rss_mb "worker RSS draining" "$(cat "$OUT/worker_rss")" "" "MB" "-" ""; fi

"$BIN/bench" report --input "$FIGURES" --json "$OUT/results.json"
scripts/docs-figures.py record "$KEYED" --results "$RESULTS" --postgres-bin "$PG_BIN"
phase "done"
