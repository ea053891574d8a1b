#!/usr/bin/env bash
# `make test`: everything CI checks, against real PostgreSQL and real functions.
#
# Uses TEST_DATABASE_URL when set; otherwise starts a throwaway PostgreSQL on a
# free port and removes it afterwards, whether the tests pass or not. Then:
# formatting, clippy, unit and in-process integration tests, schemathesis and
# end-to-end tests over HTTP through `cargo lambda watch` with the router from
# Cargo.toml. CONFORMANCE_ONLY=1 (`make conformance`) runs only what
# schemathesis needs: PostgreSQL, the fixtures, the watch server, schemathesis.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }
# True unless this is `make conformance`, which skips everything but schemathesis.
full() { [ "${CONFORMANCE_ONLY:-0}" != 1 ]; }

cleanup() {
    if [ -n "${moto_pid:-}" ]; then
        kill "$moto_pid" 2>/dev/null || true
    fi
    if [ -n "${fixture_pid:-}" ]; then
        kill "$fixture_pid" 2>/dev/null || true
    fi
    if [ -n "${dev_pid:-}" ]; then
        kill -INT -- "-$dev_pid" 2>/dev/null || true
        wait "$dev_pid" 2>/dev/null || true
        rm -rf "${dev_data:-}"
    fi
    if [ -n "${outage_pid:-}" ]; then
        kill -TERM -- "-$outage_pid" 2>/dev/null || true
        wait "$outage_pid" 2>/dev/null || true
    fi
    if [ -n "${watch_pid:-}" ]; then
        kill -TERM -- "-$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
    fi
    if [ -n "${pgdata:-}" ]; then
        pg_stop "$pgdata" immediate
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT

if full; then
    step "cargo fmt --check"
    cargo fmt --all --check

    step "cargo clippy -D warnings"
    cargo clippy --workspace --all-targets --quiet -- -D warnings
fi

if [ -z "${TEST_DATABASE_URL:-}" ]; then
    step "throwaway PostgreSQL (with TLS, for the Neon-style connection test)"
    scratch=$(mktemp -d /tmp/todo-api-test.XXXXXX)
    pgdata="$scratch/data"
    make_test_certificates "$scratch/tls"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$scratch"
    pg_port=$(free_port)
    pg_start "$pgdata" "$pg_port" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=200 -c ssl=on -c "ssl_cert_file=$scratch/tls/server.crt" \
        -c "ssl_key_file=$scratch/tls/server.key"
    # A user that may only log in over TLS with SCRAM, as on Neon.
    sed -i '1i hostssl all tls_user 127.0.0.1/32 scram-sha-256\nhostnossl all tls_user all reject' \
        "$pgdata/pg_hba.conf"
    as_postgres "$PG_BIN/pg_ctl" -D "$pgdata" reload >/dev/null
    as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc \
        "CREATE ROLE tls_user LOGIN PASSWORD 'tls-test-password'"
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
    export TEST_TLS_DATABASE_URL="postgresql://tls_user:tls-test-password@localhost:$pg_port/postgres?sslmode=require&channel_binding=require"
    export TEST_TLS_CA_FILE="$scratch/tls/ca.crt"
    echo "$TEST_DATABASE_URL"
fi

step "a real Better Auth (tests/better-auth, pinned by its package-lock.json)"
npm ci --prefix tests/better-auth --no-audit --no-fund --loglevel=error
export BETTER_AUTH_FIXTURE="$ROOT/target/better-auth-fixture.json"
rm -f "$BETTER_AUTH_FIXTURE"
# Also over HTTPS with the test CA's certificate, when this run made one.
node tests/better-auth/issuer.mjs "$BETTER_AUTH_FIXTURE" \
    ${scratch:+"$scratch/tls/server.crt" "$scratch/tls/server.key"} &
fixture_pid=$!
for _ in $(seq 1 120); do
    [ -s "$BETTER_AUTH_FIXTURE" ] && break
    kill -0 "$fixture_pid" 2>/dev/null || { echo "the Better Auth fixture died" >&2; exit 1; }
    sleep 0.5
done
[ -s "$BETTER_AUTH_FIXTURE" ] || { echo "the Better Auth fixture did not start" >&2; exit 1; }
better_auth_url=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["base"])' "$BETTER_AUTH_FIXTURE")

step "a local Secrets Manager (moto)"
ensure_tools cargo-lambda
start_moto

step "migrations"
DATABASE_URL=$TEST_DATABASE_URL cargo run --quiet -p migrate

