#!/usr/bin/env bash
# Benchmark: the per-call costs Docs/capacity.md is built from, measured on this machine with
# release builds, one Redis, one gateway and one monitor:
#   phase 1, load (no monitor running): reserve+commit pairs through the gateway (tollgate-bench
#     gateway-load, c=16); per committed call: Redis CPU (INFO cpu delta), Redis time inside
#     the scripts (commandstats usec_per_call of EVALSHA, reserve + commit), gateway CPU
#     (/proc/PID/stat), Redis network in and out, Redis memory right after (used_memory delta:
#     the request record, the ledger entry and what the hold leaves), ledger stream bytes per
#     entry (MEMORY USAGE of the streams / their length); the HTTP bytes of one pair (curl);
#   phase 2, catch-up: a monitor started on the backlog; per ledger entry: monitor CPU and
#     Redis CPU until the group has acknowledged everything; then, once the monitor trimmed
#     the streams, the Redis memory retained per call (the idempotency records).
# The bench's one organisation puts every call in one partition: idempotency_buckets is set
# to 512 (IDEMPOTENCY_BUCKETS to change it) so that its hashes hold tens of outcomes each, as
# a production partition's do when the buckets are sized as Docs/configuration.md says (the
# default 16,384 would leave one or two per hash in a run this short, each paying a key).
# Not a test (not in CI). Usage: Scripts/bench-capacity.sh [seconds-of-load]   (default 10;
#        TOLLGATE_BIN_DIR=DIR to use binaries already built instead of a release build)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

seconds="${1:-10}"
ensure_packages curl
bin="${TOLLGATE_BIN_DIR:-$(build_release tollgate tollgate-bench)}"
export IDEMPOTENCY_BUCKETS="${IDEMPOTENCY_BUCKETS:-512}"
work="$(mktemp -d)"
start_pair_stack "$bin" "$work" 1
gateway="${GATEWAY_PIDS[0]}"
ticks_per_second=$(getconf CLK_TCK)
commit="$(git rev-parse --short HEAD)"

# One pair by hand, for its HTTP bytes (request line, headers and body; response likewise).
token="$(grep -o 'tg_bench_[0-9a-f]*' Sources/TollgateBench/GatewayLoad.swift | head -1)"
http_bytes=0
for step in reserve commit; do
    if [ "$step" = reserve ]; then
        body='{"request_id":"bytes-1","api_key":"k0","model":"gpt-4.1","input_tokens":500,"max_output_tokens":200,"user":"alice"}'
    else
        body='{"request_id":"bytes-1","api_key":"k0","usage":{"input_tokens":450,"output_tokens":120,"total_tokens":570}}'
    fi
    sizes=$(curl -s -o /dev/null -w '%{size_request} %{size_upload} %{size_header} %{size_download}' -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d "$body" "${GATEWAY_URLS}/v1/$step")
    http_bytes=$(( http_bytes + $(tr ' ' '+' <<<"$sizes") ))
done

