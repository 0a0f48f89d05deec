#!/usr/bin/env bash
# The Grafana dashboard provisioned in Compose/grafana queries only metrics that exist: a
# Redis, a gateway and a monitor with traffic (admissions, commits, a 429, a budget alert),
# then every metric name in every panel's query must appear in the /metrics output of the
# gateway or the monitor. Also: every panel names the provisioned datasource uid, and no
# ${DS_...} input is left in the file.
source "$(dirname "$0")/../lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

ensure_packages curl jq
tollgate="$(tollgate_bin)"
[ -x "$tollgate" ] || { log "no tollgate binary: run swift build first"; exit 1; }
work="$(mktemp -d /tmp/tollgate-grafana.XXXXXX)"
redis_port="$(free_port)"
start_redis "$redis_port" "$work/redis"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_ACTOR="grafana-check"

"$tollgate" price set test-model --provider test --input 1.00 --output 2.00 >/dev/null 2>&1
"$tollgate" tier set small --tpm 50000 --daily-budget 0.01 --alert-thresholds 50 >/dev/null 2>&1
"$tollgate" org create acme --tier small >/dev/null 2>&1
"$tollgate" workspace create acme-ws --org acme >/dev/null 2>&1
"$tollgate" key create acme-key --workspace acme-ws >/dev/null 2>&1
secret="$("$tollgate" token create grafana --json 2>/dev/null | jq -r .secret)"
gateway_port="$(free_port)" metrics_port="$(free_port)"
"$tollgate" serve --port "$gateway_port" --spool "$work/spool.jsonl" >"$work/gateway.log" 2>&1 & track_pid $!
"$tollgate" monitor --metrics-port "$metrics_port" --alert-seconds 1 >"$work/monitor.log" 2>&1 & track_pid $!
wait_http "http://127.0.0.1:$gateway_port/readyz"
wait_http "http://127.0.0.1:$metrics_port/healthz"

post() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $secret" -H 'Content-Type: application/json' \
        -X POST "http://127.0.0.1:$gateway_port$1" --data "$2"
}
for i in 1 2 3 4; do
    post /v1/reserve "{\"request_id\":\"r$i\",\"api_key\":\"acme-key\",\"model\":\"test-model\",\"input_tokens\":2000,\"max_output_tokens\":100}" >/dev/null
    post /v1/commit "{\"request_id\":\"r$i\",\"api_key\":\"acme-key\",\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":100}}" >/dev/null
done
[ "$(post /v1/reserve '{"request_id":"big","api_key":"acme-key","model":"test-model","input_tokens":90000}')" = 429 ] || { log "no 429"; exit 1; }

# The monitor rolls up and fires the 50% budget alert within a few seconds (10 s at most).
for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -q '^tollgate_monitor_alerts_fired_total' && break
    sleep 0.1
done
curl -s "http://127.0.0.1:$gateway_port/metrics" >"$work/metrics.txt"
curl -s "http://127.0.0.1:$metrics_port/metrics" >>"$work/metrics.txt"

python3 - "$TOLLGATE_ROOT/Compose/grafana" "$work/metrics.txt" <<'PY'
import json, pathlib, re, sys
root, metrics_file = pathlib.Path(sys.argv[1]), sys.argv[2]
present = {line.split("{")[0].split(" ")[0] for line in open(metrics_file) if line and not line.startswith("#")}
uid = re.search(r"uid:\s*(\S+)", (root / "provisioning/datasources/prometheus.yaml").read_text()).group(1)
failures = []
for path in sorted((root / "dashboards").glob("*.json")):
    text = path.read_text()
    if "${DS_" in text:
        failures.append(f"{path.name}: a ${{DS_...}} input is left")
    for panel in json.loads(text)["panels"]:
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != uid or panel.get("datasource", {}).get("uid") != uid:
                failures.append(f"{path.name} '{panel['title']}': datasource uid is not {uid}")
            for name in set(re.findall(r"\btollgate_[a-z_]+", target["expr"])):
                found = name in present or any(n.startswith(name) for n in present)
                print(("ok   " if found else "FAIL ") + f"{panel['title']}: {name}")
                if not found:
                    failures.append(f"{path.name} '{panel['title']}': {name} is not in /metrics")
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
PY
log "grafana check passed"
