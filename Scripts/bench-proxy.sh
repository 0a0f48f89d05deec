#!/usr/bin/env bash
# Benchmark: proxy mode's cost over calling the provider directly, side by side in one run
# against the same local mock provider (Scripts/checks/mock_provider.py), for the gateway
# (with its call journal and, as the journal's baseline, --no-call-journal) and LiteLLM's
# proxy (pinned below, installed into its own venv, .tollgate/litellm-venv, not the test run's):
#   - added latency at concurrency 1: a plain chat completion, p50 and p99, each target vs
#     direct, alternating call by call: the two gateways with direct, then LiteLLM with direct
#     (LiteLLM slows the calls that follow its own), and all four in one rotation, as earlier
#     runs measured;
#   - streaming time to first byte added, the same way;
#   - calls per second at concurrency 64 (wrk, Scripts/bench/proxy.lua) for each target;
#   - limit overshoot under concurrency: 64 connections for 10 s against a 20,000 TPM limit
#     in both proxies (Tollgate: a tier; LiteLLM: a model group of two deployments of the mock
#     at 10,000 tpm each, usage-based-routing-v2 on Redis: LiteLLM checks a deployment's tpm
#     only when it has more than one to choose from), tokens the mock billed against the limit.
# Limits are on in both for the speed runs too, set far above the load: Tollgate's tier
# (TPM, RPM, daily budget) and LiteLLM's deployment tpm/rpm (its proxy-wide max_budget is
# configured too, but LiteLLM says it does not enforce it without a database, which needs
# Postgres and Prisma's downloaded engine: no budget comparison here).
# Offline: LiteLLM reads its bundled model price map (LITELLM_LOCAL_MODEL_COST_MAP) and
# sends no telemetry; it only talks to the mock and this Redis.
# Usage: Scripts/bench-proxy.sh [seconds-per-wrk-run] [calls-at-concurrency-1]   (default 8, 2000;
#        TOLLGATE_BIN_DIR=DIR to use binaries already built instead of a release build)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

LITELLM_VERSION="1.106.12"
seconds="${1:-8}"
calls="${2:-2000}"
ensure_packages wrk curl bc
bin="${TOLLGATE_BIN_DIR:-$(build_release tollgate)}"

venv="$TOLLGATE_ROOT/.tollgate/litellm-venv"
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$LITELLM_VERSION" ]; then
    log "installing litellm[proxy]==$LITELLM_VERSION into $venv (the benchmark's own venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
fi

work="$(mktemp -d)"
redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_KEY_PREFIX="bench" TOLLGATE_ACTOR="bench"
"$bin/tollgate" price defaults --reason bench >/dev/null
"$bin/tollgate" tier set roomy --tpm 100000000 --rpm 10000000 --daily-budget 1000000 --reason bench >/dev/null
"$bin/tollgate" tier set tight --tpm 20000 --rpm none --daily-budget none --monthly-budget none --reason bench >/dev/null
"$bin/tollgate" org create bench --tier roomy >/dev/null
"$bin/tollgate" workspace create bench-ws --org bench >/dev/null
"$bin/tollgate" key create bench-key --workspace bench-ws >/dev/null
"$bin/tollgate" org create tight --tier tight >/dev/null
"$bin/tollgate" workspace create tight-ws --org tight >/dev/null
"$bin/tollgate" key create tight-key --workspace tight-ws >/dev/null
token="$("$bin/tollgate" token create bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')"

mock_port="$(free_port)"
python3 "$TOLLGATE_ROOT/Scripts/checks/mock_provider.py" "$mock_port" &
track_pid $!
wait_http "http://127.0.0.1:$mock_port/mock/billed"

start_gateway() {  # start_gateway VARIABLE NAME [flags...]: sets VARIABLE to its base URL (no subshell: track_pid must see it)
    local port; port="$(free_port)"
    TOLLGATE_OPENAI_BASE_URL="http://127.0.0.1:$mock_port/v1" TOLLGATE_OPENAI_API_KEY="sk-bench" \
        "$bin/tollgate" serve --port "$port" --node "$2" --spool "$work/spool-$2.jsonl" --log-level error "${@:3}" >/dev/null &
    track_pid $!
    wait_http "http://127.0.0.1:$port/readyz"
    printf -v "$1" 'http://127.0.0.1:%s' "$port"
}
direct="http://127.0.0.1:$mock_port"
start_gateway bare bare --no-call-journal
start_gateway gateway bench

