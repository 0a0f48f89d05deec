#!/usr/bin/env bash
# Benchmark: the customer store at scale (issue 14), release build, one Redis.
# Loads N organizations ⊃ workspace ⊃ key (default 1,000,000) into one Redis and 1,000 into
# another, then, side by side in one run:
#   - Redis memory for the N customers (they share one slot, {cfg}),
#   - sustained provisioning writes (organization+workspace+key in one all-or-nothing call; key alone),
#   - a suspension visible on two gateways (time until both refuse the key),
#   - gateway RSS with N customers vs 1,000 (the same 1,000 keys driven through each),
#   - reserve p50/p99 through a gateway idle vs while 1,000 customer changes a second land.
# Usage: Scripts/bench-customers.sh [organizations] [seconds-per-run]   (default 1000000 10)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

organizations="${1:-1000000}"
seconds="${2:-10}"
bin="$(build_release tollgate tollgate-bench)"
work="$(mktemp -d)"

big_port="$(free_port)"; start_redis "$big_port" "$work/big"
small_port="$(free_port)"; start_redis "$small_port" "$work/small"
big="redis://127.0.0.1:$big_port"; small="redis://127.0.0.1:$small_port"

for url in "$big" "$small"; do "$bin/tollgate-bench" gateway-load --setup-redis "$url" --prefix bench; done
before=$(redis-cli -p "$big_port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
log "loading $organizations organizations+workspaces+keys"
"$bin/tollgate-bench" customers --action load --url "$big" --count "$organizations" --concurrency 4
"$bin/tollgate-bench" customers --action load --url "$small" --count 1000 --concurrency 2
after=$(redis-cli -p "$big_port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
printf 'redis used_memory for %s customers: %s MB (%s bytes per organization+workspace+key)\n' \
    "$organizations" "$(( (after - before) / 1048576 ))" "$(( (after - before) / organizations ))"

serve() {  # serve NAME URL: starts a gateway, prints "pid port"
    local port; port="$(free_port)"
    "$bin/tollgate" serve --redis "$2" --prefix bench --port "$port" --node "$1" --spool "$work/spool-$1.jsonl" --log-level error &
    local pid=$!; track_pid "$pid"
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    echo "$pid $port"
}
read -r big_a_pid big_a_port < <(serve big-a "$big")
read -r big_b_pid big_b_port < <(serve big-b "$big")
read -r small_pid small_port_http < <(serve small "$small")
a="http://127.0.0.1:$big_a_port"; b="http://127.0.0.1:$big_b_port"; s="http://127.0.0.1:$small_port_http"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

log "gateway memory: the same 1,000 keys through a gateway on $organizations customers and one on 1,000"
for target in "$a" "$s"; do
    "$bin/tollgate-bench" gateway-load --urls "$target" --mode reserve --concurrency 16 --keys 1000 --seconds "$seconds" >/dev/null
done
big_rss=$(rss "$big_a_pid"); small_rss=$(rss "$small_pid")
printf 'gateway RSS: %s customers %s KB, 1,000 customers %s KB, ratio %s\n' "$organizations" "$big_rss" "$small_rss" \
    "$(awk -v x="$big_rss" -v y="$small_rss" 'BEGIN {printf "%.3f", x / y}')"

log "provisioning writes on one Redis ($organizations customers loaded)"
"$bin/tollgate-bench" customers --action write --url "$big" --concurrency 16 --seconds "$seconds"

log "a suspension visible on two gateways"
"$bin/tollgate-bench" customers --action visibility --url "$big" --count "$organizations" --gateways "$a,$b" --rounds 20

log "reserve through a gateway: idle, then while 1,000 customer changes a second land"
"$bin/tollgate-bench" gateway-load --urls "$a" --mode reserve --concurrency 16 --keys 1000 --seconds "$seconds" --label reserve-idle | tail -1
"$bin/tollgate-bench" customers --action churn --url "$big" --count "$organizations" --rate 1000 --concurrency 32 --seconds "$((seconds + 2))" &
churn=$!; track_pid "$churn"
sleep 1
"$bin/tollgate-bench" gateway-load --urls "$a" --mode reserve --concurrency 16 --keys 1000 --seconds "$seconds" --label reserve-churn | tail -1
wait "$churn"
printf 'gateway RSS after the churn: %s KB\n' "$(rss "$big_a_pid")"
