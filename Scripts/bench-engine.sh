#!/usr/bin/env bash
# Benchmark: Redis-side cost of reserve and commit (key, workspace, organisation and a user
# cap, all limited) side by side in one run with (a) a one-key INCRBY+PEXPIRE script and (b) the
# envoy-ratelimit pattern (INCRBY + EXPIRE per descriptor, 16 descriptors, one pipeline per
# decision): INFO commandstats usec_per_call and Redis CPU per decision (INFO cpu delta);
# decisions per second through redis-benchmark FCALL at -c 50 -P 1 and -P 16; memory per
# active API key (MEMORY USAGE) and per retained call (INFO memory delta) beside main's old
# one-key-per-request records; then, on a fresh Redis, memory after N reserve+commit pairs.
# Usage: Scripts/bench-engine.sh [calls-per-phase] [retained-calls]   (defaults 20000, 1000000)
#        TOLLGATE_BIN_DIR=DIR         use the tollgate-bench already built there (with its resources)
#        TOLLGATE_BEFORE_BIN_DIR=DIR  first run the same rounds with an earlier build's tollgate-bench
#                                     (its own library and key prefix) on the same Redis: before and
#                                     after side by side in one run
# This build runs twice: writing state layout 1, then layout 2 (the default).
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

calls="${1:-20000}"
retained="${2:-1000000}"
# Redis' own CPU (user + system seconds, INFO cpu): its delta over a phase divided by the
# decisions counts parsing and I/O too, which usec_per_call leaves out.
redis_cpu_seconds() { redis-cli -p "$1" info cpu | awk -F: '/^used_cpu_(sys|user):/ { total += $2 } END { printf "%.6f", total }'; }
ensure_packages
bench="${TOLLGATE_BIN_DIR:-$(build_release tollgate-bench)}/tollgate-bench"

port="$(free_port)"
dir="$(mktemp -d)"
start_redis "$port" "$dir"
args="$dir/reserve-args.txt"
if [ -n "${TOLLGATE_BEFORE_BIN_DIR:-}" ]; then
    "$TOLLGATE_BEFORE_BIN_DIR/tollgate-bench" engine-cost --url "redis://127.0.0.1:$port" --calls "$calls" --rounds 2 \
        --retention-calls 0 --prefix before | sed 's/^/before: /'
fi
# This build writing state layout 1 (what gateways of earlier versions read; settings.state_layout),
# then layout 2, the default, side by side on the same Redis.
"$bench" engine-cost --url "redis://127.0.0.1:$port" --calls "$calls" --rounds 2 --retention-calls 0 --prefix layout1 --state-layout 1 \
    | sed 's/^/layout 1: /'
"$bench" engine-cost --url "redis://127.0.0.1:$port" --calls "$calls" --rounds 2 --redis-benchmark-args "$args"

# redis-benchmark cannot send NUL bytes: the scripts' packed numbers go as a JSON array.
for pipeline in 1 16; do
    redis-cli -p "$port" config resetstat >/dev/null
    requests=$((pipeline == 1 ? 20000 : 60000))
    cpu_before=$(redis_cpu_seconds "$port")
    result=$(eval "redis-benchmark -p $port -c 50 -P $pipeline -n $requests -r 100000000 --csv $(cat "$args")" | tail -1)
    cpu_after=$(redis_cpu_seconds "$port")
    rps=$(echo "$result" | awk -F'","' '{print $2}')
    p99=$(echo "$result" | awk -F'","' '{print $7}')
    usec=$(redis-cli -p "$port" info commandstats | sed -n 's/^cmdstat_fcall:.*usec_per_call=\([0-9.]*\).*/\1/p')
    cpu_us=$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="$requests" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
    echo "redis-benchmark reserve -c 50 -P $pipeline: decisions_per_second=$rps p99_ms=$p99 usec_per_call=$usec redis_cpu_us_per_decision=$cpu_us (JSON numbers)"
done

# Memory after many calls with the default retention, on a Redis of its own.
port="$(free_port)"
dir="$(mktemp -d)"
start_redis "$port" "$dir"
"$bench" engine-cost --url "redis://127.0.0.1:$port" --retention-only --retention-calls "$retained"
