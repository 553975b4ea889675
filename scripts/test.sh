#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration suite against real
# Redis and Postgres servers it starts itself. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

ensure_packages redis-server:redis-server postgres:postgresql

echo "==> building the services"
cargo build --workspace --bins
echo "==> running the tests"
cargo test --workspace "$@"
