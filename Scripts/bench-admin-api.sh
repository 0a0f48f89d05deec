#!/usr/bin/env bash
# Benchmark: creating one API key through the admin API (POST /v1/keys with an
# Idempotency-Key, a provisioner token), p50/p99 at concurrency 1 and 16, side by side in the
# same run with the same creates made directly through CustomerStore (no HTTP: the floor), with
# ORGANIZATIONS organisations (each with a workspace and a key) loaded first through the store.
# Usage: Scripts/bench-admin-api.sh [organizations] [creates-per-run]   (default 1000000 2000)
#        TOLLGATE_BIN_DIR=.build/release Scripts/bench-admin-api.sh    to use binaries already built
#        TOLLGATE_BENCH_RDB_DIR=DIR   start from the store Scripts/bench-customers.sh and
#                                     bench-config-stream.sh keep there (see start_customers_redis)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

organizations="${1:-1000000}"
creates="${2:-2000}"
bin="${TOLLGATE_BIN_DIR:-$(build_release tollgate tollgate-bench)}"

work="$(mktemp -d)"
redis_port="$(free_port)"
url="redis://127.0.0.1:$redis_port"
if [ -n "${TOLLGATE_BENCH_RDB_DIR:-}" ]; then
    start_customers_redis "$redis_port" "$work/redis" "$organizations" "$bin"
else
    start_redis "$redis_port" "$work/redis"
fi

log "loading $organizations organizations (each with a workspace and a key) through the store, and the admin token"
"$bin/tollgate-bench" admin-api-load --setup-redis --redis "$url" --prefix bench --organizations "$organizations"
redis-cli -p "$redis_port" INFO memory | grep -E '^used_memory_human' >&2

port="$(free_port)"
"$bin/tollgate" admin-api --redis "$url" --prefix bench --port "$port" --log-level error &
track_pid $!
wait_http "http://127.0.0.1:$port/readyz"

log "creating keys: admin API, then the store directly, per concurrency"
"$bin/tollgate-bench" admin-api-load --url "http://127.0.0.1:$port" --redis "$url" --prefix bench --creates "$creates" --concurrency 1,16
