#!/usr/bin/env bash
# Descriptor exhaustion against the daemon (127.0.0.1 only), issue 18 item 3.
#   scripts/overload-fds.sh [IDLE] [STREAMS] [NOFILE]   (defaults 2000, 1100, 65536)
# Runs the daemon under `prlimit --nofile=NOFILE` (the systemd unit's
# LimitNOFILE; lowered to this shell's hard limit when that is smaller), then
# once more at 1,024 (a unit without LimitNOFILE whose hard limit is also
# 1,024). Each run holds STREAMS /events clients and IDLE idle connections and
# meanwhile times 20 ordinary GET /feeds/all.rss; it prints how many streams
# were served and refused (503), the worst ordinary latency, failures, and how
# many "accept failed" lines the daemon logged. All loops are bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-2000}; streams=${2:-1100}; nofile=${3:-65536}
command -v prlimit >/dev/null || { echo "overload-fds: prlimit (util-linux) is needed" >&2; exit 2; }
if [ -z "${NEWSDESK_BIN:-}" ]; then cargo build --release --quiet --bin newsdesk; fi
bin=${NEWSDESK_BIN:-$PWD/target/release/newsdesk}
hard=$(ulimit -Hn)
[ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ] && nofile=$hard
ulimit -n "$hard"   # the client side holds IDLE + STREAMS sockets too
work=$(mktemp -d)
trap 'kill $(cat "$work"/daemon.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

run() {
    local limit=$1 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    rm -rf "$work/data"
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
[[sources]]
id = "demo"
url = "$PWD/config/demo/feeds/almarsad.xml"
EOF2
    prlimit --nofile="$limit:$limit" -- "$bin" run --config "$work/newsdesk.toml" 2>"$work/daemon.log" &
    echo $! > "$work/daemon.pid"
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" -o /dev/null && break; sleep 0.1; done
    echo "--- limit $limit: $streams /events clients, then $idle idle connections"
    python3 - "$port" "$idle" "$streams" <<'PY'
import socket, sys, time
port, idle, streams = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def status(s):
    s.settimeout(5)
    raw = b""
    try:
        while b"\r\n" not in raw:
            chunk = s.recv(1024)
            if not chunk: break
            raw += chunk
    except OSError:
        pass
    parts = raw.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
held, refused, other = [], 0, 0
t0 = time.time()
for _ in range(streams):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
    st = status(s)
    if st == 200: held.append(s)
    elif st == 503: refused += 1; s.close()
    else: other += 1; s.close()
idles = []
for _ in range(idle):
    try: idles.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError: break
worst, fails = 0.0, 0
for _ in range(20):
    t = time.time()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"GET /feeds/all.rss HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        if status(s) != 200: fails += 1
        s.close()
    except OSError:
        fails += 1
    worst = max(worst, time.time() - t)
    time.sleep(0.1)
alive = 0
for s in held:
    s.setblocking(False)
    try:
        alive += s.recv(65536) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print(f"streams: {len(held)} served ({alive} still open at the end), {refused} refused with 503, {other} no answer; "
      f"idle held: {len(idles)}; ordinary GET x20: worst {worst*1000:.0f} ms, {fails} failed; {time.time()-t0:.1f} s")
PY
    echo "daemon log: $(grep -c 'accept failed' "$work/daemon.log" || true) 'accept failed' lines, $(grep -c 'connections refused' "$work/daemon.log" || true) 'connections refused' lines; $(grep -o 'fd_limit=[0-9]* connections=[0-9]* events=[0-9]* events_per_client=[0-9]*' "$work/daemon.log" | head -1)"
    kill "$(cat "$work/daemon.pid")"; wait "$(cat "$work/daemon.pid")" 2>/dev/null || true
}
run "$nofile"
run 1024
