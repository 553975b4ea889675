#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration suite against real
# Redis and Postgres servers it starts itself; then the container tests (images
# built from the Dockerfile, the compose stack run offline) where a Docker
# engine answers, and the cluster tests on a real Kubernetes 1.20 that it
# starts (scripts/cluster.sh: the API server always, a node with Docker).
# Installs what is missing first.
# Extra arguments go to `cargo nextest run` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

ensure_packages redis-server:redis-server postgres:postgresql chromium:chromium chromedriver:chromium-driver \
  prometheus:prometheus faketime:faketime \
  prometheus-redis-exporter:prometheus-redis-exporter \
  prometheus-postgres-exporter:prometheus-postgres-exporter

echo "==> building the services and the tests"
# The same build as the test run's and the suite's own
# (tests/suite/harness/binaries.rs): one set of features, no rebuild.
cargo build --workspace --lib --bins --tests --features common/insecure-tls
# In CI (CI=true, or VOTINGAPP_REQUIRE_ALL=1 as .ci/run sets) nothing may be
# skipped: the tests fail where they would skip (tests/suite/harness/skip.rs,
# the same rule), and the node must come up where Docker answers.
require_all() {
  local v
  for v in "${CI:-}" "${VOTINGAPP_REQUIRE_ALL:-}"; do
    case "${v,,}" in 1 | true) return 0 ;; esac
  done
  return 1
}
node=""
if docker info >/dev/null 2>&1; then
  echo "==> images for the container and cluster tests (from cache after the first run)"
  ensure_compose
  scripts/offline-images.sh
  scripts/build-images.sh --offline
else
  echo "==> no Docker engine answers (docker info failed): the container tests and the cluster's node will say they were skipped (and fail in CI)"
  node=--api-only
fi

# A real Kubernetes API server for every run; with Docker, a node too.
echo "==> starting the test cluster (scripts/cluster.sh; binaries from cache after the first run)"
scripts/cluster.sh down >/dev/null
trap 'scripts/cluster.sh down >/dev/null 2>&1 || true' EXIT
if ! scripts/cluster.sh up $node; then
  [ -z "$node" ] || exit 1
  if require_all; then
    echo "==> the cluster's node did not come up where Docker answers (scripts/cluster.sh up failed; see above): in CI that is a failure" >&2
    exit 1
  fi
  export VOTINGAPP_CLUSTER_NODE_SKIPPED="the cluster's node did not come up (scripts/cluster.sh up failed; see its messages above)"
  echo "==> $VOTINGAPP_CLUSTER_NODE_SKIPPED: API server only"
  scripts/cluster.sh down >/dev/null
  scripts/cluster.sh up --api-only
fi
export VOTINGAPP_KUBECONFIG=${VOTINGAPP_CLUSTER_DIR:-/var/lib/votingapp/cluster}/kubeconfig

log=$(mktemp)
trap 'rm -f "$log"; scripts/cluster.sh down >/dev/null 2>&1 || true' EXIT
status=0
# cargo-nextest (.config/nextest.toml): each test in its own process, the
# container and cluster tests one at a time (a test group), started first.
ensure_cargo_tool cargo-nextest 0.9.143
echo "==> running the tests${*:+: $*}"
cargo nextest run --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, from nextest's summary
# ("N tests run: P passed, F failed, ...").
awk '/tests? run:/ { p = 0; f = 0
       for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p = $(i-1); if ($(i) ~ /^(failed|timed)/) f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
