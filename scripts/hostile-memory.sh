#!/usr/bin/env bash
# Peak memory of the release daemon under a hostile feed (127.0.0.1 only).
#   scripts/hostile-memory.sh [SECONDS]   (default 60)
# A 6.6 MB RSS document of six items with 900 KB links, 100 KB authors and
# 100 KB descriptions is
# served from a local HTTP server and rewritten (new items) every 5 s; the
# daemon polls it every 5 s. At the end: the daemon's peak RSS (VmHWM), the
# size of the merged feeds, how many items it stored. Budget: under 300 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
# NEWSDESK_BIN=path runs another build.
if [ -z "${NEWSDESK_BIN:-}" ]; then cargo build --release --quiet --bin newsdesk; fi
bin=${NEWSDESK_BIN:-$PWD/target/release/newsdesk}
work=$(mktemp -d)
trap 'kill $(cat "$work"/daemon.pid "$work"/http.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); feed_port=$(free_port)
mkdir -p "$work/www"

# Version $1 of the hostile document, written whole then renamed into place
# so the server never sends half of one.
write_feed() {
    python3 - "$1" "$work/www/feed.xml.tmp" <<'EOF2'
import sys, email.utils, time
v, out = sys.argv[1], sys.argv[2]
date = email.utils.formatdate(time.time() - 3600, usegmt=True)
with open(out, "w") as f:
    f.write('<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>'
            '<link>https://hostile.example/</link><description>d</description>\n')
    for i in range(6):
        f.write(f'<item><guid>v{v}-{i}</guid><title>Version {v} item {i}</title>'
                f'<link>https://hostile.example/{v}/{i}?q={"a" * 900_000}</link>'
                f'<author>{"Writer " * (100_000 // 7)}</author><pubDate>{date}</pubDate>'
                f'<description>Item {i}. {"Words " * (100_000 // 6)}</description></item>\n')
    f.write('</channel></rss>\n')
EOF2
    mv "$work/www/feed.xml.tmp" "$work/www/feed.xml"
}
write_feed 0
echo "hostile-memory: document of $(stat -c %s "$work/www/feed.xml") bytes"
python3 -m http.server "$feed_port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
echo $! > "$work/http.pid"

cat > "$work/newsdesk.toml" <<EOF2
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
[storage]
path = "$work/data"
[poll]
interval = "5s"
min_interval = "5s"
allow_private = true   # the feed is served on loopback
[[sections]]
id = "misc"
title = "Misc"
fallback = true
[[sources]]
id = "hostile"
url = "http://127.0.0.1:$feed_port/feed.xml"
EOF2
"$bin" run --config "$work/newsdesk.toml" 2>"$work/daemon.log" & echo $! > "$work/daemon.pid"
pid=$(cat "$work/daemon.pid")

# A bounded loop: a new version every 5 s for $secs seconds.
rounds=$((secs / 5))
for v in $(seq 1 "$rounds"); do
    sleep 5
    kill -0 "$pid" 2>/dev/null || { echo "hostile-memory: the daemon died" >&2; tail -5 "$work/daemon.log" >&2; exit 1; }
    write_feed "$v"
done
sleep 5

peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
for f in all.rss all.atom all.json; do
    printf 'hostile-memory: /feeds/%s is %s bytes\n' "$f" "$(curl -fs "http://127.0.0.1:$port/feeds/$f" | wc -c)"
done
items=$(curl -fs "http://127.0.0.1:$port/api/sources" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["items"])')
dropped=$(grep -c "over their size bound" "$work/daemon.log" || true)
echo "hostile-memory: $items items stored over $rounds versions, $dropped 'over their size bound' log lines"
echo "hostile-memory: peak RSS $((peak_kb / 1024)) MiB (budget 300 MiB)"
[ "$peak_kb" -lt $((300 * 1024)) ]
