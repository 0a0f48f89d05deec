#!/usr/bin/env bash
# Benchmark: what Redis's `appendfsync always` costs the gateway, against `everysec`.
# Two redis-servers with AOF on, their files on the same disk, one per fsync policy, each
# with its own gateway; reserve+commit pairs (tollgate-bench gateway-load) at concurrency
# 1 and 64, alternating between the two setups, two rounds, side by side in one run; and,
# as the floor, redis-benchmark SET on each server at the same concurrencies.
# Usage: Scripts/bench-aof.sh [seconds-per-run]   (default 8)
#        TOLLGATE_BIN_DIR=.build/debug Scripts/bench-aof.sh   to use binaries already built
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

seconds="${1:-8}"
ensure_packages
bin="${TOLLGATE_BIN_DIR:-$(build_release tollgate tollgate-bench)}"

# Not under /tmp: it may be a tmpfs, where fsync costs nothing.
mkdir -p "$TOLLGATE_ROOT/.build"
work="$(mktemp -d -p "$TOLLGATE_ROOT/.build" bench-aof.XXXXXX)"
trap 'stop_started; rm -rf "$work"' EXIT
declare -A gateway redis_ports
for policy in everysec always; do
    redis_port="$(free_port)"
    redis_ports[$policy]="$redis_port"
    start_redis "$redis_port" "$work/redis-$policy" --appendonly yes --appendfsync "$policy"
    url="redis://127.0.0.1:$redis_port"
    "$bin/tollgate-bench" gateway-load --setup-redis "$url" --prefix bench >/dev/null
    port="$(free_port)"
    "$bin/tollgate" serve --redis "$url" --prefix bench --port "$port" --node "$policy" --spool "$work/spool-$policy.jsonl" --log-level error &
    track_pid $!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    gateway[$policy]="http://127.0.0.1:$port"
done

field() { echo "$1" | sed -E "s/.* $2=([0-9.]+).*/\1/"; }

printf '%-7s %-10s %4s %9s %8s %8s\n' "" appendfsync c "SET/s" "p50 ms" "p99 ms"
for concurrency in 1 64; do
    for policy in everysec always; do
        # CSV: test, rps, avg, min, p50, p95, p99, max
        redis-benchmark -p "${redis_ports[$policy]}" -c "$concurrency" -n $((concurrency == 1 ? 3000 : 30000)) -r 100000 -t set --csv -q | tail -1 |
            awk -F'","' -v p="$policy" -v c="$concurrency" '{ printf "%-7s %-10s %4s %9s %8s %8s\n", "redis", p, c, $2, $5, $7 }'
    done
done

printf '%-7s %-10s %4s %9s %8s %8s %7s\n' round appendfsync c pairs/s "p50 ms" "p99 ms" errors
for round in 1 2; do
    for concurrency in 1 64; do
        declare -A rps p50 p99
        for policy in everysec always; do
            line=$("$bin/tollgate-bench" gateway-load --urls "${gateway[$policy]}" --concurrency "$concurrency" --mode pair --seconds "$seconds" | tail -1)
            rps[$policy]=$(field "$line" rps)
            p50[$policy]=$(field "$line" p50_ms)
            p99[$policy]=$(field "$line" p99_ms)
            printf '%-7s %-10s %4s %9s %8s %8s %7s\n' "$round" "$policy" "$concurrency" "${rps[$policy]}" "${p50[$policy]}" "${p99[$policy]}" "$(field "$line" errors)"
        done
        awk -v a="${rps[always]}" -v e="${rps[everysec]}" -v pa="${p50[always]}" -v pe="${p50[everysec]}" -v qa="${p99[always]}" -v qe="${p99[everysec]}" \
            'BEGIN { printf "        always/everysec, c=%s: throughput %.2f, p50 %.2f, p99 %.2f\n", "'"$concurrency"'", a / e, pa / pe, qa / qe }'
    done
done
