#!/usr/bin/env bash
# The whole local stack on loopback, and a short, bounded demo through it:
#   Redis (one server, or with --cluster a 3+3 Redis Cluster), two gateways, a monitor,
#   the dashboard (its address and an operator token are printed), the default price catalogue, sample tiers, organizations, keys and a service token;
#   then traffic that shows admissions on both gateways, 429s with their headers, a live
#   price change, an alert, and a usage report. Everything it starts is stopped by PID.
#
# Usage: Scripts/stack.sh [--cluster] [--keep]
#   --cluster  run on a local Redis Cluster (3 primaries, 3 replicas) instead of one Redis
#   --keep     leave the stack running after the demo until Ctrl-C (prints how to reach it)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT
trap 'exit 130' INT TERM

cluster=0 keep=0
for argument in "$@"; do
    case "$argument" in
        --cluster) cluster=1 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option '$argument' (try --help)" >&2; exit 64 ;;
    esac
done

ensure_packages curl jq
log "building tollgate (debug; the first build takes a few minutes)"
swift build --product tollgate 2>&1 | grep -E "error|warning: .*Sources" || true
tollgate="$(swift build --show-bin-path)/tollgate"
[ -x "$tollgate" ] || { log "the build failed"; exit 1; }

work="$(mktemp -d /tmp/tollgate-stack.XXXXXX)"
if [ "$cluster" = 1 ]; then
    log "starting a Redis Cluster (3 primaries + 3 replicas) on loopback (files in $work)"
    start_cluster 3 1 "$work/cluster"
    export TOLLGATE_REDIS_URL="$CLUSTER_URL"
else
    redis_port="$(free_port)"
    log "starting redis-server on 127.0.0.1:$redis_port (files in $work)"
    start_redis "$redis_port" "$work/redis"
    export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port"
fi
export TOLLGATE_ACTOR="stack-demo"
"$tollgate" ping

section() { printf '\n\033[1;34m### %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ tollgate %s\033[0m\n' "$*"; "$tollgate" "$@"; }

section "Configuration: prices, tiers, customers, a service token (all live in Redis, audited)"
run price defaults --reason "shipped catalogue" | tail -4
run tier set starter --tpm 8000 --rpm 60 --daily-budget 0.04 --monthly-budget 1.00 \
    --alert-thresholds 50,80,100 --failure-mode closed --hold-seconds 30 --reason "small plan"
run tier set pro --tpm 200000 --rpm 600 --daily-budget 25.00 --monthly-budget 500.00 \
    --alert-thresholds 80,100 --failure-mode open --reason "paid plan"
run org create acme --tier starter --name "Acme Corp" >/dev/null
run workspace create acme-support --org acme --name "Support bot" >/dev/null
run key create acme-support-key --workspace acme-support >/dev/null
run org create globex --tier pro --name "Globex" >/dev/null
run workspace create globex-search --org globex --name "Search" >/dev/null
run key create globex-search-key --workspace globex-search >/dev/null
secret="$("$tollgate" token create demo-app-server --json 2>/dev/null | jq -r .secret)"
echo "service token for demo-app-server created (secret ${secret:0:6}…, only its SHA-256 is stored)"
run tier list

section "Processes: two gateways, a monitor and the dashboard"
gateway_ports=("$(free_port)" "$(free_port)")
for index in 0 1; do
    "$tollgate" serve --port "${gateway_ports[$index]}" --node "gateway-$((index + 1))" \
        --spool "$work/spool-$index.jsonl" >"$work/gateway-$((index + 1)).log" 2>&1 &
    track_pid $!
