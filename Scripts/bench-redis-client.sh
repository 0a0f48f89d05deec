#!/usr/bin/env bash
# Benchmark: our Redis client's EVALSHA (one-key INCRBY+PEXPIRE) against redis-benchmark
# running the same script, side by side in one run, on one fresh redis-server.
# Usage: Scripts/bench-redis-client.sh [requests-per-run]   (default 200000)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

requests="${1:-200000}"
ensure_packages
bench="$(build_release tollgate-bench)/tollgate-bench"

port="$(free_port)"
dir="$(mktemp -d)"
start_redis "$port" "$dir"
script=$'local value = redis.call(\'INCRBY\', KEYS[1], ARGV[1])\nredis.call(\'PEXPIRE\', KEYS[1], ARGV[2])\nreturn value'
sha="$(redis-cli -p "$port" script load "$script")"

# redis-benchmark: one CSV row -> "rps p50 p99"
rb() {
    redis-benchmark -p "$port" -c "$1" -P 1 -n "$2" -r 10000 --csv \
        evalsha "$sha" 1 bench:key:__rand_int__ 1 60000 2>/dev/null |
        tail -1 | tr -d '"' | awk -F, '{print $2, $5, $7}'
}
# ours: one line -> "rps p50 p99 avg_batch"
ours() {
    "$bench" redis-client --url "redis://127.0.0.1:$port" --concurrency "$1" --requests "$2" |
        grep '^tollgate-client' | sed -E 's/.* rps=([0-9]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+) .*avg_batch=([0-9.]+).*/\1 \2 \3 \4/'
}

printf '%-34s %12s %10s %10s\n' "client (script: INCRBY+PEXPIRE)" "calls/s" "p50 ms" "p99 ms"
for round in 1 2; do
    read -r rb1 rb1p50 rb1p99 < <(rb 1 $((requests / 4)))
    read -r us1 us1p50 us1p99 _ < <(ours 1 $((requests / 4)))
    read -r rb64 rb64p50 rb64p99 < <(rb 64 "$requests")
    read -r us64 us64p50 us64p99 batch < <(ours 64 "$requests")
    printf '%-34s %12s %10s %10s\n' \
        "redis-benchmark -c 1 -P 1" "$rb1" "$rb1p50" "$rb1p99" \
        "tollgate client, 1 caller" "$us1" "$us1p50" "$us1p99" \
        "redis-benchmark -c 64 -P 1" "$rb64" "$rb64p50" "$rb64p99" \
        "tollgate client, 64 callers, 2 conn" "$us64" "$us64p50" "$us64p99"
    awk -v a="$us64" -v b="$rb64" -v c="$us1p50" -v d="$rb1p50" -v e="$batch" -v r="$round" 'BEGIN {
        printf "round %d: throughput ratio at c=64 (ours / redis-benchmark) = %.2f with 2 vs 64 connections (avg batch %s)\n", r, a / b, e
        printf "round %d: p50 latency ratio at c=1 (ours / redis-benchmark) = %.2f\n", r, c / d }'
done
echo "redis-server $(redis-server --version | awk '{print $3}'), commandstats:"
redis-cli -p "$port" info commandstats | grep -E 'evalsha|incrby|pexpire' || true
