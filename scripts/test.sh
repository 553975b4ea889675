#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration suite against real
# Redis and Postgres servers it starts itself. Installs what is missing first.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

ensure_packages redis-server:redis-server postgres:postgresql chromium:chromium chromedriver:chromium-driver

echo "==> building the services"
cargo build --workspace --bins
echo "==> running the tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
