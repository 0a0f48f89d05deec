#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, builds, and runs every test — first
# against one redis-server, then the integration suites again against a local Redis Cluster
# (3 primaries + 3 replicas). Integration tests start their own redis-server processes on free
# loopback ports; with CI=true a Redis that cannot start fails the run instead of skipping.
#
# Then each end-to-end check in Scripts/checks/ runs against live processes.
#
# Usage: Scripts/test.sh [swift test options, e.g. --filter EngineTests]
#   With options, only that single-Redis run happens (TOLLGATE_TEST_REDIS=cluster for the cluster),
#   and no check; a check runs alone as `bash Scripts/checks/NN-name.sh`.
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"

ensure_packages
ensure_venv
log "building (debug, with tests)"
swift build --build-tests
if [ $# -gt 0 ]; then
    log "running the tests ($*)"
    swift test --skip-build "$@"
    exit
fi

log "running every test against a single Redis"
swift test --skip-build --skip 'FaultBatteryTests|ClusterTests|CallCoalescerTests|ClientTimeoutTests|TollgateTokenizerTests\.|ImageSizeTests'

# The CPU-bound suites on their own: the tiktoken parity run, every scalar's class and the
# image decoders hold both cores (and test threads) for seconds, which starves the in-process
# gateways and clients of the suites above and breaks their timing bounds.
log "running the CPU-bound tokenizer suites (tiktoken parity, scalar classes, image sizes)"
swift test --skip-build --filter 'TollgateTokenizerTests\.|ImageSizeTests'

# The fault drills alone, one suite at a time: they pause, fill, restart or kill their own
# servers (a primary of their own cluster, for ClusterTests) under traffic and time the
# recovery, so they neither load nor are loaded by the other suites. CallCoalescerTests too:
# it pauses its own server under 200 calls. And the client's time bounds (ClientTimeoutTests)
# on their own: beside every other suite, its thread waited its turn for over a second. Alone,
# their bounds allow 1 s of scheduling delay instead of 2.5 (schedulingSlack, Timing.swift).
log "running the fault battery (FaultBatteryTests)"
TOLLGATE_SCHEDULING_SLACK_MS=1000 swift test --skip-build --filter FaultBatteryTests
log "running the coalescer's stall test (CallCoalescerTests)"
TOLLGATE_SCHEDULING_SLACK_MS=1000 swift test --skip-build --filter CallCoalescerTests
log "running the client's time bounds (ClientTimeoutTests)"
TOLLGATE_SCHEDULING_SLACK_MS=1000 swift test --skip-build --filter ClientTimeoutTests
log "running the cluster fault tests (ClusterTests: live slot migration, primary failover)"
TOLLGATE_SCHEDULING_SLACK_MS=1000 swift test --skip-build --filter ClusterTests

# The suites whose subject is what Redis decides run again on the cluster. (ClusterTests ran
# above: they always use their own cluster. The 75-second sliding-window test is not repeated.)
log "running the integration suites against a Redis Cluster (TOLLGATE_TEST_REDIS=cluster)"
TOLLGATE_TEST_REDIS=cluster swift test --skip-build \
    --filter 'EngineTests|ScriptContractTests|ConcurrencyTests|RouteTests|MultiNodeTests|MonitorTests|UsageReportTests|CLITests|CLILiveTests' \
    --skip noTPMOvershootInAnySixtySecondInterval
# The customer store and the gateways' customer cache on the cluster, on their own: their
# concurrent creates and gateway processes would otherwise load the suites above. Alone, the
# cache's "visible within a second" is bounded with 1 s of slack, not 2.5.
log "running the customer store suites against a Redis Cluster"
TOLLGATE_TEST_REDIS=cluster TOLLGATE_SCHEDULING_SLACK_MS=1000 swift test --skip-build --filter 'CustomerStoreTests|CustomerCacheTests'

# End-to-end checks against running processes (Scripts/checks/README.md).
for check in "$TOLLGATE_ROOT"/Scripts/checks/[0-9]*.sh; do
    [ -e "$check" ] || continue
    log "check: $(basename "$check")"
    bash "$check"
done
log "all tests passed"
