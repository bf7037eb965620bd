#!/usr/bin/env bash
# The ingest budget counted in instructions instead of time: the same files as
# `cargo bench --bench ingest`, run under callgrind, which counts every
# instruction the main thread executes. Time on this shared 2-core machine
# swings by 15-70 % between runs; instruction counts do not, so a change to the
# pipeline shows here exactly. Instructions are not time (cache misses, sled's
# background threads and the disk are left out), so the budget itself stays
# measured by the bench; this is the ratio to steer by.
#
#   scripts/ingest-instructions.sh [rounds]     (default 2; ~70 s a round)
#
# Prints instructions for feed-rs alone and for the whole path (parse,
# normalise, identify, cluster, categorise, store, flush), their ratio, and
# the main parts of the whole path, each per round and as a multiple of
# feed-rs alone (functions the compiler inlined do not show as parts); then,
# from a second run, the re-poll (the same documents again, every item known
# and unchanged), which the first run leaves out so that its parts are the
# first pass's alone.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
bin=$(cargo bench --bench ingest --no-run --locked --message-format=json 2>/dev/null |
  python3 -c 'import sys,json
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="ingest" and m.get("executable"): print(m["executable"])' | tail -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# profile NAME FUNCTION [VAR=value...]: callgrind over the bench's profile
# mode, counting `feed_rs_alone` and FUNCTION, the main thread's report in
# $out/NAME.report (sled's own threads write to the other files).
profile() {
  local name=$1 toggle=$2
  shift 2
  env NEWSDESK_BENCH_PROFILE=1 NEWSDESK_BENCH_PROFILE_ROUNDS="$rounds" "$@" \
    valgrind --tool=callgrind --separate-threads=yes --collect-atstart=no \
    --toggle-collect='ingest::feed_rs_alone' --toggle-collect="$toggle" \
    --callgrind-out-file="$out/$name" "$bin" >/dev/null 2>"$out/$name.log"
  callgrind_annotate --inclusive=yes "$out/$name-01" > "$out/$name.report"
}
profile whole 'ingest::timed_path'
# The re-poll: a second run that does it, counting it and feed-rs alone only.
profile repoll 'ingest::repoll_path' NEWSDESK_BENCH_PROFILE_REPOLL=1
python3 - "$out/whole.report" "$out/repoll.report" "$rounds" <<'PY'
import re, sys
whole_report, repoll_report, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def costs(report):
    # A function can be listed more than once, under the different source files
    # its code (some of it inlined) is attributed to, with or without its object
    # file in brackets; the most inclusive of those is its cost (the bracketed
    # line alone can miss a third of it: Desk::ingest, Store::commit).
    cost = {}
    for line in open(report):
        m = re.match(r'\s*([\d,]+) \([ \d.]+%\)\s+(?:\S*?\.(?:rs|S|c|h)|\?\?\?):(\S+)(?: \[|$)', line.rstrip('\n'))
        if m:
            name = m.group(2)
            cost[name] = max(cost.get(name, 0), int(m.group(1).replace(',', '')))
    return cost
cost = costs(whole_report)
def ir(name):
    return cost.get(name, 0)
base = ir('ingest::feed_rs_alone')
# What the bench times: parse and normalise, ingest, flush (not opening the store).
whole = ir('ingest::timed_path')
if not base or not whole:
    sys.exit("callgrind report lacks the bench's functions")
print(f"instructions per round (main thread, {rounds} rounds, callgrind):")
print(f"  feed-rs parse alone : {base / rounds / 1e6:9.1f} M")
print(f"  newsdesk whole path : {whole / rounds / 1e6:9.1f} M   ratio {whole / base:.2f}x (the budget, whole path at most 1.5x its prescribed parts, is in time: cargo bench --bench ingest)")
ingest = ir('newsdesk::pipeline::Desk::ingest')
flush = ir('newsdesk::store::Store::flush')
# Summaries are sanitised inside ingest (new and changed items only).
rows = [
    ("parse + normalise", whole - ingest - flush),
    ("identify..store", ingest),
    ("  sanitiser (ammonia)", ir('newsdesk::parse::normalize::sanitize_html')),
    ("  filing + signature", ir('newsdesk::pipeline::file_item')),
    ("  store commit", ir('newsdesk::store::Store::commit')),
]
for label, c in rows:
    print(f"  {label:22}: {c / rounds / 1e6:9.1f} M   {c / base:.2f}x")
rp = costs(repoll_report)
base, repoll = rp.get('ingest::feed_rs_alone', 0), rp.get('ingest::repoll_path', 0)
if not base or not repoll:
    sys.exit("callgrind report lacks the bench's re-poll")
print(f"  re-poll (all known)   : {repoll / rounds / 1e6:9.1f} M   {repoll / base:.2f}x")
PY
