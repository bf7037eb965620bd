#!/usr/bin/env bash
# Serving benchmark: newsdesk against nginx serving the same bytes, measured
# with wrk in one run (same settings, sides alternated, best of 3 rounds).
#
#   scripts/bench-serve.sh            # needs nginx and wrk (apt-get install -y nginx wrk)
#
# Prints requests/s ratios (targets from DESIGN.md's budgets):
#   plain   newsdesk / nginx on /feeds/all.rss            (>= 1.0)
#   gzip    the same with Accept-Encoding: gzip           (>= 1.0; nginx: gzip_static)
#   304     newsdesk If-None-Match / newsdesk 200         (>= 1)
#   store   100,000 stories / 1,000 stories, all.rss      (>= 0.8)
#   c1000   1,000 connections: p99 latency and errors     (p99 < 250 ms, no errors)
# The stores are made by `newsdesk once` ingesting generated feeds (local
# files, no network) and kept under target/bench-serve/ for the next run
# (filling the 100,000-story one takes minutes; delete the folder to refill). Everything listens on 127.0.0.1 only; every wrk run is
# bounded by -d. The machine is shared and noisy (±15 %), and wrk runs on the
# same cores as the servers: read ratios, not absolute figures.
# Environment: DURATION (s per wrk run, default 5), CONNS (default 64),
# STORIES (the large store, default 100000), NEWSDESK_BIN (default
# target/release/newsdesk, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
STORIES=${STORIES:-100000}
bin=${NEWSDESK_BIN:-$repo/target/release/newsdesk}
for tool in nginx wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench-serve: $tool is missing (apt-get install -y nginx wrk)" >&2; exit 1; }
done
[ -x "$bin" ] || cargo build --release --quiet
ulimit -n 65536 2>/dev/null || ulimit -n 4096

stores=$repo/target/bench-serve
tmp=$(mktemp -d /tmp/newsdesk-bench-serve.XXXXXX)
chmod 755 "$tmp"   # nginx workers run as nobody
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$tmp/nginx/nginx.pid" ] && kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
    sleep 0.5
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- stores -----------------------------------------------------------------
# gen DIR FEEDS ITEMS: RSS files of distinct headlines (random words, so no
# two items cluster), one item every 7 minutes back from now.
gen() {
    python3 - "$1" "$2" "$3" <<'EOF'
import os, random, sys, time
from email.utils import formatdate
out, feeds, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
rnd = random.Random(7)
syll = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "da", "pe", "gu", "ba", "fi", "ho", "ja"]
words = sorted({"".join(rnd.choice(syll) for _ in range(rnd.randint(2, 4))) for _ in range(6000)})
now, n = int(time.time()), 0
for f in range(feeds):
    items = []
    for i in range(per):
        n += 1
        title = " ".join(rnd.choice(words) for _ in range(7)).capitalize()
        date = formatdate(now - n * 420, usegmt=True)
        items.append(f"<item><guid isPermaLink=\"false\">g{f}-{i}</guid><title>{title}</title>"
                     f"<link>https://gen.example/{f}/{i}</link><pubDate>{date}</pubDate>"
                     f"<description>{title}. {' '.join(rnd.choice(words) for _ in range(30))}.</description></item>")
    with open(os.path.join(out, f"f{f}.xml"), "w") as fh:
        fh.write("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Gen %d</title>"
                 "<link>https://gen.example/</link><description>generated</description>%s</channel></rss>"
                 % (f, "".join(items)))
EOF
}

# store NAME FEEDS ITEMS PORT: a config, a store filled by `newsdesk once`
# (kept from an earlier run when it holds the same number of items).
store() {
    local name=$1 feeds=$2 per=$3 port=$4 dir=$stores/$1-$(($2 * $3))
    mkdir -p "$dir"
    {
        printf '[server]\nlisten = "127.0.0.1:%s"\npublic_url = "http://127.0.0.1:%s"\n' "$port" "$port"
        printf '[storage]\npath = "store"\nretention = "3650d"\n[poll]\ninterval = "6h"\nmax_body = "64MiB"\n'
        printf '[[sections]]\nid = "misc"\ntitle = "Misc"\nfallback = true\n'
        for ((i = 0; i < feeds; i++)); do printf '[[sources]]\nid = "f%d"\nurl = "feeds/f%d.xml"\n' "$i" "$i"; done
    } >"$dir/newsdesk.toml"
    ln -sfn "$dir" "$tmp/$name"
    if [ -f "$dir/filled" ]; then
        echo "store $name: $((feeds * per)) items, kept from an earlier run ($dir)"
        return
    fi
    rm -rf "$dir/store"
    gen "$dir/feeds" "$feeds" "$per"
    local t0=$SECONDS
    RUST_LOG=warn "$bin" once --config "$dir/newsdesk.toml" >/dev/null
    touch "$dir/filled"
    echo "store $name: $((feeds * per)) items ingested in $((SECONDS - t0)) s"
}

