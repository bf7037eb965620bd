#!/usr/bin/env bash
# Polls 10,000 small distinct feeds on 16 loopback hosts (127.0.0.1..127.0.0.16)
# with `newsdesk once` (release build). The first poll into an empty store runs
# twice, alternated with a baseline that polls a tenth of the same feeds (the
# ratio of cost per source shows whether work grows with the store); then four
# polls that are all 304 Not Modified (polls 2 to 5). Prints wall time and peak
# memory (maximum RSS from /usr/bin/time) of each, checks DESIGN.md's budget
# (first poll under 60 s and 600 MiB, a poll of 304s under 15 s, memory not
# growing from poll 2 to poll 5), and last measures the CPU an idle
# `newsdesk run` spends on the same sources. After each first poll it times
# the store's floor (benches/store_floor.rs: the records that poll wrote,
# written again by sled alone, one transaction and flush a source) and prints
# the poll against it: at 100,000 sources the floor alone is over the 60 s.
#
# The feeds are served by nginx started with its own prefix and config in a
# temporary folder (apt-get install nginx); without nginx, by Python's
# http.server (much slower: figures then measure the server too).
#
# Usage: scripts/poll-10k.sh [sources]   (default 10000; 100000 is DESIGN.md's
#        scale; everything on loopback, the same 16 host names at any size)
#   REPS=N      first polls of each size (default 2; best of N)
#   NEWSDESK_BIN=path   the binary to measure (default: a release build of this tree)
#   KEEP=1      keep the temporary folder (feeds, config, store) for profiling
#   EXTRA=...   TOML appended to the generated configuration
#   FLOOR=0     skip the store floor (benches/store_floor.rs) after each first poll
# The machine is shared and noisy (±15 % or worse): read figures as rough.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
HOSTS=16
BIN=${NEWSDESK_BIN:-target/release/newsdesk}
[ -n "${NEWSDESK_BIN:-}" ] || cargo build --release --locked --quiet
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/poll-10k.XXXXXX)
chmod 755 "$TMP" # nginx workers run as nobody
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Feeds: 5 items each, every feed and item distinct (numbered titles and links),
# dated in the hours before now, as a live source's are (a fixed calendar date
# would age into a backlog of old items, which is another measure).
python3 scripts/lib/make-feeds.py "$TMP/www" "$N"

# The configuration: `n` sources spread over 16 hosts, default concurrency and
# per_host, its store in `dir`; written to `file`.
write_config() { # n dir file
    {
        printf '[storage]\npath = "%s"\nretention = "36500d"\n' "$2"
        printf '[server]\nlisten = "127.0.0.1:%s"\n' "$DAEMON_PORT"
        printf '[log]\nlevel = "warn"\n'
        printf '[poll]\nallow_private = true\n'
        printf '%b\n' "${EXTRA:-}"
        printf '[[sections]]\nid = "news"\ntitle = "News"\nfallback = true\n'
        for ((i = 0; i < $1; i++)); do
            printf '[[sources]]\nid = "s%d"\nurl = "http://127.0.0.%d:%d/f/%d.xml"\n' "$i" $((i % HOSTS + 1)) "$PORT" "$i"
        done
    } >"$3"
}
DAEMON_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SMALL=$((N / 10))
write_config "$N" "$TMP/data" "$TMP/newsdesk.toml"
write_config "$SMALL" "$TMP/data-small" "$TMP/small.toml"

if command -v nginx >/dev/null; then
    mkdir -p "$TMP/nginx/logs"
    {
        echo "worker_processes 1; daemon off; pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/error.log warn;"
        echo "events { worker_connections 1024; }"
        echo "http { access_log off; default_type application/rss+xml; keepalive_requests 100000;"
        echo "  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx; fastcgi_temp_path $TMP/nginx;"
        echo "  uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;"
        echo "  server {"
        for ((h = 1; h <= HOSTS; h++)); do echo "    listen 127.0.0.$h:$PORT;"; done
        echo "    root $TMP/www; } }"
    } >"$TMP/nginx/nginx.conf"
    nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
    SERVER_PID=$!
    SERVER="nginx $(nginx -v 2>&1 | sed 's/.*\///')"
else
    # Binds 0.0.0.0 is not wanted: one server per host address.
    echo "nginx not installed: falling back to python3 http.server (slow)" >&2
    python3 - "$TMP/www" "$PORT" "$HOSTS" <<'EOF' &
import functools, http.server, socketserver, sys, threading
root, port, hosts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
handler.log_message = lambda *a: None
servers = [http.server.ThreadingHTTPServer((f"127.0.0.{h}", port), handler) for h in range(1, hosts + 1)]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
EOF
    SERVER_PID=$!
    SERVER="python3 http.server"
fi
for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.$HOSTS:$PORT/f/0.xml" 2>/dev/null && break
    sleep 0.1
done

echo "poll-10k: $N sources on $HOSTS hosts, served by $SERVER; $(nproc) cores (shared: figures ±15 % or worse)"
FAIL=0

