# Shared helpers for Tollgate's scripts. Source it; do not run it.
# Every process a script starts is recorded by PID and stopped by PID, never by name.

set -euo pipefail

TOLLGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOLLGATE_ROOT

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# Installs redis-server and libhiredis-dev with apt-get when one is missing, and any other
# tools named as COMMAND or COMMAND:PACKAGE arguments (e.g. `ensure_packages curl jq`).
ensure_packages() {
    local missing=() tool
    for tool in "$@"; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
    done
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    pkg-config --exists hiredis 2>/dev/null || missing+=(libhiredis-dev pkg-config)
    pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

STARTED_PIDS=()

# Remembers a PID to stop when the script exits.
track_pid() { STARTED_PIDS+=("$1"); }

# Stops every process this script started (SIGTERM, then SIGKILL after 10 s), newest first.
stop_started() {
    local i pid
    for ((i=${#STARTED_PIDS[@]}-1; i>=0; i--)); do
        pid="${STARTED_PIDS[$i]}"
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STARTED_PIDS=()
}

# start_redis PORT DIR [extra redis-server arguments...]: a redis-server on 127.0.0.1:PORT
# whose files live in DIR; waits until it answers PING.
start_redis() {
    local port="$1" dir="$2"; shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log" \
        --save "" --appendonly no --daemonize no "$@" &
    local pid=$!
    track_pid "$pid"
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    log "redis-server on port $port did not start; its log:"
    tail -20 "$dir/redis.log" >&2 || true
    return 1
}

# build_release PRODUCT...: builds the products in release mode and prints the folder
# they are in (for the benchmarks).
build_release() {
    local product
    log "building $* (release)"
    for product in "$@"; do
        (cd "$TOLLGATE_ROOT" && swift build -c release --product "$product" >/dev/null)
    done
    (cd "$TOLLGATE_ROOT" && swift build -c release --show-bin-path)
}

# start_cluster PRIMARIES REPLICAS DIR: a local Redis Cluster on free loopback ports
# (AOF on), slots split evenly; sets CLUSTER_URL (redis+cluster://...) and CLUSTER_PORTS.
start_cluster() {
    local primaries="$1" replicas="$2" dir="$3"
    local total=$(( primaries * (1 + replicas) )) i port
    CLUSTER_PORTS=()
    for ((i = 0; i < total; i++)); do
        port="$(free_port)"
        # A cluster node also listens on port + 10000, so its port must be 55535 or less.
        while [ "$port" -gt 55535 ]; do port="$(free_port)"; done
        start_redis "$port" "$dir/node-$port" --cluster-enabled yes --cluster-config-file "$dir/node-$port/nodes.conf" \
            --cluster-node-timeout 2000 --appendonly yes
        CLUSTER_PORTS+=("$port")
    done
    for port in "${CLUSTER_PORTS[@]:1}"; do redis-cli -p "$port" cluster meet 127.0.0.1 "${CLUSTER_PORTS[0]}" >/dev/null; done
    local per=$(( 16384 / primaries )) start end
    for ((i = 0; i < primaries; i++)); do
        start=$(( i * per )); end=$(( i == primaries - 1 ? 16383 : start + per - 1 ))
        redis-cli -p "${CLUSTER_PORTS[$i]}" cluster addslotsrange "$start" "$end" >/dev/null
    done
    for ((i = primaries; i < total; i++)); do
        local primary_id; primary_id="$(redis-cli -p "${CLUSTER_PORTS[$(( (i - primaries) % primaries ))]}" cluster myid)"
        for _ in $(seq 1 100); do
            redis-cli -p "${CLUSTER_PORTS[$i]}" cluster replicate "$primary_id" 2>/dev/null | grep -q OK && break
            sleep 0.1
        done
    done
    for port in "${CLUSTER_PORTS[@]}"; do
        for _ in $(seq 1 200); do
            redis-cli -p "$port" cluster info | grep -q "cluster_state:ok" && break
            sleep 0.05
        done
    done
    CLUSTER_URL="redis+cluster://$(for ((i = 0; i < primaries; i++)); do printf '127.0.0.1:%s,' "${CLUSTER_PORTS[$i]}"; done | sed 's/,$//')"
}

# start_customers_redis PORT DIR COUNT BIN: a redis-server on PORT holding COUNT organisations,
# each with a workspace and a key (o1.. ⊃ w1.. ⊃ k1.., prefix `bench`, on top of the
# `gateway-load --setup-redis` set-up: tier pro, prices, a service token). With
# TOLLGATE_BENCH_RDB_DIR set, the loaded store is kept there as customers-COUNT.rdb and a later
# run starts from that file (seconds) instead of loading it again (minutes at 1,000,000).
start_customers_redis() {
    local port="$1" dir="$2" count="$3" bin="$4" rdb="" loaded
    [ -n "${TOLLGATE_BENCH_RDB_DIR:-}" ] && rdb="$TOLLGATE_BENCH_RDB_DIR/customers-$count.rdb"
    mkdir -p "$dir"
    if [ -n "$rdb" ] && [ -f "$rdb" ]; then
        ln -sf "$(realpath "$rdb")" "$dir/dump.rdb"
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --logfile "$dir/redis.log" --save "" --appendonly no --daemonize no &
        track_pid $!
        for _ in $(seq 1 600); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break; sleep 0.2; done
    else
        start_redis "$port" "$dir"
        "$bin/tollgate-bench" gateway-load --setup-redis "redis://127.0.0.1:$port" --prefix bench >/dev/null
        "$bin/tollgate-bench" customers --action load --url "redis://127.0.0.1:$port" --count "$count" --concurrency 4
        if [ -n "$rdb" ]; then
            mkdir -p "$(dirname "$rdb")"
            redis-cli -p "$port" save >/dev/null && cp "$dir/dump.rdb" "$rdb"
        fi
    fi
    loaded="$(redis-cli -p "$port" zcard 'bench:{cfg}:c:all:o')"
    [ "$loaded" -ge "$count" ] || { log "redis on port $port holds $loaded organizations, fewer than $count"; return 1; }
}

# wait_http URL: until it answers 2xx (10 s at most).
wait_http() {
    for _ in $(seq 1 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    log "$1 did not answer"; return 1
}

# wrk_reserve SECONDS CONNECTIONS URL...: POST /v1/reserve (Scripts/bench/reserve.lua; keys
# k0..k<BENCH_KEYS-1> if set) on every URL at once, the connections split between them;
# prints "calls/s p50-ms p99-ms failures" (calls summed, the worst node's percentiles).
wrk_reserve() {
    local seconds="$1" connections="$2"; shift 2
    local per=$(( connections / $# )); [ "$per" -ge 1 ] || per=1
    local outputs=() pids=() url out pid
    for url in "$@"; do
        out="$(mktemp)"; outputs+=("$out")
        wrk -t1 -c"$per" -d"${seconds}s" -s "$TOLLGATE_ROOT/Scripts/bench/reserve.lua" "$url" >"$out" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    cat "${outputs[@]}" | awk -v s="$seconds" '/^wrk-summary/ {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        total += v["requests"]; bad += v["non2xx"] + v["errors"]
        if (v["p50_ms"] > p50) p50 = v["p50_ms"]; if (v["p99_ms"] > p99) p99 = v["p99_ms"] }
        END { printf "%d %.3f %.3f %d\n", total / s, p50, p99, bad }'
    rm -f "${outputs[@]}"
}

# ensure_venv: a Python virtual environment for this checkout's test run (.tollgate/venv, not
# committed) holding the pinned packages of Scripts/checks/requirements.txt; sets
# TOLLGATE_PYTHON to its interpreter. Installs only what is missing (pip is quiet when all is there).
ensure_venv() {
    local venv="$TOLLGATE_ROOT/.tollgate/venv" requirements="$TOLLGATE_ROOT/Scripts/checks/requirements.txt"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating the test venv in .tollgate/venv"
        mkdir -p "$TOLLGATE_ROOT/.tollgate"
        python3 -m venv "$venv"
    fi
    local stamp="$venv/requirements.sha256" want
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing the test run's Python packages (Scripts/checks/requirements.txt)"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
        printf '%s\n' "$want" >"$stamp"
    fi
    TOLLGATE_PYTHON="$venv/bin/python"
    export TOLLGATE_PYTHON
}

# tollgate_bin: the debug `tollgate` executable that `swift build` made.
tollgate_bin() { printf '%s/tollgate\n' "$(cd "$TOLLGATE_ROOT" && swift build --show-bin-path)"; }

# start_pair_stack BIN_DIR WORK NODES: for the reserve+commit benchmarks (soak.sh,
# bench-capacity.sh): a redis-server, the engine benchmark's configuration (tollgate-bench
# gateway-load --setup-redis, prefix `bench`; settings.idempotency_buckets from
# IDEMPOTENCY_BUCKETS if set) and NODES release gateways. Sets REDIS_PORT,
# REDIS_URL, GATEWAY_URLS (comma-separated) and GATEWAY_PIDS (array).
start_pair_stack() {
    local bin="$1" work="$2" nodes="$3" node port
    REDIS_PORT="$(free_port)"
    start_redis "$REDIS_PORT" "$work/redis"
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    "$bin/tollgate-bench" gateway-load --setup-redis "$REDIS_URL" --prefix bench
    if [ -n "${IDEMPOTENCY_BUCKETS:-}" ]; then  # before any call: records are found by bucket
        TOLLGATE_REDIS_URL="$REDIS_URL" TOLLGATE_KEY_PREFIX=bench "$bin/tollgate" config export --json >"$work/configuration.json"
        python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["settings"]["idempotency_buckets"] = int(sys.argv[2]); json.dump(c, open(sys.argv[1], "w"))' \
            "$work/configuration.json" "$IDEMPOTENCY_BUCKETS"
        TOLLGATE_REDIS_URL="$REDIS_URL" TOLLGATE_KEY_PREFIX=bench "$bin/tollgate" config import "$work/configuration.json" --reason bench >/dev/null
    fi
    GATEWAY_URLS="" GATEWAY_PIDS=()
    for ((node = 0; node < nodes; node++)); do
        port="$(free_port)"
        "$bin/tollgate" serve --redis "$REDIS_URL" --prefix bench --port "$port" --node "g$node" --spool "$work/spool-$node.jsonl" \
            --log-level error &
        track_pid $!
        GATEWAY_PIDS+=($!)
        wait_http "http://127.0.0.1:$port/readyz"
        GATEWAY_URLS="${GATEWAY_URLS:+$GATEWAY_URLS,}http://127.0.0.1:$port"
    done
}

# start_monitor BIN_DIR WORK: a release monitor on the pair stack's Redis; sets MONITOR_PID.
start_monitor() {
    "$1/tollgate" monitor --redis "$REDIS_URL" --prefix bench --consumer "bench-monitor" --log-level error >"$2/monitor.log" 2>&1 &
    track_pid $!
    MONITOR_PID=$!
}

# rss_kb PID: resident set size in KiB (VmRSS).
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# cpu_ticks PID: user + system CPU time of a process in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# redis_info PORT FIELD: one field of INFO (e.g. used_memory, total_net_input_bytes).
redis_info() { redis-cli -p "$1" info all | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }

# redis_cpu_seconds PORT: Redis' user + system CPU seconds (INFO cpu).
redis_cpu_seconds() { redis-cli -p "$1" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { total += $2 } END { printf "%.6f", total }'; }

# ledger_state PORT: "added length backlog unread" over the pair stack's ledger streams:
# entries ever added (the calls committed), entries still in the streams, entries the
# monitors' group has not acknowledged (lag + pending), and streams with entries but no
# group yet (their backlog is not known).
ledger_state() {
    local port="$1" stream added=0 length=0 backlog=0 unread=0 a l b g
    for stream in $(redis-cli -p "$port" --scan --pattern 'bench:*:ledger'); do
        read -r a l < <(redis-cli -p "$port" xinfo stream "$stream" | tr -d '\r' |
            awk 'prev == "entries-added" { a = $0 } prev == "length" { l = $0 } { prev = $0 } END { print a + 0, l + 0 }')
        read -r b g < <(redis-cli -p "$port" xinfo groups "$stream" 2>/dev/null | tr -d '\r' |
            awk 'prev == "pending" || prev == "lag" { s += $0 } $0 == "name" { g++ } { prev = $0 } END { print s + 0, g + 0 }')
        [ "$g" -eq 0 ] && [ "$a" -gt 0 ] && unread=$((unread + 1))
        added=$((added + a)); length=$((length + l)); backlog=$((backlog + b))
    done
    echo "$added $length $backlog $unread"
}
