#!/usr/bin/env bash
# `make test`: everything CI checks, against real PostgreSQL and real functions.
#
# This script installs what Rust cannot (Debian's Chromium and PgBouncer,
# the pinned Python tools, the npm packages), checks and builds; then `cargo
# xtask test` (xtask/src/test.rs) starts the services with the test kit's own
# code (which finds PostgreSQL 17 or newer, or installs the pinned one:
# tests/src/postgres.rs) and runs every phase that needs them: unit and integration tests,
# schemathesis, the end-to-end suites through `cargo lambda watch`, straight
# and through PgBouncer, the browser tests and the fault suites. Last, the
# `make dev` smoke check, as an ordinary user. Prints each phase's duration.
# CONFORMANCE_ONLY=1 (`make conformance`) runs only what schemathesis needs.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/arm64.sh"
cd "$ROOT"

# True unless this is `make conformance`, which skips everything but schemathesis.
full() { [ "${CONFORMANCE_ONLY:-0}" != 1 ]; }
trap print_phases EXIT

# in_background NAME COMMAND...: COMMAND in the background, its output in
# target/install/NAME.log and, once it ends, its exit status in NAME.status,
# which installed_all waits for before the services' phases. Left to finish
# even when the tests fail first: a killed apt-get can break dpkg.
installs="$ROOT/target/install"
rm -rf "$installs"
mkdir -p "$installs"
in_background() {
    local name=$1
    shift
    ( status=0; "$@" >"$installs/$name.log" 2>&1 || status=$?; echo "$status" >"$installs/$name.status" ) &
}
# The Python tools (this script's first, then `make deploy-check`'s, which
# `make test-full` runs next: pip installs one at a time into the venv).
in_background tools ensure_tools moto_server schemathesis cargo-lambda
until_installed() { until [ -e "$installs/$1.status" ]; do sleep 2; done; }
# installed_all NAME...: waits for each, and fails with the log of one that failed.
installed_all() {
    local name
    for name in "$@"; do
        until_installed "$name"
        [ "$(cat "$installs/$name.status")" = 0 ] \
            || { echo "installing $name failed:" >&2; cat "$installs/$name.log" >&2; return 1; }
    done
}
if full; then
    # Debian's packages one after the other (apt-get holds a lock), and the npm ones.
    in_background debian ensure_pgbouncer
    { until_installed debian; in_background chromium ensure_chromium; } &
    in_background client npm_ci_once clients/typescript
    in_background browser npm_ci_once tests/browser
    { until_installed tools; in_background deploy-tools ensure_tools sam cfn-lint check-jsonschema zizmor checkov; } &
    # `make test-full` (ARM64_PREBUILD=1): the arm64 release build that `make
    # deploy-check` needs next, started now at the lowest CPU priority, so
    # that it takes only the CPU the tests leave idle. deploy-check waits
    # for it and then finds its build up to date (scripts/deploy-check.sh).
    if [ "${ARM64_PREBUILD:-0}" = 1 ]; then
        { until_installed tools; arm64_build nice -n 19; } >"$ROOT/target/arm64-build.log" 2>&1 &
        echo $! >"$ROOT/target/arm64-build.pid"
    fi

    step "cargo fmt --check and clippy (make check)"
    scripts/check.sh
fi

step "build: the workspace's binaries and tests, once; the Better Auth fixture's packages"
# Everything later runs what this built (the functions under cargo lambda
# watch are rebuilt only where their own feature resolution differs).
cargo build --workspace --bins --quiet
cargo test --workspace --no-run --quiet
npm_ci_once tests/better-auth
# The tools the runner starts (moto, schemathesis, cargo lambda), once installed.
export PATH="$VENV/bin:$PATH"

step "the services, and every phase that needs them (cargo xtask test)"
installed_all tools
full && installed_all debian chromium client browser
target/debug/xtask test $(full || echo --conformance-only)

# make conformance ends here.
full || exit 0

step "make dev as an ordinary user: starts its own PostgreSQL, serves, stops on Ctrl-C, keeps tasks"
as_ordinary_user target/debug/xtask dev-smoke
