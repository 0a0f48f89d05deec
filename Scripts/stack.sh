#!/usr/bin/env bash
# The local stack on loopback: Redis, then a smoke check through our client.
# (Gateways, monitor, sample pricing and tiers, and traffic join as they are built.)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"
trap stop_started EXIT

ensure_packages
log "building"
swift build --product tollgate >/dev/null
tollgate="$(swift build --show-bin-path)/tollgate"

work="$(mktemp -d)"
redis_port="$(free_port)"
log "starting redis-server on 127.0.0.1:$redis_port (files in $work)"
start_redis "$redis_port" "$work/redis"
export TOLLGATE_REDIS_URL="redis://127.0.0.1:$redis_port"

"$tollgate" ping
log "done; stopping what this script started"
