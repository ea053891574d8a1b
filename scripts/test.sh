#!/usr/bin/env bash
# `make test`: everything CI checks, against real PostgreSQL and real functions.
#
# Uses TEST_DATABASE_URL when set; otherwise starts a throwaway PostgreSQL on a
# free port and removes it afterwards, whether the tests pass or not. Then:
# formatting, clippy, unit and in-process integration tests, and end-to-end
# tests over HTTP through `cargo lambda watch` with the router from Cargo.toml.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

cleanup() {
    if [ -n "${watch_pid:-}" ]; then
        kill -TERM -- "-$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
    fi
    if [ -n "${pgdata:-}" ]; then
        pg_stop "$pgdata" immediate
        rm -rf "$(dirname "$pgdata")"
    fi
}
trap cleanup EXIT

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

if [ -z "${TEST_DATABASE_URL:-}" ]; then
    step "throwaway PostgreSQL"
    pgdata="$(mktemp -d /tmp/todo-api-test.XXXXXX)/data"
    [ "$(id -u)" = 0 ] && chown postgres: "$(dirname "$pgdata")"
    pg_port=$(free_port)
    pg_start "$pgdata" "$pg_port" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=200
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
    echo "$TEST_DATABASE_URL"
fi

step "migrations"
DATABASE_URL=$TEST_DATABASE_URL cargo run --quiet -p migrate

step "unit and integration tests"
cargo test --workspace

step "end to end through cargo lambda watch"
ensure_cargo_lambda
watch_port=$(free_port)
# A secret made for this run only; the e2e tests read it from the environment.
BETTER_AUTH_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')
export BETTER_AUTH_SECRET
watch_log="$ROOT/target/e2e-watch.log"
# Its own process group, so cleanup stops the functions it started too.
DATABASE_URL=$TEST_DATABASE_URL DB_POOL_SIZE=4 setsid cargo lambda watch \
    --invoke-address 127.0.0.1 --invoke-port "$watch_port" --ignore-changes >"$watch_log" 2>&1 &
watch_pid=$!
if ! wait_http "http://127.0.0.1:$watch_port/health" 600; then
    echo "cargo lambda watch did not come up; its log:" >&2
    cat "$watch_log" >&2
    exit 1
fi
E2E_BASE_URL="http://127.0.0.1:$watch_port" cargo test -p todo-tests --test e2e -- --ignored \
    || { echo "--- cargo lambda watch log (tail) ---" >&2; tail -n 60 "$watch_log" >&2; exit 1; }
