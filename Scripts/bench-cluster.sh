#!/usr/bin/env bash
# Benchmark: decisions per second on a Redis Cluster of one primary vs three primaries, with
# the same gateways and the same load, in one run (rounds alternate between the two).
#   - gateway level: two gateway nodes (release build), wrk at 64 connections posting
#     /v1/reserve round-robin over 48 organizations (so over every partition, every slot range);
#   - engine level: tollgate-bench engine-load (the quota engine without HTTP), 64 callers.
# Both clusters run without replicas and with AOF on (appendfsync everysec), so the primary
# count is the only difference. Redis CPU per decision comes from INFO cpu deltas of the
# cluster's processes, the call split from INFO commandstats.
# Usage: Scripts/bench-cluster.sh [seconds-per-run] [rounds]   (default 8 and 2)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

seconds="${1:-8}" rounds="${2:-2}" organizations=48 concurrency=64
ensure_packages curl wrk
bin="$(build_release tollgate tollgate-bench)"

work="$(mktemp -d)"
declare -A url ports
for primaries in 1 3; do
    start_cluster "$primaries" 0 "$work/cluster-$primaries"
    url[$primaries]="$CLUSTER_URL"
    ports[$primaries]="${CLUSTER_PORTS[*]}"
    "$bin/tollgate-bench" gateway-load --setup-redis "$CLUSTER_URL" --prefix bench --organizations "$organizations" \
        --write-config "$work/config.json"
done
keys="$(seq -s, -f 'k%g' 0 $((organizations - 1)))"

redis_cpu() {  # the summed user+sys CPU seconds of the cluster's processes
    local port total=0
    for port in $1; do
        total="$(redis-cli -p "$port" info cpu | tr -d '\r' | awk -F: -v t="$total" \
            '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%.4f", t }')"
    done
    echo "$total"
}
reset_stats() { local port; for port in $1; do redis-cli -p "$port" config resetstat >/dev/null; done; }
evalsha_cost() {  # "calls µs-per-call" of EVALSHA summed over the cluster's nodes (INFO commandstats)
    local port
    for port in $1; do
        redis-cli -p "$port" info commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_(evalsha|fcall):/ { print $3, $5 }'
    done | awk '{ c += $1; u += $2 } END { if (c > 0) printf "%d %.1f\n", c, u / c; else print "0 -" }'
}
busiest_share() {  # the largest share of EVALSHA calls one primary served, in percent
    local port
    for port in $1; do
        redis-cli -p "$port" info commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_(evalsha|fcall):/ { print $3 }'
    done | awk '{ n[NR] = $1; t += $1 } END { for (i in n) if (n[i] > m) m = n[i]; if (t > 0) printf "%.0f", 100 * m / t; else print "-" }'
}


declare -A sum
row() { printf '%-10s %-6s %-8s %12s %8s %8s %13s %13s %9s %s\n' "$@"; }
row "primaries" "round" "level" "decisions/s" "p50 ms" "p99 ms" "script µs/call" "Redis CPU µs/d" "busiest%" "notes"
for ((round = 1; round <= rounds; round++)); do
    for primaries in 1 3; do
        # Gateway level: two fresh gateway nodes on this cluster.
        gateway_pids=() gateway_urls=()
        for node in a b; do
            port="$(free_port)"
            "$bin/tollgate" serve --redis "${url[$primaries]}" --prefix bench --port "$port" --node "$node" \
                --spool "$work/spool-$primaries-$round-$node.jsonl" --log-level error &
            track_pid $!; gateway_pids+=($!); gateway_urls+=("http://127.0.0.1:$port")
        done
        for target in "${gateway_urls[@]}"; do wait_http "$target/readyz"; done
        BENCH_KEYS="$organizations" wrk_reserve 2 "$concurrency" "${gateway_urls[@]}" >/dev/null   # warm-up
        reset_stats "${ports[$primaries]}"
        before="$(redis_cpu "${ports[$primaries]}")"
        read -r rps p50 p99 bad < <(BENCH_KEYS="$organizations" wrk_reserve "$seconds" "$concurrency" "${gateway_urls[@]}")
        after="$(redis_cpu "${ports[$primaries]}")"
        cpu="$(awk -v a="$after" -v b="$before" -v r="$rps" -v s="$seconds" 'BEGIN { printf "%.1f", (a - b) * 1e6 / (r * s) }')"
        read -r calls per_call < <(evalsha_cost "${ports[$primaries]}")
        row "$primaries" "$round" "gateway" "$rps" "$p50" "$p99" "$per_call" "$cpu" "$(busiest_share "${ports[$primaries]}")" "non-2xx=$bad"
        sum["gateway-$primaries"]=$(( ${sum["gateway-$primaries"]:-0} + rps ))
        for pid in "${gateway_pids[@]}"; do kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; done

        # Engine level: the same reservations straight from the quota engine.
        reset_stats "${ports[$primaries]}"
        before="$(redis_cpu "${ports[$primaries]}")"
        line="$("$bin/tollgate-bench" engine-load --url "${url[$primaries]}" --prefix bench --config "$work/config.json" \
            --keys "$keys" --model gpt-4.1 --concurrency "$concurrency" --connections 2 --seconds "$seconds" --commit none \
            --id-prefix "e$primaries-$round" | tail -1)"
        after="$(redis_cpu "${ports[$primaries]}")"
        rps="$(sed -E 's/.*decisions_per_second=([0-9]+).*/\1/' <<<"$line")"
        errors="$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")"
        cpu="$(awk -v a="$after" -v b="$before" -v r="$rps" -v s="$seconds" 'BEGIN { printf "%.1f", (a - b) * 1e6 / (r * s) }')"
        read -r calls per_call < <(evalsha_cost "${ports[$primaries]}")
        row "$primaries" "$round" "engine" "$rps" "-" "-" "$per_call" "$cpu" "$(busiest_share "${ports[$primaries]}")" "errors=$errors"
        sum["engine-$primaries"]=$(( ${sum["engine-$primaries"]:-0} + rps ))
    done
done
echo
for level in gateway engine; do
    awk -v one="${sum["$level-1"]}" -v three="${sum["$level-3"]}" -v l="$level" -v r="$rounds" \
        'BEGIN { printf "%-8s 1 primary %8d/s   3 primaries %8d/s   ratio 3:1 = %.2f\n", l, one / r, three / r, three / one }'
done
echo "cores: $(nproc); everything (Redis, gateways, load generators) shares them"
