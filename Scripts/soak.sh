#!/usr/bin/env bash
# Soak: reserve+commit pairs through two release gateways with one monitor, for a bounded
# time, printing every interval the gateways' and the monitor's memory (RSS), Redis' memory
# (used_memory, RSS), the ledger (entries in the streams, backlog the monitor has not
# acknowledged) and throughput; then a summary that makes regressions visible: the slope of
# each memory figure (least squares over the samples after the first minute, or the second
# half of a shorter run), Redis bytes retained per committed call, the largest backlog, and
# whether the monitor drains the streams once the load stops.
# Not a test (not in CI): a benchmark, its figures in Docs/benchmarks.md.
# Usage: Scripts/soak.sh [--minutes N | --seconds N] [--interval SECONDS] [--concurrency C]
#        (default 10 minutes, a sample every 10 s, 16 concurrent callers)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

seconds=600 interval=10 concurrency=16
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) seconds=$(( $2 * 60 )); shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --interval) interval="$2"; shift 2 ;;
        --concurrency) concurrency="$2"; shift 2 ;;
        *) echo "usage: Scripts/soak.sh [--minutes N | --seconds N] [--interval SECONDS] [--concurrency C]" >&2; exit 2 ;;
    esac
done
[ "$seconds" -ge 10 ] && [ "$seconds" -le 86400 ] || { echo "the soak runs 10 s to 24 h" >&2; exit 2; }
[ "$interval" -ge 1 ] && [ "$interval" -le "$seconds" ] || { echo "--interval must be 1 s to the soak's length" >&2; exit 2; }

ensure_packages
bin="${TOLLGATE_BIN_DIR:-$(build_release tollgate tollgate-bench)}"
work="$(mktemp -d)"
start_pair_stack "$bin" "$work" 2
start_monitor "$bin" "$work"
log "soak: ${seconds} s of reserve+commit pairs, c=$concurrency over $GATEWAY_URLS, one monitor (commit $(git rev-parse --short HEAD))"

"$bin/tollgate-bench" gateway-load --urls "$GATEWAY_URLS" --concurrency "$concurrency" --mode pair --seconds "$seconds" \
    --label soak >"$work/load.txt" 2>&1 &
load_pid=$!
track_pid "$load_pid"

samples="$work/samples.tsv"
base_memory=$(redis_info "$REDIS_PORT" used_memory)
printf '%6s %9s %10s %8s %8s %8s %9s %9s %9s %8s %8s\n' "t s" "pairs/s" "committed" "gw0 MB" "gw1 MB" "mon MB" \
    "redis MB" "rss MB" "B/call" "stream" "backlog"
started=$(date +%s) last_added=0 last_t=0
while kill -0 "$load_pid" 2>/dev/null; do
    sleep "$interval"
    t=$(( $(date +%s) - started ))
    read -r added length backlog unread < <(ledger_state "$REDIS_PORT")
    used=$(redis_info "$REDIS_PORT" used_memory)
    rss=$(redis_info "$REDIS_PORT" used_memory_rss)
    g0=$(rss_kb "${GATEWAY_PIDS[0]}") g1=$(rss_kb "${GATEWAY_PIDS[1]}") m=$(rss_kb "$MONITOR_PID")
    rate=$(( (added - last_added) / (t - last_t > 0 ? t - last_t : 1) ))
    per_call=$(( added > 0 ? (used - base_memory) / added : 0 ))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rate" "$added" "$g0" "$g1" "$m" "$used" "$rss" "$per_call" "$length" "$backlog" >>"$samples"
    printf '%6d %9d %10d %8.1f %8.1f %8.1f %9.1f %9.1f %9d %8d %8d\n' "$t" "$rate" "$added" "$(bc -l <<<"$g0/1024")" "$(bc -l <<<"$g1/1024")" \
        "$(bc -l <<<"$m/1024")" "$(bc -l <<<"$used/1048576")" "$(bc -l <<<"$rss/1048576")" "$per_call" "$length" "$backlog"
    last_added=$added last_t=$t
done
wait "$load_pid" || true
load_line="$(grep '^soak' "$work/load.txt" | tail -1)"

# Once the load stops, the monitor should catch up (30 s at most) ...
drained="no"
for _ in $(seq 1 60); do
    read -r added length backlog unread < <(ledger_state "$REDIS_PORT")
    if [ "$backlog" -eq 0 ] && [ "$unread" -eq 0 ]; then drained="yes"; break; fi
    sleep 0.5
done
# ... and trim the streams on its next pass (every 30 s): 40 s at most.
for _ in $(seq 1 80); do
    read -r added length backlog unread < <(ledger_state "$REDIS_PORT")
    [ "$length" -eq 0 ] && break
    sleep 0.5
done

echo
echo "summary (commit $(git rev-parse --short HEAD), ${seconds} s, c=$concurrency, two gateways, one monitor)"
echo "load generator: $load_line"
awk -F'\t' -v seconds="$seconds" '
    # Least-squares slope per minute of column c over the samples from time `from` on.
    function slope(c,    i, n, sx, sy, sxx, sxy, x) {
        n = 0; sx = sy = sxx = sxy = 0
        for (i = 1; i <= rows; i++) if (t[i] >= from) { x = t[i] / 60; n++; sx += x; sy += v[i, c]; sxx += x * x; sxy += x * v[i, c] }
        return n > 1 && (n * sxx - sx * sx) > 0 ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
    }
    { rows++; t[rows] = $1; for (c = 2; c <= NF; c++) v[rows, c] = $c; if ($11 > maxb) maxb = $11; rate += $2 }
    END {
        from = seconds >= 120 ? 60 : seconds / 2
        printf "  throughput: %.0f pairs/s on average over %d samples\n", rate / rows, rows
        printf "  gateway 0 RSS  %7.1f MB at the end, slope %+8.3f MB/min\n", v[rows, 4] / 1024, slope(4) / 1024
        printf "  gateway 1 RSS  %7.1f MB at the end, slope %+8.3f MB/min\n", v[rows, 5] / 1024, slope(5) / 1024
        printf "  monitor RSS    %7.1f MB at the end, slope %+8.3f MB/min\n", v[rows, 6] / 1024, slope(6) / 1024
        printf "  Redis used     %7.1f MB at the end, slope %+8.3f MB/min (idempotency records are kept for idempotency_hours: this grows by design)\n", v[rows, 7] / 1048576, slope(7) / 1048576
        printf "  Redis retained %7d bytes per committed call (used_memory growth / calls), at the end of the load\n", v[rows, 9]
        printf "  ledger backlog %7d entries at most (not yet acknowledged by the monitor)\n", maxb
    }' "$samples"
echo "  after the load: monitor drained the backlog: $drained; streams hold $length entries, backlog $backlog"
echo "  Redis after the drain: used_memory $(redis_info "$REDIS_PORT" used_memory) bytes for $added calls ($(( ( $(redis_info "$REDIS_PORT" used_memory) - base_memory) / (added > 0 ? added : 1) )) bytes per call)"
echo "samples: $samples"
