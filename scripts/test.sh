#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration suite against real
# Redis and Postgres servers it starts itself, then, where a Docker engine
# answers, the container tests (images built from the Dockerfile, the compose
# stack run offline). Installs what is missing first.
# Extra arguments go to one `cargo test` run instead (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

ensure_packages redis-server:redis-server postgres:postgresql chromium:chromium chromedriver:chromium-driver

echo "==> building the services"
cargo build --workspace --bins
if docker info >/dev/null 2>&1; then
  echo "==> images for the container tests (from cache after the first run)"
  ensure_compose
  scripts/offline-images.sh
  scripts/build-images.sh --offline
else
  echo "==> no Docker engine answers (docker info failed): the container tests will say they were skipped"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
if [ $# -gt 0 ]; then
  echo "==> running the tests: $*"
  cargo test --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
else
  echo "==> running the tests"
  cargo test --workspace --lib --bins --tests -- --skip containers:: 2>&1 | tee "$log" || status=$?
  # On their own: building images and restarting containers would slow the
  # timing-sensitive fault tests above.
  echo "==> running the container tests"
  cargo test -p tests --test suite containers:: -- --nocapture 2>&1 | tee -a "$log" || status=$?
fi
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