# One `newsdesk once`: sets WALL (s), MIB (peak RSS) and KIB; checks every source had `want`.
poll() { # config label want sources
    /usr/bin/time -v -o "$TMP/time" "$BIN" once --config "$1" >"$TMP/out" 2>"$TMP/err" || true
    local wall
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/time")
    WALL=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    KIB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time")
    MIB=$((KIB / 1024))
    local counts got
    counts=$(awk '{ print $2 }' "$TMP/out" | sort | uniq -c | awk '{ printf "%s %s, ", $1, $2 }')
    echo "$2: wall ${WALL}s, peak RSS ${MIB} MiB; outcomes: ${counts%, }"
    got=$(awk -v w="$3" '$2 == w' "$TMP/out" | wc -l)
    if [ "$got" -ne "$4" ]; then
        echo "  expected $4 sources $3, got $got; first other lines:"
        awk -v w="$3" '$2 != w' "$TMP/out" | head -5 | sed 's/^/    /'
        head -5 "$TMP/err" | sed 's/^/    /'
        FAIL=1
    fi
}
budget() { # seconds
    if awk -v s="$WALL" -v b="$1" 'BEGIN { exit !(s >= b) }'; then echo "  over budget: wall time >= $1 s"; FAIL=1; fi
    if [ "$MIB" -ge 600 ]; then echo "  over budget: peak RSS >= 600 MiB"; FAIL=1; fi
}

# The store's floor (benches/store_floor.rs): the records that first poll
# wrote, written again by sled alone as the daemon commits them, with none of
# newsdesk's own work. Sets BEST_FLOOR (best so far); FLOOR=0 skips it.
BEST_FLOOR=
store_floor() {
    [ "${FLOOR:-1}" = 1 ] || return 0
    local line secs
    line=$(NEWSDESK_FLOOR_STORE="$TMP/data" cargo bench --quiet --locked --bench store_floor 2>/dev/null | grep '^store floor:' || true)
    if [ -z "$line" ]; then echo "  store floor: not measured (cargo bench --bench store_floor failed)"; return 0; fi
    echo "  $line"
    secs=$(echo "$line" | sed 's/^store floor: \([0-9.]*\) s.*/\1/')
    BEST_FLOOR=$(awk -v a="${BEST_FLOOR:-1e9}" -v b="$secs" 'BEGIN { print (b < a ? b : a) }')
}

# First polls into an empty store, $N sources and the baseline of $SMALL
# (the same feeds, a tenth of them), alternated, best of 2 each: the ratio of
# their cost per source says whether the work per source grows with the store
# (1.0 = linear).
BEST=; BEST_SMALL=
for ((rep = 1; rep <= ${REPS:-2}; rep++)); do
    rm -rf "$TMP/data-small"
    poll "$TMP/small.toml" "baseline: first poll of $SMALL" ok "$SMALL"
    BEST_SMALL=$(awk -v a="${BEST_SMALL:-1e9}" -v b="$WALL" 'BEGIN { print (b < a ? b : a) }')
    rm -rf "$TMP/data"
    poll "$TMP/newsdesk.toml" "first poll of $N (run $rep)" ok "$N"
    budget 60
    BEST=$(awk -v a="${BEST:-1e9}" -v b="$WALL" 'BEGIN { print (b < a ? b : a) }')
    store_floor
done
awk -v b="$BEST" -v s="$BEST_SMALL" -v n="$N" -v m="$SMALL" 'BEGIN {
    printf "first poll, best of '"${REPS:-2}"': %s s for %d sources, %s s for %d; cost per source %.2fx the baseline'"'"'s (1.0 = linear)\n", b, n, s, m, (b / n) / (s / m) }'
if [ -n "$BEST_FLOOR" ]; then
    awk -v b="$BEST" -v f="$BEST_FLOOR" 'BEGIN {
        printf "first poll against its store floor, best of '"${REPS:-2}"' each: %s s against %s s, %.2fx (the floor alone is %s the 60 s budget)\n", b, f, b / f, (f >= 60 ? "over" : "under") }'
fi

# Then four more polls of the full store: all 304 Not Modified, memory flat.
declare -a RSS
for run in 2 3 4 5; do
    poll "$TMP/newsdesk.toml" "poll $run (conditional)" not_modified "$N"
    budget 15
    RSS[$run]=$KIB
done
# Memory must not grow from the second poll to the fifth (all 304); 10 % slack for noise.
if [ "${RSS[5]}" -gt $((RSS[2] * 11 / 10)) ]; then
    echo "memory grew from poll 2 to poll 5: ${RSS[2]} -> ${RSS[5]} KiB"
    FAIL=1
fi
echo "store on disk: $(du -sh "$TMP/data" | cut -f1)"

# The daemon idle over the same store: nothing is due (the polls above set
# every next due time an interval ahead), so this is what its schedule costs.
"$BIN" run --config "$TMP/newsdesk.toml" >/dev/null 2>"$TMP/daemon.err" &
DAEMON=$!
for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$DAEMON_PORT/healthz" 2>/dev/null && break
    sleep 0.1
done
sleep 5 # the clustering index loads in the background after start
ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON/stat"; }
t0=$(ticks)
sleep 20
t1=$(ticks)
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN {
    printf "idle daemon with %d sources: %.1f %% of one core over 20 s\n", n, 100 * d / hz / 20 }'
[ "$FAIL" = 0 ] && echo "poll-10k: within budget" || { echo "poll-10k: FAILED"; exit 1; }