# LiteLLM: one worker (its default), the same upstream, limits on (see the header).
litellm_port="$(free_port)"
litellm_key="sk-litellm-bench"
cat >"$work/litellm.yaml" <<EOF
model_list:
  - model_name: gpt-4o-mini
    litellm_params: { model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$mock_port/v1", api_key: sk-bench, tpm: 100000000, rpm: 10000000 }
  - model_name: tight
    litellm_params: { model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$mock_port/v1", api_key: sk-bench-a, tpm: 10000 }
  - model_name: tight
    litellm_params: { model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$mock_port/v1", api_key: sk-bench-b, tpm: 10000 }
router_settings:
  routing_strategy: usage-based-routing-v2
  enable_pre_call_checks: true
  redis_host: 127.0.0.1
  redis_port: $redis_port
litellm_settings:
  max_budget: 1000000
  budget_duration: 30d
general_settings:
  master_key: $litellm_key
EOF
LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False NO_DOCS=True \
    "$venv/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$litellm_port" >"$work/litellm.log" 2>&1 &
track_pid $!
litellm="http://127.0.0.1:$litellm_port"
for _ in $(seq 1 600); do curl -sf "$litellm/health/liveliness" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$litellm/health/liveliness" >/dev/null || { log "LiteLLM did not start:"; tail -20 "$work/litellm.log" >&2; exit 1; }

# Each proxy against direct calls in its own rotation: in one rotation with LiteLLM, the calls
# that follow a LiteLLM call are slower (its process is still busy after it has answered), and
# the target placed closest behind it pays most. The rotation of all four (the method of
# earlier runs) is printed too.
log "concurrency 1: $calls plain and $calls streamed calls per target, alternating with direct calls: the gateways, then LiteLLM, then all four"
latency() { python3 "$TOLLGATE_ROOT/Scripts/bench/proxy_latency.py" "$calls" "$token" "$@"; }
latency "direct=$direct" "gateway=$gateway" "bare=$bare" >"$work/latency.txt"
latency "direct=$direct" "litellm=$litellm#$litellm_key" >"$work/latency-litellm.txt"
latency "direct=$direct" "gateway=$gateway" "bare=$bare" "litellm=$litellm#$litellm_key" >"$work/latency-all.txt"
read -r _ d50 d99 dt50 dt99 < <(grep '^direct ' "$work/latency.txt")
read -r _ g50 g99 gt50 gt99 < <(grep '^gateway ' "$work/latency.txt")
read -r _ b50 b99 bt50 bt99 < <(grep '^bare ' "$work/latency.txt")
read -r _ ld50 _ ldt50 _ < <(grep '^direct ' "$work/latency-litellm.txt")
read -r _ l50 l99 lt50 lt99 < <(grep '^litellm ' "$work/latency-litellm.txt")
read -r _ ad50 _ adt50 _ < <(grep '^direct ' "$work/latency-all.txt")
read -r _ ag50 _ agt50 _ < <(grep '^gateway ' "$work/latency-all.txt")
read -r _ ab50 _ abt50 _ < <(grep '^bare ' "$work/latency-all.txt")
read -r _ al50 _ alt50 _ < <(grep '^litellm ' "$work/latency-all.txt")

wrk_run() {  # wrk_run URL TOKEN [KEY MODEL SECONDS]: "calls/s p50 p99 failures"
    local run_seconds="${5:-$seconds}"
    PROXY_TOKEN="$2" PROXY_KEY="${3:-bench-key}" PROXY_MODEL="${4:-gpt-4o-mini}" \
        wrk -t2 -c64 -d"${run_seconds}s" -s "$TOLLGATE_ROOT/Scripts/bench/proxy.lua" "$1" 2>&1 |
        awk -v s="$run_seconds" '/^wrk-summary/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%d %.3f %.3f %d\n", v["requests"] / s, v["p50_ms"], v["p99_ms"], v["non2xx"] + v["errors"] }'
}
# Overshoot: tokens the mock billed while each proxy held a 20,000 TPM limit (one window).
# Before the c=64 runs: a proxy still working off a c=64 queue would bill calls into this count.
# Read once the proxy has worked off its queue (the bill unchanged for 2 s, 60 s at most):
# calls a proxy admitted are billed even when wrk has stopped waiting for them.
billed() {
    local last="" now
    for _ in $(seq 1 30); do
        now="$(curl -s "$direct/mock/billed" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(b["input_tokens"] + b["output_tokens"], b["calls"])')"
        [ "$now" = "$last" ] && break
        last="$now"; sleep 2
    done
    echo "$now"
}
# LiteLLM counts tpm per calendar minute: each run starts early enough in a minute not to cross into the next.
within_one_minute() { while [ "$(date +%-S)" -gt 45 ]; do sleep 1; done; }
log "overshoot: 64 connections for 10 s against a 20,000 TPM limit, each proxy in turn"
curl -s -X POST "$direct/mock/reset" >/dev/null
within_one_minute
read -r _ _ _ gtight < <(wrk_run "$gateway" "$token" tight-key gpt-4o-mini 10)
read -r gtokens gcalls < <(billed)
curl -s -X POST "$direct/mock/reset" >/dev/null
within_one_minute
read -r _ _ _ ltight < <(wrk_run "$litellm" "$litellm_key" bench-key tight 10)
read -r ltokens lcalls < <(billed)

log "concurrency 64: wrk, ${seconds} s per target"
read -r drps dp50 dp99 dbad < <(wrk_run "$direct" "$token")
read -r grps gp50 gp99 gbad < <(wrk_run "$gateway" "$token")
read -r brps bp50 bp99 bbad < <(wrk_run "$bare" "$token")
read -r lrps lp50 lp99 lbad < <(wrk_run "$litellm" "$litellm_key")

row() { printf '%-40s %10s %10s %10s %10s\n' "$@"; }
added() { bc -l <<<"$1 - $2" | xargs printf '%.3f'; }
echo
echo "LiteLLM $LITELLM_VERSION (1 worker) vs Tollgate $(git rev-parse --short HEAD) ($bin), same mock upstream, one run"
row "what" "direct" "gateway" "no journal" "litellm"
row "c=1 plain call p50 ms" "$d50/$ld50" "$g50" "$b50" "$l50"
row "c=1 plain call p99 ms" "$d99" "$g99" "$b99" "$l99"
row "  added p50 ms" "" "$(added "$g50" "$d50")" "$(added "$b50" "$d50")" "$(added "$l50" "$ld50")"
row "c=1 stream first byte p50 ms" "$dt50/$ldt50" "$gt50" "$bt50" "$lt50"
row "c=1 stream first byte p99 ms" "$dt99" "$gt99" "$bt99" "$lt99"
row "  added p50 ms" "" "$(added "$gt50" "$dt50")" "$(added "$bt50" "$dt50")" "$(added "$lt50" "$ldt50")"
row "all four in one rotation: added p50 ms" "" "$(added "$ag50" "$ad50")" "$(added "$ab50" "$ad50")" "$(added "$al50" "$ad50")"
row "  first byte added p50 ms" "" "$(added "$agt50" "$adt50")" "$(added "$abt50" "$adt50")" "$(added "$alt50" "$adt50")"
row "c=64 calls/s (wrk)" "$drps" "$grps" "$brps" "$lrps"
row "c=64 p50 / p99 ms" "$dp50/$dp99" "$gp50/$gp99" "$bp50/$bp99" "$lp50/$lp99"
row "c=64 failures" "$dbad" "$gbad" "$bbad" "$lbad"
echo "journal's cost at c=1: plain p50 +$(added "$g50" "$b50") ms, first byte p50 +$(added "$gt50" "$bt50") ms; at c=64 calls/s ratio $(bc -l <<<"$grps / $brps" | xargs printf '%.3f')"
echo "ratios gateway / litellm: added latency p50 $(bc -l <<<"($g50 - $d50) / ($l50 - $ld50)" | xargs printf '%.3f'), calls/s at c=64 $(bc -l <<<"$grps / $lrps" | xargs printf '%.1f')x"
echo "overshoot against 20,000 TPM: gateway billed $gtokens tokens in $gcalls calls ($(bc -l <<<"100 * $gtokens / 20000" | xargs printf '%.0f')% of the limit; refusals+errors $gtight)," \
    "litellm billed $ltokens tokens in $lcalls calls ($(bc -l <<<"100 * $ltokens / 20000" | xargs printf '%.0f')%; refusals+errors $ltight)"
printf 'ledger entries written: %s\n' "$(redis-cli -p "$redis_port" --scan --pattern 'bench:*:ledger' | xargs -r -n1 redis-cli -p "$redis_port" XLEN | paste -sd+ | bc)"
