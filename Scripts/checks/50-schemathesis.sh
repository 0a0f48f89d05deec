#!/usr/bin/env bash
# The HTTP contract is exact: schemathesis runs every check (`--checks all`) against a live
# gateway and Docs/openapi.yaml, and must find nothing — no request the document allows
# refused as invalid, none it forbids accepted, no 5xx, 405 with Allow for other methods.
#
# Two runs against one gateway (Redis with a sample deployment: service token, organization
# acme ⊃ web ⊃ k1, a price for test-model, a tier with a fallback price):
#   1. negative only (the coverage and fuzzing phases: the examples phase sends the document's
#      valid examples whatever the mode): every request is invalid, every one must be refused, and Redis must
#      be exactly as before — every key and the digest of its value, before and after;
#   2. positive and negative together, every phase.
# Both are bounded by --max-examples and --max-time (SCHEMATHESIS_SECONDS, default 45 each).
# Then one run, positive and negative data, every phase, against a live `tollgate admin-api` and
# Docs/admin-openapi.yaml (its own prefix, an admin token; SCHEMATHESIS_ADMIN_SECONDS, default 40):
# every admin route is fuzzed for 5xx, schema conformance, negative data accepted and valid data
# refused. No Redis snapshot there: schemathesis' negative mode also sends valid requests (path
# values taken from earlier answers, extra headers), and a valid admin request rightly writes;
# AdminAPIContractTests compares every key before and after bad input to every admin route.
# The proxy routes (/v1/chat/completions, /v1/responses, /v1/messages) are left out: their
# bodies are the providers' and they relay to an upstream; 40-proxy.sh checks them with the
# official SDKs.
source "$(dirname "$0")/../lib.sh"
cd "$TOLLGATE_ROOT"

ensure_venv
work="$(mktemp -d)"
trap 'stop_started; rm -rf "$work"' EXIT
seconds="${SCHEMATHESIS_SECONDS:-45}"

redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis" --enable-debug-command local
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_KEY_PREFIX="st" TOLLGATE_ACTOR="schemathesis-check"
bin="$(tollgate_bin)"
"$bin" price set test-model --provider test --input 1.00 --output 2.00 >/dev/null
"$bin" tier set standard --tpm 100000000 --fallback-input 1.00 --fallback-output 2.00 >/dev/null
"$bin" org create acme --tier standard >/dev/null
"$bin" workspace create web --org acme >/dev/null
"$bin" key create k1 --workspace web >/dev/null
secret="$("$bin" token create schemathesis --json | "$TOLLGATE_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["secret"])')"

gateway_port="$(free_port)"
"$bin" serve --port "$gateway_port" --spool "$work/spool.jsonl" --log-level error >"$work/gateway.log" 2>&1 &
track_pid $!
wait_http "http://127.0.0.1:$gateway_port/readyz"

# Every key with the digest of its value, sorted: the whole dataset, comparable line by line.
snapshot() {
    redis-cli -p "$redis_port" --scan | sort | while read -r key; do
        printf '%s %s\n' "$key" "$(redis-cli -p "$redis_port" DEBUG DIGEST-VALUE "$key")"
    done
}

run_schemathesis() {
    local mode="$1" phases="$2"
    # From $work: schemathesis keeps a cache folder where it runs.
    (cd "$work" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$TOLLGATE_ROOT/Scripts/checks" \
        "$(dirname "$TOLLGATE_PYTHON")/schemathesis" run "$TOLLGATE_ROOT/Docs/openapi.yaml" \
        --url "http://127.0.0.1:$gateway_port" -H "Authorization: Bearer $secret" \
        --exclude-path-regex '^/v1/(chat/completions|responses|messages)$' \
        --checks all --mode "$mode" --phases "$phases" --max-examples 40 --max-time "$seconds" --seed 20261130 \
        --generation-database none --workers 2 --no-color)
}

# Counters and a ledger entry to guard: one reservation, committed, before the snapshot.
for call in 'reserve {"request_id":"seed","api_key":"k1","model":"test-model","input_tokens":100}' \
            'commit {"request_id":"seed","api_key":"k1","usage":{"input_tokens":90,"output_tokens":10}}'; do
    curl -sf -X POST "http://127.0.0.1:$gateway_port/v1/${call%% *}" -H "Authorization: Bearer $secret" \
        -H 'Content-Type: application/json' --data "${call#* }" >/dev/null
done
snapshot >"$work/before"
log "schemathesis: negative data only (must be refused and change nothing in Redis)"
run_schemathesis negative coverage,fuzzing
snapshot >"$work/after"
if ! diff "$work/before" "$work/after" >&2; then
    log "refused requests changed Redis (the keys above: < before, > after)"
    exit 1
fi
log "Redis unchanged by the refused requests ($(wc -l <"$work/after") keys, each value's digest compared)"

log "schemathesis: positive and negative data"
run_schemathesis all examples,coverage,fuzzing,stateful
log "schemathesis: zero failures"

# --- The admin API (Docs/admin-openapi.yaml) ---------------------------------------------------
export TOLLGATE_KEY_PREFIX="sta"
"$bin" price set test-model --provider test --input 1.00 --output 2.00 >/dev/null
"$bin" tier set standard --tpm 100000000 >/dev/null
admin_secret="$("$bin" admin-token create schemathesis --scope admin --json | "$TOLLGATE_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["secret"])')"
admin_port="$(free_port)"
"$bin" admin-api --port "$admin_port" --log-level error >"$work/admin-api.log" 2>&1 &
track_pid $!
wait_http "http://127.0.0.1:$admin_port/readyz"

log "schemathesis (admin API): positive and negative data"
(cd "$work" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$TOLLGATE_ROOT/Scripts/checks" \
    "$(dirname "$TOLLGATE_PYTHON")/schemathesis" --config-file "$TOLLGATE_ROOT/Scripts/checks/schemathesis-admin.toml" \
    run "$TOLLGATE_ROOT/Docs/admin-openapi.yaml" \
    --url "http://127.0.0.1:$admin_port" -H "Authorization: Bearer $admin_secret" \
    --checks all --mode all --phases examples,coverage,fuzzing,stateful --max-examples 40 \
    --max-time "${SCHEMATHESIS_ADMIN_SECONDS:-40}" --seed 20261130 --generation-database none --workers 2 --no-color)
log "schemathesis (admin API): zero failures"
