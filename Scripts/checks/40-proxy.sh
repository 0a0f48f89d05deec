#!/usr/bin/env bash
# Proxy mode end to end: the official openai and anthropic Python SDKs call two gateways whose
# upstream is a local mock provider (mock_provider.py). proxy_check.py then compares Tollgate's
# ledger with what the mock billed, to the token: plain and streamed calls of all three APIs,
# 429s the SDKs retry, streams cut by the upstream, by the client and by a gateway restart,
# and 64 concurrent clients against token and budget limits (zero overshoot).
source "$(dirname "$0")/../lib.sh"
cd "$TOLLGATE_ROOT"
ensure_packages curl
ensure_venv
trap stop_started EXIT

tollgate="$(tollgate_bin)"
work="$(mktemp -d /tmp/tollgate-proxy-check.XXXXXX)"
redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_KEY_PREFIX="proxycheck" TOLLGATE_ACTOR="proxy-check"

# A 2-second window with 100 ms buckets, so the SDKs' retries after a 429 take seconds.
exec 3>"$work/admin.log"
"$tollgate" price defaults --reason "check" >&3 2>&3
"$tollgate" config export --json >"$work/config.json"
"$TOLLGATE_PYTHON" - "$work/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["settings"]["window_seconds"] = 2
config["settings"]["bucket_milliseconds"] = 100
json.dump(config, open(path, "w"))
PY
"$tollgate" config import "$work/config.json" --reason "short window for the check" >&3 2>&3

capped_tokens=12000
"$tollgate" tier set roomy --tpm none --rpm none --daily-budget 100 --failure-mode closed --hold-seconds 30 --reason check >&3 2>&3
"$tollgate" tier set tight --rpm 2 --tpm 20000 --failure-mode closed --hold-seconds 30 --reason check >&3 2>&3
"$tollgate" tier set capped --daily-tokens "$capped_tokens" --daily-budget 0.005 --failure-mode closed --hold-seconds 30 --reason check >&3 2>&3
for org in acme:roomy tight:tight cuts:roomy restart:roomy capped:capped; do
    name="${org%%:*}"
    "$tollgate" org create "$name" --tier "${org#*:}" >&3 2>&3
    "$tollgate" workspace create "$name-ws" --org "$name" >&3 2>&3
    "$tollgate" key create "$name-key" --workspace "$name-ws" >&3 2>&3
done
"$tollgate" key create tight-claude-key --workspace tight-ws >&3 2>&3
token="$("$tollgate" token create proxy-check --json 2>&3 | "$TOLLGATE_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["secret"])')"

mock_port="$(free_port)"
"$TOLLGATE_PYTHON" "$TOLLGATE_ROOT/Scripts/checks/mock_provider.py" "$mock_port" >"$work/mock.log" 2>&1 &
track_pid $!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$mock_port/mock/billed" >/dev/null && break; sleep 0.05; done

export TOLLGATE_OPENAI_BASE_URL="http://127.0.0.1:$mock_port/v1" TOLLGATE_OPENAI_API_KEY="sk-mock-openai"
export TOLLGATE_ANTHROPIC_BASE_URL="http://127.0.0.1:$mock_port/v1" TOLLGATE_ANTHROPIC_API_KEY="sk-mock-anthropic"
ports=("$(free_port)" "$(free_port)")
pids=()
for index in 0 1; do
    drain=10000; [ "$index" -eq 1 ] && drain=0
    "$tollgate" serve --port "${ports[$index]}" --node "proxy-$index" --spool "$work/spool-$index.jsonl" --drain-seconds 0.2 \
        --disconnect-drain-ms "$drain" --log-level warning >"$work/gateway-$index.log" 2>&1 &
    pids+=($!); track_pid $!
done
for port in "${ports[@]}"; do wait_http "http://127.0.0.1:$port/readyz"; done

config="$(printf '{"gateways": ["http://127.0.0.1:%s", "http://127.0.0.1:%s"], "gateway_pids": [%s, %s], "mock": "http://127.0.0.1:%s", "token": "%s", "redis_port": %s, "prefix": "proxycheck", "capped_tokens": %s, "capped_budget_nanos": 5000000}' \
    "${ports[0]}" "${ports[1]}" "${pids[0]}" "${pids[1]}" "$mock_port" "$token" "$redis_port" "$capped_tokens")"
if ! timeout 240 "$TOLLGATE_PYTHON" "$TOLLGATE_ROOT/Scripts/checks/proxy_check.py" "$config"; then
    log "proxy check failed; gateway logs:"
    tail -n 30 "$work"/gateway-*.log "$work/mock.log" >&2
    exit 1
fi
if grep -q "sk-mock" "$work"/gateway-*.log; then log "an upstream credential appeared in a gateway log"; exit 1; fi
log "proxy: SDK calls, streams, 429s, cuts and 64 concurrent clients match the mock's bill; no credential logged"
