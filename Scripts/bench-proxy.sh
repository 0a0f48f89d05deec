#!/usr/bin/env bash
# Benchmark: proxy mode's cost over calling the provider directly, side by side in one run
# against the same local mock provider (Scripts/checks/mock_provider.py):
#   - added latency at concurrency 1: a plain chat completion, p50 and p99, direct vs through
#     the gateway (reserve + forward + relay + commit), the targets alternating call by call;
#   - streaming time to first byte added, the same way;
#   - calls per second at concurrency 64 (wrk, Scripts/bench/proxy.lua), direct vs gateway.
# Usage: Scripts/bench-proxy.sh [seconds-per-wrk-run] [calls-at-concurrency-1]   (default 8, 2000)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

seconds="${1:-8}"
calls="${2:-2000}"
ensure_packages wrk curl
bin="$(build_release tollgate)"
work="$(mktemp -d)"
redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_KEY_PREFIX="bench" TOLLGATE_ACTOR="bench"
"$bin/tollgate" price defaults --reason bench >/dev/null
"$bin/tollgate" tier set roomy --tpm none --rpm none --daily-budget none --monthly-budget none --reason bench >/dev/null
"$bin/tollgate" org create bench --tier roomy >/dev/null
"$bin/tollgate" workspace create bench-ws --org bench >/dev/null
"$bin/tollgate" key create bench-key --workspace bench-ws >/dev/null
token="$("$bin/tollgate" token create bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')"

mock_port="$(free_port)"
python3 "$TOLLGATE_ROOT/Scripts/checks/mock_provider.py" "$mock_port" &
track_pid $!
wait_http "http://127.0.0.1:$mock_port/mock/billed"
gateway_port="$(free_port)"
TOLLGATE_OPENAI_BASE_URL="http://127.0.0.1:$mock_port/v1" TOLLGATE_OPENAI_API_KEY="sk-bench" \
    "$bin/tollgate" serve --port "$gateway_port" --node bench --spool "$work/spool.jsonl" --log-level error &
track_pid $!
wait_http "http://127.0.0.1:$gateway_port/readyz"
direct="http://127.0.0.1:$mock_port"
gateway="http://127.0.0.1:$gateway_port"

log "concurrency 1: $calls plain and $calls streamed calls per target, alternating"
read -r _ d50 d99 dt50 dt99 g50 g99 gt50 gt99 < <(python3 "$TOLLGATE_ROOT/Scripts/bench/proxy_latency.py" "$calls" "$token" \
    "direct=$direct" "gateway=$gateway" | tr '\n' ' ' | awk '{print "x", $2, $3, $4, $5, $7, $8, $9, $10}')

wrk_run() {  # wrk_run URL CONNECTIONS: "calls/s p50 p99 failures"
    PROXY_TOKEN="$token" wrk -t2 -c"$2" -d"${seconds}s" -s "$TOLLGATE_ROOT/Scripts/bench/proxy.lua" "$1" 2>&1 |
        awk -v s="$seconds" '/^wrk-summary/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%d %.3f %.3f %d\n", v["requests"] / s, v["p50_ms"], v["p99_ms"], v["non2xx"] + v["errors"] }'
}
log "concurrency 64: wrk, ${seconds} s per target"
read -r drps dp50 dp99 dbad < <(wrk_run "$direct" 64)
read -r grps gp50 gp99 gbad < <(wrk_run "$gateway" 64)

printf '\n%-44s %10s %10s %10s\n' "what" "direct" "gateway" "added"
printf '%-44s %10s %10s %10s\n' "c=1 plain call p50 ms" "$d50" "$g50" "$(echo "$g50 - $d50" | bc -l | xargs printf '%.3f')"
printf '%-44s %10s %10s %10s\n' "c=1 plain call p99 ms" "$d99" "$g99" "$(echo "$g99 - $d99" | bc -l | xargs printf '%.3f')"
printf '%-44s %10s %10s %10s\n' "c=1 stream first byte p50 ms" "$dt50" "$gt50" "$(echo "$gt50 - $dt50" | bc -l | xargs printf '%.3f')"
printf '%-44s %10s %10s %10s\n' "c=1 stream first byte p99 ms" "$dt99" "$gt99" "$(echo "$gt99 - $dt99" | bc -l | xargs printf '%.3f')"
printf '%-44s %10s %10s %10s\n' "c=64 calls/s (wrk)" "$drps" "$grps" "ratio $(echo "$grps / $drps" | bc -l | xargs printf '%.2f')"
printf '%-44s %10s %10s\n' "c=64 p50 / p99 ms" "$dp50/$dp99" "$gp50/$gp99"
printf '%-44s %10s %10s\n' "c=64 failures" "$dbad" "$gbad"
printf 'ledger entries written: %s\n' "$(redis-cli -p "$redis_port" --scan --pattern 'bench:*:ledger' | xargs -r -n1 redis-cli -p "$redis_port" XLEN | paste -sd+ | bc)"
