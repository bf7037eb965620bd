#!/usr/bin/env bash
# Crash safety: the release daemon polls a local source that keeps publishing;
# it is killed with SIGKILL at random moments (KILLS times, default 50) and
# restarted. After each restart every item it ever served (recorded from all
# pages of /feeds/all.json) must be served again, exactly once, in the same
# story. Prints items lost, duplicated and story ids changed (all must be 0).
#   scripts/kill9.sh [KILLS]
# Reaches only 127.0.0.1. Bounded: KILLS rounds of at most ~15 s each.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-50}
# NEWSDESK_BIN=path runs another build (a debug one to try the script quickly).
if [ -z "${NEWSDESK_BIN:-}" ]; then cargo build --release --quiet --bin newsdesk; fi
bin=${NEWSDESK_BIN:-$PWD/target/release/newsdesk}
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
feed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# A feed that grows by two items a second (the newest 40 listed, as real feeds do).
cat > "$work/feed.py" <<'PY'
import http.server, random, sys, time
t0 = time.time()
random.seed(7)
WORDS = [
    "harbour", "council", "budget", "storm", "minister", "court", "railway", "election", "market", "drought",
    "festival", "bridge", "hospital", "strike", "museum", "satellite", "vaccine", "tariff", "river", "airport",
    "school", "police", "reactor", "vineyard", "glacier", "stadium", "pipeline", "treaty", "protest", "harvest",
    "orchestra", "volcano", "senate", "refinery", "ferry", "library", "wildfire", "embassy", "factory", "summit"]
titles = {}
def title(n):
    if n not in titles:
        r = random.Random(n)
        titles[n] = f"Report {n}: " + " ".join(r.sample(WORDS, 6))
    return titles[n]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        count = 1 + int((time.time() - t0) * 2)
        items = "".join(
            f"<item><guid>k-{n}</guid><title>{title(n)}</title><link>https://grow.example/{n}</link>"
            f"<pubDate>{time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(t0 + n / 2))}</pubDate>"
            f"<description>Item {n}.</description></item>\n"
            for n in range(max(0, count - 40), count))
        body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Grow</title>'
                '<link>https://grow.example/</link><description>d</description>\n' + items + '</channel></rss>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/feed.py" "$feed_port" & echo $! > "$work/feed.pid"

cat > "$work/newsdesk.toml" <<EOF2
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
max_feed_items = 500
[storage]
path = "$work/data"
retention = "36500d"
[poll]
allow_private = true
interval = "1s"
min_interval = "1s"
[[sections]]
id = "misc"
title = "Misc"
fallback = true
[[sources]]
id = "grow"
url = "http://127.0.0.1:$feed_port/feed.xml"
EOF2

# Everything served now: "item-url story-id" lines, all pages followed.
served() {
    python3 - "$port" <<'PY'
import json, sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/feeds/all.json?limit=500"
seen = 0
while url and seen < 100:
    seen += 1
    try:
        doc = json.load(urllib.request.urlopen(url, timeout=5))
    except Exception:
        sys.exit(1)
    for it in doc.get("items", []):
        story = it["_newsdesk"]["story"]
        for s in it["_newsdesk"]["sources"]:
            print(s["url"], story)
    url = doc.get("next_url")
PY
}

start() {
    "$bin" run --config "$work/newsdesk.toml" 2>>"$work/daemon.log" & echo $! > "$work/daemon.pid"
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "daemon did not come up" >&2; tail -20 "$work/daemon.log" >&2; return 1
}

touch "$work/ever"
lost=0; dup=0; moved=0; rounds=0
for round in $(seq "$kills"); do
    start
    # Wait (up to 10 s) until everything served before is served again.
    ok=0
    for _ in $(seq 50); do
        served > "$work/now" 2>/dev/null || { sleep 0.2; continue; }
        missing=$(sort -u "$work/now" | awk '{print $1}' | sort -u | comm -23 <(awk '{print $1}' "$work/ever" | sort -u) - | wc -l)
        [ "$missing" -eq 0 ] && { ok=1; break; }
        sleep 0.2
    done
    served > "$work/now" || true
    # Lost: served once, not now. Duplicated: an item in two stories (or twice).
    l=$(comm -23 <(awk '{print $1}' "$work/ever" | sort -u) <(awk '{print $1}' "$work/now" | sort -u) | wc -l)
    d=$(awk '{print $1}' "$work/now" | sort | uniq -d | wc -l)
    # Moved: the same item now in another story than first seen.
    m=$(join <(sort -u "$work/ever") <(sort -u "$work/now") | awk '$2 != $3' | wc -l)
    lost=$((lost + l)); dup=$((dup + d)); moved=$((moved + m))
    [ "$l$d$m" != "000" ] && echo "round $round: lost $l, duplicated $d, story changed $m" >&2
    # Remember first story of every item.
    sort -s -u -k1,1 "$work/ever" "$work/now" > "$work/ever.new"; mv "$work/ever.new" "$work/ever"
    # Let it run a random while (0.2 to 4 s), then SIGKILL.
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.2, 4.0), 2))')"
    kill -9 "$(cat "$work/daemon.pid")"; wait "$(cat "$work/daemon.pid")" 2>/dev/null || true
    rounds=$round
done
start
sleep 2
served > "$work/now"
l=$(comm -23 <(awk '{print $1}' "$work/ever" | sort -u) <(awk '{print $1}' "$work/now" | sort -u) | wc -l)
lost=$((lost + l))
kill "$(cat "$work/daemon.pid")"
echo "kill9: $rounds SIGKILLs survived, $(awk '{print $1}' "$work/ever" | sort -u | wc -l) items served over the run; lost $lost, duplicated $dup, story ids changed $moved"
[ "$lost$dup$moved" = "000" ]