done
metrics_port="$(free_port)"
"$tollgate" monitor --metrics-port "$metrics_port" --alert-seconds 1 --consumer monitor-1 >"$work/monitor.log" 2>&1 &
track_pid $!
for port in "${gateway_ports[@]}"; do wait_http "http://127.0.0.1:$port/readyz"; done
wait_http "http://127.0.0.1:$metrics_port/healthz"
dashboard_port="$(free_port)"
dashboard_token="$("$tollgate" dashboard-token create stack-operator --scope operator --json 2>/dev/null | jq -r .secret)"
"$tollgate" dashboard --port "$dashboard_port" >"$work/dashboard.log" 2>&1 &
track_pid $!
wait_http "http://127.0.0.1:$dashboard_port/healthz"
echo "gateway-1 http://127.0.0.1:${gateway_ports[0]}  gateway-2 http://127.0.0.1:${gateway_ports[1]}  monitor metrics http://127.0.0.1:$metrics_port/metrics"
printf '\033[1mdashboard http://127.0.0.1:%s/login  operator token %s\033[0m\n' "$dashboard_port" "$dashboard_token"
"$tollgate" watch --json >"$work/watch.jsonl" 2>/dev/null &
track_pid $!

# post NODE PATH BODY: POSTs to gateway NODE (0 or 1); leaves the status in $status, the body
# in $body and the response headers in $work/headers.
post() {
    status="$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer $secret" -H 'Content-Type: application/json' \
        -X POST "http://127.0.0.1:${gateway_ports[$1]}$2" --data "$3")"
    body="$(cat "$work/body")"
}

# call NODE ID KEY MODEL INPUT MAX_OUTPUT OUTPUT: one model call as an app server makes it —
# reserve, then (if allowed) commit the provider's usage, OpenAI-style. One line per call.
admitted=0 limited=0
call() {
    local node="$1" id="$2" key="$3" model="$4" input="$5" max_output="$6" output="$7"
    post "$node" /v1/reserve "{\"request_id\":\"$id\",\"api_key\":\"$key\",\"model\":\"$model\",\"input_tokens\":$input,\"max_output_tokens\":$max_output,\"user\":\"user-$((RANDOM % 3))\",\"feature\":\"chat\",\"experiment\":\"prompt-v$((RANDOM % 2 + 1))\"}"
    if [ "$status" = 200 ]; then
        admitted=$((admitted + 1))
        local version; version="$(jq -r .price_version <<<"$body")"
        post "$node" /v1/commit "{\"request_id\":\"$id\",\"api_key\":\"$key\",\"usage\":{\"prompt_tokens\":$input,\"completion_tokens\":$output,\"total_tokens\":$((input + output))}}"
        printf 'gateway-%d %-18s %-7s reserve 200 allowed  price %-22s commit %s cost %s %s\n' "$((node + 1))" "$id" "$key" \
            "$version" "$status" "$(jq -r .cost <<<"$body")" "$(jq -r .currency <<<"$body")" | sed 's/-support-key\|-search-key//'
    else
        limited=$((limited + 1))
        printf 'gateway-%d %-18s %-7s reserve %s refused  %s at the %s level (%s), retry after %s s\n' "$((node + 1))" "$id" "$key" \
            "$status" "$(jq -r .reason <<<"$body")" "$(jq -r .scope <<<"$body")" "$(jq -r .limit <<<"$body")" \
            "$(jq -r '.retry_after_seconds // "-"' <<<"$body")" | sed 's/-support-key\|-search-key//'
    fi
}

section "Traffic 1: acme (starter, 8,000 TPM) calls gpt-4.1 through both gateways; the limit is shared"
for i in $(seq 1 8); do call $((i % 2)) "acme-$i" acme-support-key gpt-4.1 1000 500 300; done
echo
echo "The last 429, as the app server sees it:"
sed -n '1p' "$work/headers"
grep -iE '^(retry-after|x-ratelimit|ratelimit)' "$work/headers" | sort
echo "$body" | jq -c .

section "Live change: acme upgrades its TPM (no redeploy); now its \$0.04 daily budget is what stops it"
run org set acme --tpm 100000 --reason "customer asked for more throughput"
sleep 1
for i in $(seq 9 12); do call $((i % 2)) "acme-$i" acme-support-key gpt-4.1 1000 500 300; done

