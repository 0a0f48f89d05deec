#!/usr/bin/env bash
# The dashboard in a real browser (Debian's chromium + chromium-driver, Python's selenium):
# Redis, a gateway, a monitor and the dashboard (through the read-only ACL user) with
# traffic; every page is loaded and its totals compared with `tollgate usage report` for the
# same range and timezone, to the nano-unit (the overview's organizations, models, top lists,
# cache-hit rate and estimate accuracy against `usage report` / `usage export`, its refusals
# by reason against the gateway's counter); acme's low cache-hit rate alert on its page;
# every CSV with its table; a customer token gets
# 403 for another organization; bad input gets a 4xx page; a refusal made during the check
# shows on the live page within 2 s.
#
# Usage: bash Scripts/checks/30-dashboard.sh [--screenshots DIR]  (DIR: where to save PNGs of the main pages)
source "$(dirname "$0")/../lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT
trap 'exit 130' INT TERM

screenshots=""
[ "${1:-}" = "--screenshots" ] && screenshots="$(cd "${2:?a directory}" && pwd)"

ensure_packages curl jq chromium:chromium chromedriver:chromium-driver
ensure_venv
tollgate="$(tollgate_bin)"
[ -x "$tollgate" ] || { log "build tollgate first (swift build)"; exit 1; }

work="$(mktemp -d /tmp/tollgate-dashboard-check.XXXXXX)"
redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_KEY_PREFIX="dash" TOLLGATE_ACTOR="dashboard-check"

log "configuring: prices, tiers (UTC and Europe/Berlin), organizations, tokens, the read-only dashboard user"
"$tollgate" price set test-model --provider test --input 1.25 --output 3.33 >/dev/null
"$tollgate" tier set standard --tpm 200000 --monthly-budget 50.00 --cache-hit-alert 50 --cache-hit-alert-minimum-requests 16 >/dev/null
"$tollgate" tier set berlin --tpm 200000 --daily-budget 10.00 --timezone Europe/Berlin >/dev/null
"$tollgate" org create acme --tier standard >/dev/null
"$tollgate" workspace create acme-web --org acme >/dev/null
"$tollgate" key create acme-key --workspace acme-web >/dev/null
"$tollgate" workspace create acme-batch --org acme >/dev/null
"$tollgate" key create acme-batch-key --workspace acme-batch >/dev/null
"$tollgate" org create globex --tier berlin >/dev/null
"$tollgate" workspace create globex-apps --org globex >/dev/null
"$tollgate" key create globex-key --workspace globex-apps >/dev/null
service="$("$tollgate" token create check --json 2>/dev/null | jq -r .secret)"
operator="$("$tollgate" dashboard-token create ops --scope operator --json 2>/dev/null | jq -r .secret)"
customer="$("$tollgate" dashboard-token create acme-view --scope customer --org acme --json 2>/dev/null | jq -r .secret)"
revoked_id="$("$tollgate" dashboard-token create old --scope operator --json 2>/dev/null | jq -r .id)"
"$tollgate" dashboard-token revoke "$revoked_id" >/dev/null 2>&1
"$tollgate" acl --admin-password admin-secret-123 --gateway-password gateway-secret-1 --monitor-password monitor-secret-1 \
    --dashboard-password dashboard-secret-1 --apply >/dev/null

gateway_port="$(free_port)" dashboard_port="$(free_port)" metrics_port="$(free_port)"
"$tollgate" serve --port "$gateway_port" --spool "$work/spool.jsonl" >"$work/gateway.log" 2>&1 & track_pid $!
"$tollgate" monitor --metrics-port "$metrics_port" --alert-seconds 1 --consumer check >"$work/monitor.log" 2>&1 & track_pid $!
"$tollgate" dashboard --port "$dashboard_port" --redis "redis://tollgate-dashboard:dashboard-secret-1@127.0.0.1:$redis_port" \
    >"$work/dashboard.log" 2>&1 & track_pid $!
wait_http "http://127.0.0.1:$gateway_port/readyz"
wait_http "http://127.0.0.1:$metrics_port/healthz"
wait_http "http://127.0.0.1:$dashboard_port/healthz"

log "traffic: reservations and commits with users, features and experiments; a record"
post() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $service" -H 'Content-Type: application/json' \
        -X POST "http://127.0.0.1:$gateway_port$1" --data "$2"
}
committed=0
for i in $(seq 1 24); do
    case $((i % 3)) in 0) key=acme-key ;; 1) key=acme-batch-key ;; 2) key=globex-key ;; esac
    experiment=$([ $((i % 2)) = 0 ] && echo prompt-a || echo prompt-b)
    status="$(post /v1/reserve "{\"request_id\":\"r$i\",\"api_key\":\"$key\",\"model\":\"test-model\",\"input_tokens\":$((100 * i + 7)),\"max_output_tokens\":200,\"user\":\"user-$((i % 4))\",\"feature\":\"f-$((i % 3))\",\"experiment\":\"$experiment\"}")"
    [ "$status" = 200 ] || { log "reserve r$i answered $status"; exit 1; }
    status="$(post /v1/commit "{\"request_id\":\"r$i\",\"api_key\":\"$key\",\"usage\":{\"prompt_tokens\":$((100 * i + 7)),\"completion_tokens\":$((13 * i)),\"prompt_tokens_details\":{\"cached_tokens\":$((i * 3))}},\"latency_ms\":$((200 + i)),\"cache_hit\":$([ $((i % 4)) = 0 ] && echo true || echo false)}")"
    [ "$status" = 200 ] || { log "commit r$i answered $status"; exit 1; }
    committed=$((committed + 1))
done
status="$(post /v1/record '{"request_id":"rec-1","api_key":"globex-key","model":"test-model","usage":{"input_tokens":999,"output_tokens":111},"user":"batch","experiment":"prompt-a"}')"
[ "$status" = 200 ] || { log "record answered $status"; exit 1; }
committed=$((committed + 1))

# The monitor rolls the ledger up within a second or so; wait (10 s at most) until every request is in.
today_utc="$(date -u +%F)"
for _ in $(seq 1 100); do
    rolled="$("$tollgate" usage report --from "$(date -u -d yesterday +%F)" --to "$(date -u -d tomorrow +%F)" --by organization --json | jq '[.[].requests] | add // 0')"
    [ "$rolled" = "$committed" ] && break
    sleep 0.1
done
[ "$rolled" = "$committed" ] || { log "the monitor rolled up $rolled of $committed requests"; exit 1; }

log "browser: every page, its totals against tollgate usage report, its CSVs, access, bad input, the live feed"
TOLLGATE_BIN="$tollgate" DASHBOARD_URL="http://127.0.0.1:$dashboard_port" GATEWAY_URL="http://127.0.0.1:$gateway_port" \
    OPERATOR_TOKEN="$operator" CUSTOMER_TOKEN="$customer" SERVICE_TOKEN="$service" SCREENSHOTS="$screenshots" \
    "$TOLLGATE_PYTHON" "$TOLLGATE_ROOT/Scripts/checks/dashboard_browser.py"
grep -q '"level":"error"' "$work/dashboard.log" && { log "the dashboard logged errors:"; grep '"level":"error"' "$work/dashboard.log" | head -5; exit 1; }
log "dashboard check passed"
