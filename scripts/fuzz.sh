#!/usr/bin/env bash
# Fuzz parse + normalise on stable Rust for a bounded time.
#   scripts/fuzz.sh [SECONDS] [SEED_DIR...]     (default 60 s; FUZZ_SEED=N repeats a run)
# Prints execs, parses, contained feed-rs panics and crashes; exits 1 on any
# crash, with each crashing input in fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
cargo build --release --quiet --example fuzz_parse
exec target/release/examples/fuzz_parse "$secs" "$@"
