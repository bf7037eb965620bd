#!/usr/bin/env bash
# `newsdesk migrate` on a store of 100,000 items: tests/migrate.rs in a
# release build with NEWSDESK_MIGRATE_ITEMS, against a PostgreSQL it starts
# itself. Fills a sled store, copies it into PostgreSQL and back into a fresh
# sled store, checks that every feed and page renders the same bytes from
# each copy, and prints how long each step took.
#
# Usage: scripts/migrate-100k.sh [items]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
NEWSDESK_MIGRATE_ITEMS=$N cargo test --release --locked --test migrate -- --nocapture 2>&1 |
    grep -E "items:|test result|panicked|differs"
