#!/usr/bin/env bash
# Fuzzes the vote message parser (wire::ballot) with cargo-fuzz/libFuzzer.
#   scripts/fuzz.sh            # 60 seconds
#   scripts/fuzz.sh 600        # ten minutes
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain
# provide them. Crashes land in fuzz/artifacts/ballot/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
RUSTC_BOOTSTRAP=1 cargo fuzz run ballot -- -max_total_time="${1:-60}"