start() { # start NAME PORT
    RUST_LOG=warn "$bin" run --config "$tmp/$1/newsdesk.toml" 2>"$tmp/$1.log" &
    pids+=($!)
    for _ in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$2/feeds/all.rss" && return 0
        sleep 0.2
    done
    echo "bench-serve: newsdesk $1 did not start" >&2; cat "$tmp/$1.log" >&2; exit 1
}

small_port=$(free_port); big_port=$(free_port); nginx_port=$(free_port)
store small 10 100 "$small_port"
store big $((STORIES / 1000)) 1000 "$big_port"
start small "$small_port"
start big "$big_port"
for s in small big; do
    p=$([ $s = small ] && echo "$small_port" || echo "$big_port")
    echo "newsdesk $s: $(curl -s "http://127.0.0.1:$p/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stories"])') stories"
done

# --- nginx with the same bytes -------------------------------------------------
mkdir -p "$tmp/nginx/www/feeds" "$tmp/nginx/logs"
curl -s "http://127.0.0.1:$small_port/feeds/all.rss" -o "$tmp/nginx/www/feeds/all.rss"
curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$small_port/feeds/all.rss" -o "$tmp/nginx/www/feeds/all.rss.gz"
chmod -R a+rX "$tmp/nginx/www"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    gzip_static on;
    keepalive_requests 100000000;
    types { application/rss+xml rss; }
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/nginx/www;
        add_header Cache-Control "public, max-age=60";
    }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/feeds/all.rss" && break; sleep 0.1; done
cmp -s "$tmp/nginx/www/feeds/all.rss" <(curl -s "http://127.0.0.1:$nginx_port/feeds/all.rss") ||
    { echo "bench-serve: nginx does not serve the same bytes" >&2; exit 1; }
[ "$(curl -s -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "http://127.0.0.1:$nginx_port/feeds/all.rss")" = \
  "$(stat -c %s "$tmp/nginx/www/feeds/all.rss.gz")" ] || { echo "bench-serve: nginx gzip_static is not in use" >&2; exit 1; }
echo "all.rss: $(stat -c %s "$tmp/nginx/www/feeds/all.rss") bytes plain, $(stat -c %s "$tmp/nginx/www/feeds/all.rss.gz") gzip"

# --- measurements -------------------------------------------------------------
# rps URL [HEADER]: requests/s of one wrk run; non-2xx/3xx answers or socket
# errors make it 0 (an error is not speed).
rps() {
    local out args=()
    [ -n "${2:-}" ] && args=(-H "$2")
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" "${args[@]}" "$1" 2>&1)
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo 0; return; fi
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

# compare NAME URL_A HEADER_A URL_B HEADER_B: best of 3 of A and B, alternating
# which goes first; prints and stores B/A.
compare() {
    local name=$1 best_a=0 best_b=0 a b
    for round in 1 2 3; do
        if ((round % 2)); then a=$(rps "$2" "$3"); b=$(rps "$4" "$5"); else b=$(rps "$4" "$5"); a=$(rps "$2" "$3"); fi
        best_a=$(python3 -c "print(max($best_a, $a))"); best_b=$(python3 -c "print(max($best_b, $b))")
    done
    ratio=$(python3 -c "print(f'{$best_b / $best_a:.2f}' if $best_a else 'n/a')")
    printf '%-8s %12.0f req/s  %12.0f req/s  ratio %s\n' "$name" "$best_a" "$best_b" "$ratio"
}

nd="http://127.0.0.1:$small_port/feeds/all.rss"
ng="http://127.0.0.1:$nginx_port/feeds/all.rss"
etag=$(curl -sI "$nd" | awk 'tolower($1)=="etag:" { print $2 }' | tr -d '\r')
echo "wrk -t2 -c$CONNS -d${DURATION}s, best of 3, sides alternated"
printf '%-8s %18s  %18s\n' "" "baseline" "newsdesk"
compare "plain" "$ng" "" "$nd" ""
compare "gzip" "$ng" "Accept-Encoding: gzip" "$nd" "Accept-Encoding: gzip"
compare "304" "$nd" "" "$nd" "If-None-Match: $etag"
echo "         (baseline: newsdesk 200; newsdesk: the same URL answering 304)"
compare "store" "$nd" "" "http://127.0.0.1:$big_port/feeds/all.rss" ""
echo "         (baseline: 1,000 stories; newsdesk: $STORIES stories)"

out=$(wrk -t2 -c1000 -d"$((DURATION * 2))s" --timeout 2s --latency "http://127.0.0.1:$big_port/feeds/all.rss" 2>&1)
p99=$(awk '$1=="99%" { print $2 }' <<<"$out")
errors=$(grep -E 'Socket errors|Non-2xx' <<<"$out" || echo "none")
echo "c1000    1,000 connections on the $STORIES-story store: p99 $p99, $(awk '/^Requests\/sec:/ { print $2 }' <<<"$out") req/s, errors: $errors"
