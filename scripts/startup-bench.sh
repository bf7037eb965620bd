#!/bin/sh
# Startup time of the release binary with a million stored items, against a
# thousand in the same run (alternating, best of 3). The stores are filled once
# into target/startup-bench/ (delete that folder to refill; ~1 GiB of disk).
#   NEWSDESK_STARTUP_ITEMS=200000 scripts/startup-bench.sh   # a smaller store
set -eu
cd "$(dirname "$0")/.."
cargo build --release --locked --bin newsdesk
cargo bench --locked --bench startup
