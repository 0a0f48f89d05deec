#!/usr/bin/env bash
# Benchmark: dashboard render time over a large deployment — 10,000 organisations, 100
# models, 30 days of usage (tollgate-bench dashboard-data records one ledger entry per
# organisation and day through the engine; a monitor rolls them up, and the time it takes is
# printed) — in one run: the overview and one organisation's month page, each loaded N times
# through curl, and one model's page over every organisation; prints p50 / p95 / max in ms.
# Usage: Scripts/bench-dashboard.sh [organizations] [overview-loads] [organization-loads] [model-loads]
#        (default 10000 30 50 10). BUILD=debug uses the debug build instead of release,
#        TOLLGATE_BIN_DIR=DIR binaries already built;
#        MAX_SECONDS (default 300) bounds each load (a load that times out counts as that).
#        DATA_DIR=DIR keeps the data set: the first run writes it there (Redis's dump.rdb, after
#        the roll-up), a later run with the same DIR loads it and skips the data load and the
#        roll-up (the data is dated from today: reuse it the same UTC day). PREPARE_ONLY=1
#        stops after writing it. So the long roll-up can run under `heavy` and only the page
#        loads under `quiet`:
#          heavy env DATA_DIR=/tmp/dash PREPARE_ONLY=1 Scripts/bench-dashboard.sh 10000
#          quiet env DATA_DIR=/tmp/dash Scripts/bench-dashboard.sh 10000 30 50
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

organizations="${1:-10000}" overview_loads="${2:-30}" organization_loads="${3:-50}" model_loads="${4:-10}"
ensure_packages curl jq
if [ -n "${TOLLGATE_BIN_DIR:-}" ]; then
    bin="$TOLLGATE_BIN_DIR"
elif [ "${BUILD:-release}" = debug ]; then
    bin="$(swift build --show-bin-path)"
else
    bin="$(build_release tollgate tollgate-bench)"
fi
work="$(mktemp -d /tmp/tollgate-bench-dashboard.XXXXXX)"
data="${DATA_DIR:-$work/redis}"
port="$(free_port)"
start_redis "$port" "$data"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$port" TOLLGATE_KEY_PREFIX="bench"
if [ -n "${DATA_DIR:-}" ] && [ -s "$data/dump.rdb" ]; then
    for _ in $(seq 1 600); do   # Redis answers PING while it still loads the dump (a minute at most)
        redis-cli -p "$port" info persistence | grep -q '^loading:0' && break
        sleep 0.1
    done
    echo "data set loaded from $data/dump.rdb (no data load, no roll-up)"
else
    # Alerts are left to a later pass (an hour): a pass over 10,000 organisations would compete with the roll-up.
    "$bin/tollgate" monitor --metrics-port "$(free_port)" --consumer bench --redis-timeout-ms 30000 --alert-seconds 3600 >"$work/monitor.log" 2>&1 &
    monitor_pid=$!
    track_pid "$monitor_pid"
    "$bin/tollgate-bench" dashboard-data --url "$TOLLGATE_REDIS_URL" --prefix bench --organizations "$organizations" --models 100 --days 30 --wait
    kill "$monitor_pid"   # its alert passes over every organisation would compete with the page loads
    redis-cli -p "$port" info commandstats | grep -E '^cmdstat_(evalsha|hincrby|zincrby):' | tr -d '\r'
    echo "redis used_memory_human=$(redis-cli -p "$port" info memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"
    if [ -n "${DATA_DIR:-}" ]; then
        redis-cli -p "$port" save >/dev/null
        echo "data set saved to $data/dump.rdb"
    fi
fi
[ -n "${PREPARE_ONLY:-}" ] && exit 0
token="$("$bin/tollgate" dashboard-token create bench --scope operator --json 2>/dev/null | jq -r .secret)"
dashboard_port="$(free_port)"
"$bin/tollgate" dashboard --port "$dashboard_port" --redis-timeout-ms 30000 >"$work/dashboard.log" 2>&1 &
track_pid $!
wait_http "http://127.0.0.1:$dashboard_port/healthz"
sleep 1   # the configuration (one document of every organisation) loads once

# measure NAME URL COUNT: COUNT sequential loads after one warm-up; p50 / p95 / max in ms.
measure() {
    local name="$1" url="$2" count="$3"
    curl -sf -o /dev/null --max-time "${MAX_SECONDS:-300}" -H "Authorization: Bearer $token" "$url" || true
    for _ in $(seq 1 "$count"); do
        curl -sf -o /dev/null -w '%{time_total}\n' --max-time "${MAX_SECONDS:-300}" -H "Authorization: Bearer $token" "$url" || true
    done | sort -n | awk -v name="$name" '{ t[NR] = $1 * 1000 } END {
        p50 = t[int((NR + 1) * 0.50)]; i95 = int(NR * 0.95 + 0.999); if (i95 < 1) i95 = 1
        printf "%s loads=%d p50_ms=%.1f p95_ms=%.1f max_ms=%.1f\n", name, NR, p50, t[i95], t[NR] }'
}
from="$(date -u -d '29 days ago' +%F)" to="$(date -u +%F)"
measure "overview (${organizations} orgs, 30 days)" "http://127.0.0.1:$dashboard_port/?from=$from&to=$to" "$overview_loads"
measure "organization month (org00042, 30 days)" "http://127.0.0.1:$dashboard_port/org/org00042?from=$from&to=$to" "$organization_loads"
measure "model, every organization (model-42, 30 days)" "http://127.0.0.1:$dashboard_port/model/model-42?from=$from&to=$to" "$model_loads"
bytes="$(curl -s --max-time "${MAX_SECONDS:-300}" -H "Authorization: Bearer $token" "http://127.0.0.1:$dashboard_port/?from=$from&to=$to" | wc -c)"
echo "overview page size: $bytes bytes"
