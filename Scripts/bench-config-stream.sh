#!/usr/bin/env bash
# Benchmark: `tollgate config export --stream` and `config import` of that file at N customers
# (issue 14): the CLI's wall time and peak RSS (/usr/bin/time), export → a fresh Redis →
# import → export compared byte for byte, and, side by side up to DOCUMENT_MAX customers
# (default 100,000), the document form (`config export --json`, importing that document), which
# holds every customer in memory.
# Usage: Scripts/bench-config-stream.sh [organizations...]   (default: 1000 1000000)
#        TOLLGATE_BIN_DIR=.build/release   binaries already built
#        TOLLGATE_BENCH_RDB_DIR=DIR        keep/reuse the loaded stores (see start_customers_redis)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1000 1000000)
document_max="${DOCUMENT_MAX:-100000}"
bin="${TOLLGATE_BIN_DIR:-$(build_release tollgate tollgate-bench)}"
work="$(mktemp -d)"

# timed LABEL CMD...: runs CMD (stdout to $out), prints "LABEL seconds=S peak_rss_kb=K".
timed() {
    local label="$1"; shift
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$out" || { log "$label failed"; return 1; }
    read -r seconds rss <"$work/time"
    printf '%s seconds=%s peak_rss_kb=%s\n' "$label" "$seconds" "$rss"
}
cli() { env TOLLGATE_REDIS_URL="redis://127.0.0.1:$1" TOLLGATE_KEY_PREFIX=bench TOLLGATE_ACTOR=bench "$bin/tollgate" "${@:2}"; }
# fresh_redis NAME: an empty redis-server; sets target_port (not in $(...): it would wait for the server's stdout).
fresh_redis() { target_port="$(free_port)"; start_redis "$target_port" "$work/$1"; }

for n in "${counts[@]}"; do
    log "$n organizations (each with a workspace and a key)"
    source_port="$(free_port)"
    start_customers_redis "$source_port" "$work/source-$n" "$n" "$bin"

    out="$work/$n.stream"; timed "export-stream customers=$n" env TOLLGATE_REDIS_URL="redis://127.0.0.1:$source_port" TOLLGATE_KEY_PREFIX=bench "$bin/tollgate" config export --stream
    printf 'export-stream customers=%s bytes=%s lines=%s\n' "$n" "$(stat -c %s "$out")" "$(wc -l <"$out")"
    fresh_redis "target-$n"
    out="$work/$n.import-log"; timed "import-stream customers=$n" env TOLLGATE_REDIS_URL="redis://127.0.0.1:$target_port" TOLLGATE_KEY_PREFIX=bench TOLLGATE_ACTOR=bench "$bin/tollgate" config import "$work/$n.stream"
    out="$work/$n.again"; cli "$target_port" config export --stream >"$out"
    cmp -s "$work/$n.stream" "$work/$n.again" && echo "round-trip customers=$n identical=yes" || echo "round-trip customers=$n identical=NO"
    redis-cli -p "$target_port" shutdown nosave >/dev/null 2>&1 || true

    if [ "$n" -le "$document_max" ]; then
        out="$work/$n.json"; timed "export-document customers=$n" env TOLLGATE_REDIS_URL="redis://127.0.0.1:$source_port" TOLLGATE_KEY_PREFIX=bench "$bin/tollgate" config export --json
        fresh_redis "document-$n"
        out="$work/$n.import-document-log"; timed "import-document customers=$n" env TOLLGATE_REDIS_URL="redis://127.0.0.1:$target_port" TOLLGATE_KEY_PREFIX=bench TOLLGATE_ACTOR=bench "$bin/tollgate" config import "$work/$n.json"
        redis-cli -p "$target_port" shutdown nosave >/dev/null 2>&1 || true
    fi
    redis-cli -p "$source_port" shutdown nosave >/dev/null 2>&1 || true
    rm -f "$work/$n".*
done
