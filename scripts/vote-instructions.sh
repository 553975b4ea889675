#!/usr/bin/env bash
# Instructions per vote of the vote service, counted by valgrind's callgrind:
# repeatable for the same binary and inputs whatever else the machine does,
# unlike a time. Starts vote under callgrind against REDIS_URL, sends a
# warm-up, zeroes the counters, sends VOTES votes with seed (one connection,
# one request at a time), dumps the counters and prints the total per vote.
# `floor` counts `bench floor` instead (read, one pipelined RPUSH, write: the
# least a server accepting a vote can do), loaded the same way with
# returning voters, so that vote's figure can be read against it.
#
#   scripts/vote-instructions.sh returning|new|floor [VOTES]
#
# BIN_DIR (default target/release) holds vote, bench and seed (SEED_BIN
# overrides seed, for a BIN_DIR that has only vote); the call graph is
# left in target/callgrind/ for callgrind_annotate. Note: valgrind counts
# every iteration of a `rep stos` as an instruction, so the zeroing of
# actix-http's 3 KB header index on each parse shows as ~15,000 per vote
# though it takes a few hundred cycles.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: vote-instructions.sh returning|new|floor [VOTES]}
votes=${2:-5000}
BIN=${BIN_DIR:-target/release}
: "${REDIS_URL:?set REDIS_URL to a Redis the votes may go to}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case $kind in
  returning) fresh=(); server=("$BIN/vote") ;;
  new) fresh=(--fresh); server=("$BIN/vote") ;;
  # The vote page's size, as scripts/bench.sh measures it; the floor's
  # count does not depend on it (the kernel copies the answer, not the floor).
  floor) fresh=(); server=("$BIN/bench" floor --redis "$REDIS_URL" --port "$port" --answer-bytes 1029) ;;
  *) echo "vote-instructions.sh: returning, new or floor, not $kind" >&2; exit 2 ;;
esac
out=target/callgrind
mkdir -p "$out"
rm -f "$out/vote-$kind.out"*
PORT=$port RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/vote-$kind.out" \
  "${server[@]}" >"$out/vote-$kind.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
seed() { "${SEED_BIN:-$BIN/seed}" --url "http://127.0.0.1:$port/" --concurrency 1 --quiet "${fresh[@]}" --votes "$1" 2>/dev/null; }
seed 500 # waits for the service to answer, then warms it up
callgrind_control --zero "$pid" >/dev/null 2>&1
seed "$votes"
callgrind_control --dump "$pid" >/dev/null 2>&1
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
trap - EXIT
if [ "$kind" = floor ]; then redis-cli -u "$REDIS_URL" del bench:floor >/dev/null 2>&1 || true; fi
# The dump after zeroing is the newest part file; its totals line counts Ir.
dump=$(ls -t "$out/vote-$kind.out".* | head -1)
total=$(awk '/^(summary|totals):/ { t = $2 } END { print t }' "$dump")
echo "instructions_per_vote $(awk -v t="$total" -v n="$votes" 'BEGIN { printf "%.0f", t / n }')"
echo "votes $votes ($kind voters); call graph: $dump"
