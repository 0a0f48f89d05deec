#!/usr/bin/env bash
# promtool against live processes: a Redis, a gateway and a monitor, a little traffic so
# that the labelled series exist (reservations, a commit, a record, a release, a 429, a
# rejected call), then `promtool check metrics` on each /metrics (HELP text, naming,
# units, types) and `promtool check rules` on the example alerting rules in Compose/.
# Any problem promtool reports fails the check.
source "$(dirname "$0")/../lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

ensure_packages curl jq promtool:prometheus
tollgate="$(tollgate_bin)"
[ -x "$tollgate" ] || { log "no tollgate binary: run swift build first"; exit 1; }
work="$(mktemp -d /tmp/tollgate-promtool.XXXXXX)"

redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_ACTOR="promtool-check"

"$tollgate" price defaults --reason "promtool check" >/dev/null 2>&1
"$tollgate" tier set small --tpm 3000 --rpm 60 --daily-budget 5.00 --reason "promtool check" >/dev/null 2>&1
"$tollgate" org create acme --tier small >/dev/null 2>&1
"$tollgate" workspace create acme-ws --org acme >/dev/null 2>&1
"$tollgate" key create acme-key --workspace acme-ws >/dev/null 2>&1
secret="$("$tollgate" token create promtool --json 2>/dev/null | jq -r .secret)"

gateway_port="$(free_port)" metrics_port="$(free_port)"
"$tollgate" serve --port "$gateway_port" --spool "$work/spool.jsonl" >"$work/gateway.log" 2>&1 &
track_pid $!
"$tollgate" monitor --metrics-port "$metrics_port" --alert-seconds 1 >"$work/monitor.log" 2>&1 &
track_pid $!
wait_http "http://127.0.0.1:$gateway_port/readyz"
wait_http "http://127.0.0.1:$metrics_port/healthz"

# post PATH BODY EXPECTED-STATUS
post() {
    local status
    status="$(curl -s -o "$work/body" -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $secret" \
        -H 'Content-Type: application/json' -X POST "http://127.0.0.1:$gateway_port$1" --data "$2")"
    [ "$status" = "$3" ] || { log "POST $1 answered $status, not $3: $(cat "$work/body")"; exit 1; }
}
post /v1/reserve '{"request_id":"r1","api_key":"acme-key","model":"gpt-4.1","input_tokens":1000,"max_output_tokens":500}' 200
post /v1/commit '{"request_id":"r1","api_key":"acme-key","usage":{"prompt_tokens":1000,"completion_tokens":300,"total_tokens":1300}}' 200
post /v1/record '{"request_id":"r2","api_key":"acme-key","model":"claude-sonnet-4-20250514","usage":{"input_tokens":100,"cache_read_input_tokens":400,"output_tokens":50}}' 200
post /v1/reserve '{"request_id":"r3","api_key":"acme-key","model":"gpt-4.1","input_tokens":100,"max_output_tokens":10}' 200
post /v1/release '{"request_id":"r3","api_key":"acme-key"}' 200
post /v1/reserve '{"request_id":"r4","api_key":"acme-key","model":"gpt-4.1","input_tokens":2500,"max_output_tokens":500}' 429
post /v1/reserve '{"request_id":"r5","api_key":"no-such-key","model":"gpt-4.1","input_tokens":1}' 404

# The monitor's business series appear once it has rolled the two ledger entries up (under
# the catalogue's name of the model, claude-sonnet-4-20250514 being an alias).
for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -q '^tollgate_cost_nanounits_total{model="claude-sonnet-4",' && break
    sleep 0.1
done

failed=0
# check_metrics NAME URL SERIES...: promtool on the exposition, and each series present.
check_metrics() {
    local name="$1" url="$2" series output; shift 2
    curl -sf "$url" >"$work/$name.prom"
    if output="$(promtool check metrics <"$work/$name.prom" 2>&1)"; then
        echo "promtool check metrics: $name OK ($(grep -c '^# HELP' "$work/$name.prom") families)"
    else
        log "promtool check metrics: $name has problems:"; echo "$output" >&2; failed=1
    fi
    for series in "$@"; do
        grep -q "^$series" "$work/$name.prom" || { log "$name: no series $series"; failed=1; }
    done
}
check_metrics gateway "http://127.0.0.1:$gateway_port/metrics" \
    'tollgate_decisions_total{result="limited"' 'tollgate_refusals_total{reason="tpm",scope="organization",tier="small"}' \
    'tollgate_settlements_total{operation="commit"' 'tollgate_request_duration_seconds_bucket'
check_metrics monitor "http://127.0.0.1:$metrics_port/metrics" \
    'tollgate_tokens_total{kind="cached_input",model="claude-sonnet-4",tier="small"} 400' \
    'tollgate_cost_nanounits_total{model="gpt-4.1",tier="small",currency="USD"}' \
    'tollgate_hold_age_at_settlement_seconds_bucket{tier="small"' 'tollgate_monitor_entries_rolled_up_total 2'

if output="$(promtool check rules Compose/alerts.yml 2>&1)"; then
    echo "promtool check rules: Compose/alerts.yml $(echo "$output" | grep -o 'SUCCESS.*')"
else
    log "promtool check rules: Compose/alerts.yml has problems:"; echo "$output" >&2; failed=1
fi
if output="$(promtool check config Compose/prometheus.yml 2>&1)"; then
    echo "promtool check config: Compose/prometheus.yml OK"
else
    log "promtool check config: Compose/prometheus.yml has problems:"; echo "$output" >&2; failed=1
fi
[ "$failed" = 0 ] || { log "logs and expositions in $work"; exit 1; }
rm -rf "$work"