log "phase 1: ${seconds} s of reserve+commit pairs, c=16, one gateway, no monitor (commit $commit)"
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
read -r added0 _ _ _ < <(ledger_state "$REDIS_PORT")
memory0=$(redis_info "$REDIS_PORT" used_memory)
cpu0=$(redis_cpu_seconds "$REDIS_PORT")
in0=$(redis_info "$REDIS_PORT" total_net_input_bytes) out0=$(redis_info "$REDIS_PORT" total_net_output_bytes)
gw0=$(cpu_ticks "$gateway")
"$bin/tollgate-bench" gateway-load --urls "$GATEWAY_URLS" --concurrency 16 --mode pair --seconds "$seconds" --label capacity | tail -1
gw1=$(cpu_ticks "$gateway")
cpu1=$(redis_cpu_seconds "$REDIS_PORT")
in1=$(redis_info "$REDIS_PORT" total_net_input_bytes) out1=$(redis_info "$REDIS_PORT" total_net_output_bytes)
memory1=$(redis_info "$REDIS_PORT" used_memory)
read -r added1 length1 _ _ < <(ledger_state "$REDIS_PORT")
calls=$(( added1 - added0 ))
# Script calls (EVALSHA, or FCALL for the engine's function library): how many, and their time.
read -r script_calls script_usec < <(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
    awk -F'[:,=]' '/^cmdstat_(evalsha|fcall):/ { for (i = 2; i < NF; i++) { if ($i == "calls") c += $(i + 1); if ($i == "usec") u += $(i + 1) } }
        END { print c + 0, u + 0 }')
stream_bytes=0
for stream in $(redis-cli -p "$REDIS_PORT" --scan --pattern 'bench:*:ledger'); do
    stream_bytes=$(( stream_bytes + $(redis-cli -p "$REDIS_PORT" memory usage "$stream" samples 0) ))
done

log "phase 2: a monitor rolls the backlog up"
monitor_cpu0=0
start_monitor "$bin" "$work"
monitor_cpu0=$(cpu_ticks "$MONITOR_PID")
cpu2=$(redis_cpu_seconds "$REDIS_PORT")
started=$(date +%s.%N)
for _ in $(seq 1 1200); do
    read -r _ _ backlog unread < <(ledger_state "$REDIS_PORT")
    [ "$backlog" -eq 0 ] && [ "$unread" -eq 0 ] && break
    sleep 0.1
done
caught_up=$(bc -l <<<"$(date +%s.%N) - $started")
monitor_cpu1=$(cpu_ticks "$MONITOR_PID")
cpu3=$(redis_cpu_seconds "$REDIS_PORT")
# The monitor trims what every group acknowledged on its next pass (every 30 s).
for _ in $(seq 1 450); do
    read -r _ length2 _ _ < <(ledger_state "$REDIS_PORT")
    [ "$length2" -eq 0 ] && break
    sleep 0.1
done
memory2=$(redis_info "$REDIS_PORT" used_memory)
records=$(redis-cli -p "$REDIS_PORT" dbsize)

per() { bc -l <<<"$1" | xargs printf "%.${2:-1}f"; }
redis_us=$(per "($cpu1 - $cpu0) * 1000000 / $calls")
gateway_us=$(per "($gw1 - $gw0) * 1000000 / $ticks_per_second / $calls")
monitor_us=$(per "($monitor_cpu1 - $monitor_cpu0) * 1000000 / $ticks_per_second / $calls")
rollup_us=$(per "($cpu3 - $cpu2) * 1000000 / $calls")
net_in=$(( (in1 - in0) / calls )) net_out=$(( (out1 - out0) / calls ))
retained=$(( (memory2 - memory0) / calls ))
entry_bytes=$(( stream_bytes / (length1 > 0 ? length1 : 1) ))
echo
echo "per-call costs (commit $commit, binaries in $bin, $calls reserve+commit pairs in ${seconds} s, c=16, 1 gateway)"
printf '%-62s %12s\n' "throughput, pairs/s" "$(( calls / seconds ))"
printf '%-62s %12s\n' "Redis CPU per call (reserve + commit), us (INFO cpu)" "$redis_us"
printf '%-62s %12s\n' "Redis time inside the scripts per call, us (commandstats usec)" "$(per "$script_usec / $calls" 2)"
printf '%-62s %12s\n' "script calls (EVALSHA/FCALL) per call (one per decision)" "$(per "$script_calls / $calls" 2)"
printf '%-62s %12s\n' "gateway CPU per call, us (/proc utime+stime)" "$gateway_us"
printf '%-62s %12s\n' "Redis network in per call, bytes" "$net_in"
printf '%-62s %12s\n' "Redis network out per call, bytes" "$net_out"
printf '%-62s %12s\n' "client-gateway HTTP per call (one pair by curl), bytes" "$http_bytes"
printf '%-62s %12s\n' "Redis memory per call before roll-up (used_memory delta), bytes" "$(( (memory1 - memory0) / calls ))"
printf '%-62s %12s\n' "ledger stream bytes per entry (MEMORY USAGE / XLEN)" "$entry_bytes"
printf '%-62s %12s\n' "monitor catch-up, entries/s (backlog $calls)" "$(per "$calls / $caught_up" 0)"
printf '%-62s %12s\n' "monitor CPU per ledger entry, us" "$monitor_us"
printf '%-62s %12s\n' "Redis CPU per ledger entry rolled up, us" "$rollup_us"
printf '%-62s %12s\n' "Redis memory retained per call after trim, bytes" "$retained"
printf '%-62s %12s\n' "keys in Redis after trim (all kinds)" "$records"
printf '%-62s %12s\n' "ledger entries left in the streams after trim" "$length2"

# The plan, extrapolated from the figures above (Docs/capacity.md states the assumptions):
# a Redis primary runs commands on one core, planned at 50% of it and at most 25 GB of data;
# idempotency records kept 24 h (the default idempotency_hours); one minute of ledger backlog
# allowed; gateways and monitors planned at 60% of each core.
echo
echo "plan (extrapolated from the figures above; Redis primary at 50% of one core and <= 25 GB; 24 h retention)"
awk -v r="$redis_us" -v ru="$rollup_us" -v g="$gateway_us" -v m="$monitor_us" -v keep="$retained" -v entry="$entry_bytes" \
    -v nin="$net_in" -v nout="$net_out" -v http="$http_bytes" 'function ceil(x) { return x == int(x) ? x : int(x) + 1 }
    BEGIN {
        printf "%10s %9s %9s %9s %10s %9s %9s %12s %12s  %s\n", "calls/s", "Redis cpu", "by CPU", "memory GB", "by memory", "primaries",
            "gw cores", "monitor cores", "Redis MB/s", "first bottleneck"
        split("1000 10000 100000", rates, " ")
        for (i = 1; i <= 3; i++) {
            n = rates[i]
            cores = n * (r + ru) / 1e6
            byCPU = ceil(cores / 0.5)
            memory = (n * 86400 * keep + n * 60 * entry) / 1e9
            byMemory = ceil(memory / 25)
            primaries = byCPU > byMemory ? byCPU : byMemory
            printf "%10d %9.2f %9d %9.1f %10d %9d %9.1f %12.2f %12.1f  %s\n", n, cores, byCPU, memory, byMemory, primaries,
                n * g / 1e6 / 0.6, n * m / 1e6 / 0.6, n * (nin + nout) / 1e6, (byMemory > byCPU ? "Redis memory (retention)" : "Redis CPU")
        }
        printf "client-gateway HTTP per call: %d bytes (%.1f MB/s at 100,000 calls/s)\n", http, 100000 * http / 1e6
    }'
