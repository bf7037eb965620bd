#!/usr/bin/env bash
# Several nodes on one PostgreSQL against one node: the first poll of
#   (a) N sources on one node with sled (the embedded default),
#   (b) N sources on one node with PostgreSQL,
#   (c) 3N sources over three nodes sharing one PostgreSQL,
# each a `newsdesk run` (leases, host slots and the clustering lock at work in
# (b) and (c)) timed from start until every item is stored, with each node's
# peak memory (VmHWM) and the database's size. Ideal scaling is (c) taking as
# long as (b): three times the sources on three times the nodes. Everything
# runs on this machine (2 shared cores: nodes, database and feed server
# compete), so read the figures as a floor, ±15 % or worse.
#
# Feeds: 5 distinct items each, on 16 loopback hosts, served by nginx
# (apt-get install nginx postgresql). PostgreSQL is started in a temporary
# folder as the user nobody, as tests/common/pg.rs does.
#
# Usage: scripts/cluster-bench.sh [N]   (default 10000)
#   NEWSDESK_BIN=path   the binary (default: a release build of this tree)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
HOSTS=16
BIN=${NEWSDESK_BIN:-target/release/newsdesk}
[ -n "${NEWSDESK_BIN:-}" ] || cargo build --release --locked --quiet
BIN=$(realpath "$BIN")
PGBIN=$(dirname "$(realpath "$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)")")
command -v nginx >/dev/null || { echo "needs nginx (apt-get install nginx)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/cluster-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
cleanup() {
    # TERM first: nginx's master then takes its workers down with it.
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL, as an unprivileged user, on loopback.
PGPORT=$(free_port)
mkdir -p "$TMP/pg"
[ "$(id -u)" = 0 ] && chown nobody "$TMP/pg"
PGUSER=$( [ "$(id -u)" = 0 ] && echo nobody || id -un )
as_pg "$PGBIN/initdb" -D "$TMP/pg/data" -A trust -U "$PGUSER" --no-sync -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/log" -w \
    -o "-k $TMP/pg -p $PGPORT -h 127.0.0.1 -c max_connections=300 -c shared_buffers=256MB" start >/dev/null
psql_() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U "$PGUSER" -d postgres -tAc "$1"; }

# Feeds: 3N, five items each, dated in the hours before now (the same
# generator as scripts/poll-10k.sh).
python3 scripts/lib/make-feeds.py "$TMP/www" "$((3 * N))"
PORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
{
    echo "worker_processes 1; daemon off; pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; default_type application/rss+xml; keepalive_requests 100000;"
    echo "  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx; fastcgi_temp_path $TMP/nginx;"
    echo "  uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx; server {"
    for ((h = 1; h <= HOSTS; h++)); do echo "    listen 127.0.0.$h:$PORT;"; done
    echo "    root $TMP/www; } }"
} >"$TMP/nginx/nginx.conf"
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5

# A node's config: sources [from, to), the storage lines given.
node_config() { # file from to storage listen_port
    {
        printf '[server]\nlisten = "127.0.0.1:%s"\npublic_url = "https://news.example/"\n' "$5"
        printf '[log]\nlevel = "warn"\n[storage]\nretention = "36500d"\n%b\n' "$4"
        # As many fetch slots as sources: every first poll is due at once (more
        # sources than slots spread their first polls over the interval).
        printf '[poll]\nallow_private = true\ninterval = "6h"\nmin_interval = "6h"\nconcurrency = %d\n' $(($3 - $2))
        printf '[[sections]]\nid = "news"\ntitle = "News"\nfallback = true\n'
        for ((i = $2; i < $3; i++)); do
            printf '[[sources]]\nid = "s%d"\nurl = "http://127.0.0.%d:%d/f/%d.xml"\n' "$i" $((i % HOSTS + 1)) "$PORT" "$i"
        done
    } >"$1"
}

# Run `nodes` daemons on the configs given until `want` items are stored
# (the sum of their newsdesk_items_stored); sets WALL (s) and PEAKS (MiB).
run_nodes() { # want config...
    local want=$1; shift
    local ports=() pids=() start
    configs_run=("$@")
    start=$(date +%s.%N)
    for c in "$@"; do
        local p; p=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$c")
        "$BIN" run --config "$c" >/dev/null 2>"$c.err" &
        pids+=($!); PIDS+=($!); ports+=("$p")
    done
    local stored=0
    for _ in $(seq 3600); do
        stored=0
        for p in "${ports[@]}"; do
            local n; n=$( (curl -fsS "http://127.0.0.1:$p/metrics" 2>/dev/null || true) | sed -n 's/^newsdesk_items_stored_total \([0-9]*\).*/\1/p')
            stored=$((stored + ${n:-0}))
        done
        [ "$stored" -ge "$want" ] && break
        sleep 0.5
    done
    WALL=$(echo "$(date +%s.%N) - $start" | bc)
    PEAKS=()
    for k in "${!pids[@]}"; do
        local hwm; hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/${pids[$k]}/status" 2>/dev/null || true)
        [ -n "$hwm" ] || { echo "node ${k} is gone; its log:" >&2; tail -5 "${configs_run[$k]}.err" >&2; exit 1; }
        PEAKS+=($((hwm / 1024)))
    done
    for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
    [ "$stored" -ge "$want" ] || { echo "only $stored of $want items stored; see $c.err" >&2; exit 1; }
}

echo "cluster-bench: $N sources per node, 5 items each, on $HOSTS hosts (nginx); PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'); $(nproc) cores"
node_config "$TMP/sled.toml" 0 "$N" "path = \"$TMP/sled-data\"" "$(free_port)"
run_nodes $((5 * N)) "$TMP/sled.toml"
SLED_WALL=$WALL; SLED_PEAK=${PEAKS[0]}
echo "(a) sled, 1 node, $N sources: ${WALL}s, peak ${SLED_PEAK} MiB, store $(du -sh "$TMP/sled-data" | cut -f1)"

psql_ "CREATE DATABASE one" >/dev/null
node_config "$TMP/one.toml" 0 "$N" "backend = \"postgres\"\nurl = \"postgres://$PGUSER@127.0.0.1:$PGPORT/one\"\nnode = \"solo\"" "$(free_port)"
run_nodes $((5 * N)) "$TMP/one.toml"
ONE_WALL=$WALL; ONE_PEAK=${PEAKS[0]}
ONE_SIZE=$(psql_ "SELECT pg_size_pretty(pg_database_size('one'))")
echo "(b) PostgreSQL, 1 node, $N sources: ${WALL}s, peak ${ONE_PEAK} MiB, database $ONE_SIZE"

psql_ "CREATE DATABASE three" >/dev/null
configs=()
for k in 0 1 2; do
    # Every node has every source: the leases decide who polls what.
    node_config "$TMP/three-$k.toml" 0 $((3 * N)) "backend = \"postgres\"\nurl = \"postgres://$PGUSER@127.0.0.1:$PGPORT/three\"\nnode = \"n$k\"" "$(free_port)"
    configs+=("$TMP/three-$k.toml")
done
run_nodes $((15 * N)) "${configs[@]}"
THREE_WALL=$WALL
THREE_SIZE=$(psql_ "SELECT pg_size_pretty(pg_database_size('three'))")
echo "(c) PostgreSQL, 3 nodes, $((3 * N)) sources: ${WALL}s, peaks ${PEAKS[*]} MiB, database $THREE_SIZE"
MAXPEAK=$(printf '%s\n' "${PEAKS[@]}" | sort -n | tail -1)
awk -v a="$SLED_WALL" -v b="$ONE_WALL" -v c="$THREE_WALL" -v pa="$SLED_PEAK" -v pb="$ONE_PEAK" -v pc="$MAXPEAK" 'BEGIN {
    printf "wall: PostgreSQL 1 node / sled %.2fx; 3 nodes (3x the sources) / 1 node on PostgreSQL %.2fx (1.0 = ideal scaling)\n", b / a, c / b
    printf "peak memory per node: PostgreSQL / sled %.2fx; 3-node cluster (largest node) / 1 node on PostgreSQL %.2fx\n", pb / pa, pc / pb }'