if full; then
    step "unit and integration tests"
    cargo test --workspace

    step "functions refuse to start on a bad configuration, naming the variable"
    expect_refusal() { # EXPECTED-MESSAGE FUNCTION [VAR=VALUE...]
        local expected=$1 function=$2 output
        shift 2
        if output=$(env -u DATABASE_URL -u BETTER_AUTH_SECRET "$@" cargo run --quiet -p "$function" 2>&1); then
            echo "$function started without a valid configuration" >&2
            exit 1
        fi
        grep -qF "$expected" <<<"$output" || { echo "$function said: $output" >&2; exit 1; }
        echo "$function: $expected"
    }
    expect_refusal "DATABASE_URL is not set" tasks-collection
    expect_refusal "DATABASE_URL is not set" health
    expect_refusal "BETTER_AUTH_SECRET is not set" tasks-item DATABASE_URL=postgres://db/x
    expect_refusal "BETTER_AUTH_SECRET must be at least 32 characters" tasks-collection \
        DATABASE_URL=postgres://db/x BETTER_AUTH_SECRET=too-short
    expect_refusal "DB_POOL_SIZE must be a whole number" health DATABASE_URL=postgres://db/x DB_POOL_SIZE=0
    expect_refusal "DATABASE_URL is not set" migrate
fi

step "cargo lambda watch with the router from Cargo.toml"
watch_port=$(free_port)
# A secret made for this run only; the e2e tests read it from the environment.
BETTER_AUTH_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')
export BETTER_AUTH_SECRET
# The functions get both secrets as in AWS: only ARNs, read from Secrets
# Manager (moto) at cold start.
read -r database_url_arn auth_secret_arn < <("$VENV/bin/python" - <<'PY'
import os, boto3
client = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
suffix = os.urandom(4).hex()
db = client.create_secret(Name=f"todo-api/e2e/{suffix}/database-url", SecretString=os.environ["TEST_DATABASE_URL"])
auth = client.create_secret(Name=f"todo-api/e2e/{suffix}/auth", SecretString=os.environ["BETTER_AUTH_SECRET"])
print(db["ARN"], auth["ARN"])
PY
)
# The tests mint tokens without iss/aud: a developer's own settings must not apply.
unset JWT_ISSUER JWT_AUDIENCE
watch_log="$ROOT/target/e2e-watch.log"
export E2E_WATCH_LOG=$watch_log
# Its own process group, so cleanup stops the functions it started too.
# JSON logs, as Lambda's JSON logging config gives; the e2e tests read them.
# Both ways of verifying tokens at once: the secret, and Better Auth's JWKS.
env -u BETTER_AUTH_SECRET DATABASE_URL_SECRET_ARN="$database_url_arn" \
    BETTER_AUTH_SECRET_ARN="$auth_secret_arn" DB_POOL_SIZE=4 AWS_LAMBDA_LOG_FORMAT=JSON \
    BETTER_AUTH_URL=$better_auth_url setsid cargo lambda watch \
    --invoke-address 127.0.0.1 --invoke-port "$watch_port" --ignore-changes >"$watch_log" 2>&1 &
watch_pid=$!
if ! wait_http "http://127.0.0.1:$watch_port/health" 600; then
    echo "cargo lambda watch did not come up; its log:" >&2
    cat "$watch_log" >&2
    exit 1
fi
step "schemathesis: the OpenAPI document against the API under cargo lambda watch"
ensure_tools schemathesis
# The rule that lets a pass run again, first.
"$VENV/bin/python" -m unittest discover -s tests/schemathesis
conformance_dir="$ROOT/target/schemathesis"
rm -rf "$conformance_dir"
mkdir -p "$conformance_dir"
# Starts the docs function, so that loading the document is not its first call.
curl -sf --retry 3 --retry-all-errors "http://127.0.0.1:$watch_port/openapi.json" >/dev/null
# Every check; the examples, coverage, fuzzing and stateful phases (the
# document links create to get/update/delete/toggle); 100 examples per
# operation; a fixed seed. Once with a valid token, once with an invalid one.
# A pass counts only when it finishes with zero failures. One that failed only
# on the emulator's own 500 or hang (tests/schemathesis/attribute.py decides,
# from the hooks' records and the functions' log) runs again, at most twice.
conformance_pass() { # LABEL TOKEN
    local label=$1 token=$2 attempt
    for attempt in 1 2 3; do
        local base="$conformance_dir/$label-$attempt"
        if CONFORMANCE_EMULATOR_FAULTS="$base.emulator-faults" CONFORMANCE_SERVER_ERRORS="$base.server-errors" \
            CONFORMANCE_NETWORK_ERRORS="$base.network-errors" SCHEMATHESIS_HOOKS=tests.schemathesis.hooks PYTHONPATH="$ROOT" schemathesis run \
            "http://127.0.0.1:$watch_port/openapi.json" \
            -H "Authorization: Bearer $token" --checks all --max-examples 100 --seed 20261126 \
            --report json --report-json-path "$base.json"; then
            return 0
        fi
        python3 tests/schemathesis/attribute.py "$base.json" "$base.emulator-faults" "$base.server-errors" \
            "$base.network-errors" "$watch_log" || return 1
        if [ "$attempt" = 3 ]; then
            echo "the $label-token pass failed three times on the emulator's own faults" >&2
            return 1
        fi
        echo "running the $label-token pass again (attempt $((attempt + 1)) of 3)"
    done
}
conformance_pass valid "$(scripts/token.sh "conformance-$RANDOM")"
conformance_pass invalid not-a-jwt