section "Traffic 2: globex (pro) on gpt-4.1-mini; the provider raises the price mid-run"
for i in $(seq 1 4); do call $((i % 2)) "globex-$i" globex-search-key gpt-4.1-mini 2000 1000 800; done
run price set gpt-4.1-mini --input 0.80 --output 3.20 --reason "provider price change"
sleep 1
for i in $(seq 5 8); do call $((i % 2)) "globex-$i" globex-search-key gpt-4.1-mini 2000 1000 800; done
echo
echo "An Anthropic-style usage recorded after the fact, a reservation released, the quota read:"
post 0 /v1/record '{"request_id":"globex-batch-1","api_key":"globex-search-key","model":"claude-sonnet-4-20250514","usage":{"input_tokens":1200,"cache_read_input_tokens":4000,"output_tokens":350}}'
echo "record  $status $(jq -c '{cost, price_version, usage}' <<<"$body")"
post 1 /v1/reserve '{"request_id":"globex-cancelled","api_key":"globex-search-key","model":"gpt-4o","input_tokens":500}'
post 1 /v1/release '{"request_id":"globex-cancelled","api_key":"globex-search-key"}'
echo "release $status $(jq -c '{released, released_tokens, released_cost}' <<<"$body")"
curl -s -H "Authorization: Bearer $secret" "http://127.0.0.1:${gateway_ports[0]}/v1/quota/acme-support-key" \
    | jq -c '.levels[] | select(.scope == "organization") | {quota: "acme", tpm, daily_budget}'
echo
echo "calls admitted: $admitted, refused with 429: $limited"

section "Operators' view: alerts, refusals and degraded decisions (tollgate watch), status"
for _ in $(seq 1 30); do grep -q budget_threshold "$work/watch.jsonl" 2>/dev/null && break; sleep 0.2; done
sleep 1.5
grep -h '"type"' "$work/watch.jsonl" | jq -r '
    if .type == "alert" or .kind != null then "alert     \(.message // .kind)"
    else "\(.type)   \(.node // "") \(.organization // "") \(.reason // "") \(.limit // "")" end' 2>/dev/null | sort | uniq -c | sort -rn | head -12 || true
echo "(monitor log, alerts:)"
grep -h '"alert' "$work/monitor.log" | jq -r '.message // .msg // .' 2>/dev/null | head -5 || true
run status --threshold 50

section "Usage report (from the monitor's exactly-once roll-ups of the ledger)"
today="$(date -u +%F)"
for _ in $(seq 1 50); do
    "$tollgate" usage report --from "$today" --by model --json 2>/dev/null | grep -q "claude-sonnet-4" && break
    sleep 0.2
done
run usage report --from "$today" --by organization
run usage report --from "$today" --by model
printf '\033[2m$ tollgate audit | tail -5\033[0m\n'
"$tollgate" audit | tail -5

section "Metrics (gateway-1: decisions and refusals; the monitor: tokens and cost from the ledger)"
curl -s "http://127.0.0.1:${gateway_ports[0]}/metrics" | grep -E '^tollgate_(decisions|refusals)_total' | head -10
curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -E '^tollgate_(cost_nanounits|tokens)_total' | head -10

if [ "$keep" = 1 ]; then
    section "The stack keeps running (Ctrl-C stops it). TOLLGATE_REDIS_URL=$TOLLGATE_REDIS_URL"
    echo "service token: $secret"
    echo "dashboard: http://127.0.0.1:$dashboard_port/login  (operator token: $dashboard_token)"
    while true; do sleep 3600 & track_pid $!; wait $!; done   # wait, unlike a foreground sleep, lets Ctrl-C and SIGTERM through
fi
log "the dashboard was at http://127.0.0.1:$dashboard_port/login; run Scripts/stack.sh --keep to browse it after the demo"
log "done; stopping what this script started (logs stay in $work)"
