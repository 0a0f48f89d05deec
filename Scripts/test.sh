#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, builds, and runs every test.
# Integration tests start their own redis-server on free loopback ports; with CI=true a
# Redis that cannot start fails the run instead of skipping.
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"

ensure_packages
log "building (debug, with tests)"
swift build --build-tests
log "running the tests"
swift test --skip-build "$@"