# make conformance ends here.
full || exit 0

# A second watch server for the JWKS outage test: its keys come only from its
# own prefix of the fixture, so taking them down disturbs no other test.
outage_port=$(free_port)
env -u BETTER_AUTH_SECRET -u BETTER_AUTH_URL DATABASE_URL="$TEST_DATABASE_URL" \
    BETTER_AUTH_JWKS_URL="$better_auth_url/e2e-outage/api/auth/jwks" \
    JWT_ISSUER="$better_auth_url" JWT_AUDIENCE="$better_auth_url" setsid cargo lambda watch \
    --invoke-address 127.0.0.1 --invoke-port "$outage_port" --ignore-changes >"$ROOT/target/e2e-outage-watch.log" 2>&1 &
outage_pid=$!
wait_http "http://127.0.0.1:$outage_port/health" 600 || { cat "$ROOT/target/e2e-outage-watch.log" >&2; exit 1; }
export E2E_JWKS_OUTAGE_URL="http://127.0.0.1:$outage_port"

step "the events/ fixtures, and migrate as a Lambda, through cargo lambda invoke"
for fixture in health tasks-list; do
    function=$([ "$fixture" = health ] && echo health || echo tasks-collection)
    sed "s/REPLACE_WITH_TOKEN/$(scripts/token.sh invoke-user)/" "events/$fixture.json" > "$ROOT/target/$fixture.event.json"
    output=$(cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$watch_port" --data-file "$ROOT/target/$fixture.event.json")
    echo "$function: $output" | cut -c1-160
    grep -q '"statusCode": *200' <<<"$output" || { echo "expected a 200 from $function" >&2; exit 1; }
done
# migrate as the Lambda function it is in AWS (its URL from the secret ARN):
# the schema is current, so it applies nothing.
output=$(cargo lambda invoke migrate --invoke-address 127.0.0.1 --invoke-port "$watch_port" --data-ascii '{}')
echo "migrate: $output"
grep -q '"applied": *\[\]' <<<"$output" || { echo "expected migrate to apply nothing" >&2; exit 1; }

step "make dev: starts its own PostgreSQL, serves, stops on Ctrl-C, keeps tasks"
dev_data=$(mktemp -d /tmp/todo-api-dev.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres: "$dev_data"
dev_port=$(free_port)
dev_pg_port=$(free_port)
run_dev() { # starts `make dev` in its own process group; sets dev_pid
    env -u DATABASE_URL LOCAL_PG_DATA="$dev_data/pgdata" PORT="$dev_port" LOCAL_PG_PORT="$dev_pg_port" \
        setsid make dev >>"$ROOT/target/make-dev.log" 2>&1 &
    dev_pid=$!
    wait_http "http://127.0.0.1:$dev_port/health" 300 || { cat "$ROOT/target/make-dev.log" >&2; exit 1; }
}
stop_dev() { # Ctrl-C, as a developer would
    kill -INT -- "-$dev_pid"
    wait "$dev_pid" 2>/dev/null || true
}
dev_smoke=$(python3 -c 'import secrets; print(secrets.token_hex(8))')
token=$(scripts/token.sh dev-smoke)
run_dev
curl -sf -X POST "http://127.0.0.1:$dev_port/api/tasks" -H "Authorization: Bearer $token" \
    -d "{\"title\": \"$dev_smoke\"}" >/dev/null
stop_dev
if as_postgres "$PG_BIN/pg_ctl" -D "$dev_data/pgdata" status >/dev/null 2>&1; then
    echo "make dev left PostgreSQL running after Ctrl-C" >&2
    exit 1
fi
run_dev
curl -sf "http://127.0.0.1:$dev_port/api/tasks" -H "Authorization: Bearer $token" | grep -q "$dev_smoke" \
    || { echo "the task did not survive a restart of make dev" >&2; exit 1; }
stop_dev
rm -rf "$dev_data"
echo "make dev: served, stopped cleanly, kept the task across a restart"

step "end-to-end tests over HTTP"
E2E_BASE_URL="http://127.0.0.1:$watch_port" cargo test -p todo-tests --test e2e -- --ignored \
    || { echo "--- cargo lambda watch log (tail) ---" >&2; tail -n 60 "$watch_log" >&2; exit 1; }
