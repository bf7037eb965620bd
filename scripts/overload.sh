#!/usr/bin/env bash
# Overload and slow clients against the release daemon (127.0.0.1 only).
#   scripts/overload.sh [SECONDS] [CONNECTIONS] [SLOW]   (defaults 30, 1000, 500)
# 1. wrk with CONNECTIONS connections for SECONDS against /feeds/all.rss:
#    requests/s, p99 latency and errors (must be 0 errors, p99 < 250 ms).
# 2. slowloris: SLOW connections drip their request headers one byte a second;
#    meanwhile an ordinary client must be answered in under a second, and the
#    server must close each slow connection after its header timeout (~30 s):
#    the close times are reported.
# The machine is shared and noisy (±15 % or more): read figures as rough.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}; conns=${2:-1000}; slow=${3:-500}
command -v wrk >/dev/null || { echo "overload: wrk is needed (apt-get install -y wrk)" >&2; exit 2; }
# NEWSDESK_BIN=path runs another build.
if [ -z "${NEWSDESK_BIN:-}" ]; then cargo build --release --quiet --bin newsdesk; fi
bin=${NEWSDESK_BIN:-$PWD/target/release/newsdesk}
work=$(mktemp -d)
trap 'kill $(cat "$work"/daemon.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ulimit -n 65536 2>/dev/null || ulimit -n 8192 || true

# A store with 200 stories from the demo feeds (local files, no network).
cat > "$work/newsdesk.toml" <<EOF2
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
[storage]
path = "$work/data"
retention = "36500d"
[[sections]]
id = "misc"
title = "Misc"
fallback = true
EOF2
n=0
for f in config/demo/feeds/*; do
    n=$((n + 1))
    printf '[[sources]]\nid = "demo%d"\nurl = "%s"\n' "$n" "$PWD/$f" >> "$work/newsdesk.toml"
done
"$bin" run --config "$work/newsdesk.toml" 2>"$work/daemon.log" & echo $! > "$work/daemon.pid"
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/feeds/all.rss" -o /dev/null && break; sleep 0.1; done
sleep 2
items=$(curl -fs "http://127.0.0.1:$port/feeds/all.json" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
echo "overload: daemon up with $n demo sources, $items stories in /feeds/all.json"

echo "--- wrk: $conns connections, $secs s, /feeds/all.rss"
threads=$(( $(nproc) < 4 ? $(nproc) : 4 ))
wrk -t"$threads" -c"$conns" -d"${secs}s" --latency --timeout 5s "http://127.0.0.1:$port/feeds/all.rss" | tee "$work/wrk.txt"
rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
errors=$(awk '/Socket errors/ {gsub(",", ""); s = $4 + $6 + $8 + $10} /Non-2xx/ {n = $5} END {print s + n + 0}' "$work/wrk.txt")
p99_ms=$(python3 -c "
v='$p99'
u={'us':0.001,'ms':1,'s':1000}
import re
m=re.match(r'([0-9.]+)(us|ms|s)', v)
print(round(float(m.group(1))*u[m.group(2)], 2) if m else -1)")
echo "wrk: ${rps} requests/s, p99 ${p99_ms} ms, errors ${errors}"

echo "--- slowloris: $slow connections dripping headers"
slow_rc=0
python3 - "$port" "$slow" <<'PY' || slow_rc=$?
import socket, sys, threading, time, urllib.request
port, n = int(sys.argv[1]), int(sys.argv[2])
closed = {}
start = time.time()
def drip(i):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(1)
    first = time.time()
    try:
        s.sendall(b"GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\n")
        while time.time() - first < 60:
            s.sendall(b"X")
            try:
                if s.recv(4096) == b"":
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    closed[i] = time.time() - first
    s.close()
threads = [threading.Thread(target=drip, args=(i,), daemon=True) for i in range(n)]
for t in threads: t.start()
# An ordinary client meanwhile: one request every half second for 40 s.
worst = 0.0; fails = 0; done = 0
while time.time() - start < 40:
    t = time.time()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/feeds/all.rss", timeout=5).read()
        worst = max(worst, time.time() - t); done += 1
    except Exception:
        fails += 1
    time.sleep(0.5)
for t in threads: t.join(timeout=30)
times = sorted(closed.values())
still = n - len(times)
med = times[len(times)//2] if times else float("nan")
print(f"slowloris: {n} slow connections; other client: {done} requests, worst {worst*1000:.0f} ms, {fails} failed; "
      f"slow ones closed by the server after {times[0] if times else float('nan'):.1f}-{times[-1] if times else float('nan'):.1f} s (median {med:.1f} s), {still} still open at 60 s")
ok = fails == 0 and worst < 1.0 and still == 0 and times and max(times) < 59
sys.exit(0 if ok else 1)
PY
awk -v p="$p99_ms" -v e="$errors" 'BEGIN { exit !(e == 0 && p >= 0 && p < 250) }' && wrk_ok=1 || wrk_ok=0
[ "$wrk_ok" = 1 ] || echo "overload: wrk target missed (errors $errors, p99 $p99_ms ms)" >&2
[ "$wrk_ok" = 1 ] && [ "$slow_rc" = 0 ]
