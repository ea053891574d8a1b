#!/usr/bin/env bash
# `make test`: everything CI checks, against real PostgreSQL and real functions.
#
# Uses TEST_DATABASE_URL when set; otherwise starts a throwaway PostgreSQL on a
# free port and removes it afterwards, whether the tests pass or not. Then:
# formatting and clippy, one build of the workspace, unit and in-process
# integration tests, schemathesis against the handlers behind a local HTTP
# server, and end-to-end tests over HTTP through `cargo lambda watch` with the
# router from Cargo.toml; the end-to-end, concurrency and fault suites again
# through PgBouncer in transaction mode (Neon's pooled endpoint). PostgreSQL
# is find_postgres's (scripts/common.sh): 17 or newer, as Neon runs, brought
# by the project when the machine has none. Prints each phase's duration.
# CONFORMANCE_ONLY=1 (`make conformance`) runs only what schemathesis needs.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

# True unless this is `make conformance`, which skips everything but schemathesis.
full() { [ "${CONFORMANCE_ONLY:-0}" != 1 ]; }

cleanup() {
    local status=$?
    for pid in "${moto_pid:-}" "${fixture_pid:-}" "${local_api_pid:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    done
    for pid in "${outage_pid:-}" "${watch_pid:-}" "${pooled_watch_pid:-}" "${pooler_pid:-}"; do
        if [ -n "$pid" ]; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "${pgdata:-}" ]; then
        pg_stop "$pgdata" immediate
        rm -rf "$scratch"
    fi
    print_phases
    return $status
}
trap cleanup EXIT

if full; then
    # Meanwhile, in the background: Chromium for the browser tests and
    # PgBouncer for the pooled pass, one after the other (apt-get holds a
    # lock; left to finish even if the tests fail first: a killed apt-get
    # can break dpkg), and the TypeScript client's packages.
    mkdir -p "$ROOT/target"
    { ensure_chromium && ensure_pgbouncer; } >"$ROOT/target/debian-install.log" 2>&1 &
    debian_pid=$!
    npm_ci_once clients/typescript >"$ROOT/target/client-install.log" 2>&1 &
    client_pid=$!
    # The Python tools, so that no phase waits for pip (each phase's own
    # ensure_tools then finds them installed): this script's, then `make
    # deploy-check`'s, which `make test-full` runs next (installed in that
    # order, as the two scripts would).
    rm -f "$ROOT/target/tools-installed"
    { ensure_tools moto_server schemathesis cargo-lambda && touch "$ROOT/target/tools-installed" \
        && ensure_tools sam cfn-lint; } >"$ROOT/target/tools-install.log" 2>&1 &
    tools_pid=$!
    # `make test-full` (ARM64_PREBUILD=1): the arm64 release build that `make
    # deploy-check` needs next, started now at the lowest CPU priority, so
    # that it takes only the CPU the tests leave idle (they wait on servers
    # and timers much of the time). deploy-check waits for it and then finds
    # its build up to date (scripts/deploy-check.sh).
    if [ "${ARM64_PREBUILD:-0}" = 1 ]; then
        {
            while [ ! -f "$ROOT/target/tools-installed" ] && kill -0 "$tools_pid" 2>/dev/null; do
                sleep 2
            done
            arm64_build nice -n 19
        } >"$ROOT/target/arm64-build.log" 2>&1 &
        echo $! >"$ROOT/target/arm64-build.pid"
    fi

    step "cargo fmt --check and clippy (make check)"
    scripts/check.sh
fi

step "build: the workspace's binaries and tests, once"
# Everything later runs what this built (the functions under cargo lambda
# watch are rebuilt only where their own feature resolution differs).
cargo build --workspace --bins --quiet
cargo test --workspace --no-run --quiet
# The PostgreSQL of this run's servers, the Rust tests' own included.
find_postgres
echo "PostgreSQL: $("$PG_BIN/postgres" --version) ($PG_BIN)"

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
    # A user that may only log in over TLS with SCRAM, as on Neon; and the
    # API's role (made by migrate, below) only with its password.
    sed -i '1i hostssl all tls_user 127.0.0.1/32 scram-sha-256\nhostnossl all tls_user all reject\nhost all todo_api 127.0.0.1/32 scram-sha-256' \
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
# `npm ci` only when the lockfile changed since the last install.
npm_ci_once tests/better-auth
export BETTER_AUTH_FIXTURE="$ROOT/target/better-auth-fixture.json"
# Also over HTTPS with the test CA's certificate, when this run made one.
start_better_auth "$BETTER_AUTH_FIXTURE" \
    ${scratch:+"$scratch/tls/server.crt" "$scratch/tls/server.key"}
better_auth_url=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["base"])' "$BETTER_AUTH_FIXTURE")

step "migrations, as the owner; the API's tests connect as its restricted role"
# TEST_DATABASE_URL so far names the owner. The API (and every test of it)
# connects as todo_api instead, with a password made for this run; migrate
# creates that role from the API's DATABASE_URL, as it does in AWS.
if [ -z "${TEST_ADMIN_DATABASE_URL:-}" ]; then
    export TEST_ADMIN_DATABASE_URL=$TEST_DATABASE_URL
    api_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    TEST_DATABASE_URL=$(python3 - "$TEST_ADMIN_DATABASE_URL" "$api_password" <<'PY'
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
host = url.netloc.rpartition("@")[2]
print(url._replace(netloc=f"todo_api:{sys.argv[2]}@{host}").geturl())
PY
)
fi
MIGRATE_DATABASE_URL=$TEST_ADMIN_DATABASE_URL DATABASE_URL=$TEST_DATABASE_URL target/debug/migrate

# A secret made for this run only: the local server, the watch server and
# the tests that call them all use it.
BETTER_AUTH_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')
export BETTER_AUTH_SECRET
# The tests mint tokens without iss/aud: a developer's own settings must not apply.
unset JWT_ISSUER JWT_AUDIENCE

if full; then
    step "a local Secrets Manager (moto)"
    # This script's tools (the deploy tools may still be installing).
    until [ -e "$ROOT/target/tools-installed" ]; do
        kill -0 "$tools_pid" 2>/dev/null || { cat "$ROOT/target/tools-install.log" >&2; exit 1; }
        sleep 1
    done
    start_moto

    step "unit and integration tests"
    # The throwaway CA is the test process's trust store, as the system
    # store trusts Neon's (tests/tests/it/tls.rs); nothing else in it needs
    # a public CA.
    SSL_CERT_FILE=${TEST_TLS_CA_FILE:-${SSL_CERT_FILE:-}} cargo test --workspace --quiet

    step "the TypeScript client: generated from clients/openapi.json, current, type-checks"
    target/debug/xtask openapi --check
    wait "$client_pid" || { cat "$ROOT/target/client-install.log" >&2; exit 1; }
    (cd clients/typescript && node_modules/.bin/openapi-typescript "$ROOT/clients/openapi.json" \
        --output "$ROOT/target/schema.d.ts" >/dev/null)
    cmp -s clients/typescript/src/schema.d.ts "$ROOT/target/schema.d.ts" \
        || { echo "clients/typescript/src/schema.d.ts is stale: run make openapi and commit it" >&2; exit 1; }
    npm --prefix clients/typescript run --silent check
    passed "the client is current, and it and its Next.js example type-check"

    step "functions refuse to start on a bad configuration, naming the variable"
    expect_refusal() { # EXPECTED-MESSAGE FUNCTION [VAR=VALUE...]
        local expected=$1 function=$2 output
        shift 2
        if output=$(env -u DATABASE_URL -u BETTER_AUTH_SECRET "$@" "target/debug/$function" 2>&1); then
            echo "$function started without a valid configuration" >&2
            exit 1
        fi
        grep -qF "$expected" <<<"$output" || { echo "$function said: $output" >&2; exit 1; }
        passed "$function refuses: $expected"
    }
    expect_refusal "DATABASE_URL is not set" tasks-collection
    expect_refusal "DATABASE_URL is not set" health
    expect_refusal "BETTER_AUTH_SECRET is not set" tasks-item DATABASE_URL=postgres://db/x
    expect_refusal "BETTER_AUTH_SECRET must be at least 32 characters" tasks-collection \
        DATABASE_URL=postgres://db/x BETTER_AUTH_SECRET=too-short
    expect_refusal "DB_POOL_SIZE must be a whole number" health DATABASE_URL=postgres://db/x DB_POOL_SIZE=0
    expect_refusal "DATABASE_URL is not set" migrate
    expect_refusal "the API's role must be lower-case" migrate \
        MIGRATE_DATABASE_URL=postgres://owner@db/x DATABASE_URL=postgres://Api-Role@db/x
    expect_refusal "without sslmode=require" health DATABASE_URL=postgres://user:pw@db.example.com/app
    expect_refusal "METRICS_NAMESPACE must not start with ':' or 'AWS/'" docs METRICS_NAMESPACE=AWS/Lambda
    expect_refusal "JWT_ISSUER is not set, and neither is BETTER_AUTH_URL" tasks-item \
        DATABASE_URL=postgres://db/x BETTER_AUTH_JWKS_URL=https://keys.example.com/jwks
fi

step "schemathesis: the OpenAPI document against the handlers (local server)"
ensure_tools schemathesis
conformance_dir="$ROOT/target/schemathesis"
rm -rf "$conformance_dir"
mkdir -p "$conformance_dir"
local_api_port=$(free_port)
DATABASE_URL=$TEST_DATABASE_URL DB_POOL_SIZE=4 BETTER_AUTH_URL=$better_auth_url \
    target/debug/xtask local-api "127.0.0.1:$local_api_port" >"$conformance_dir/local-api.log" 2>&1 &
local_api_pid=$!
wait_http "http://127.0.0.1:$local_api_port/health" 60 || { cat "$conformance_dir/local-api.log" >&2; exit 1; }
# The token first, on its own: a token that does not work would turn the
# valid-token pass into a run of 401s.
# The servers hold HS256 tokens to BETTER_AUTH_URL's issuer and audience
# too: the tokens of this script carry them, as `make token` mints them.
mint() { BETTER_AUTH_URL=$better_auth_url target/debug/xtask token "$@"; }
conformance_token=$(mint "conformance-$RANDOM")
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $conformance_token" \
    "http://127.0.0.1:$local_api_port/api/tasks")
[ "$status" = 200 ] || { echo "the conformance token got $status, not 200" >&2; exit 1; }
# Every check; the examples, coverage, fuzzing and stateful phases (the
# document links create to get/update/delete/toggle); 100 examples per
# operation; a fixed seed. Once with a valid token (where a run of 401s, the
# `missing_auth` warning, fails it: tests/schemathesis.toml), once with an
# invalid one; the two at once (one per core), each printed when both are
# done. Any failure fails the test command.
conformance_pass() { # LABEL TOKEN [OPTIONS...]
    local label=$1 token=$2
    shift 2
    schemathesis "$@" run "http://127.0.0.1:$local_api_port/openapi.json" \
        -H "Authorization: Bearer $token" --checks all --max-examples 100 --seed 20261126 \
        --report json --report-json-path "$conformance_dir/$label.json" >"$conformance_dir/$label.log" 2>&1
}
conformance_pass valid "$conformance_token" --config-file tests/schemathesis.toml &
valid_pid=$!
conformance_pass invalid not-a-jwt &
invalid_pid=$!
valid_status=0 invalid_status=0
wait "$valid_pid" || valid_status=$?
wait "$invalid_pid" || invalid_status=$?
for label in valid invalid; do
    printf '\n--- schemathesis, %s token ---\n' "$label"
    cat "$conformance_dir/$label.log"
done
[ "$valid_status" = 0 ] || { echo "schemathesis with a valid token failed ($valid_status)" >&2; exit 1; }
[ "$invalid_status" = 0 ] || { echo "schemathesis with an invalid token failed ($invalid_status)" >&2; exit 1; }
kill "$local_api_pid"
local_api_pid=

# make conformance ends here.
full || exit 0

step "cargo lambda watch with the router from Cargo.toml"
ensure_cargo_lambda
watch_port=$(free_port)
# The functions get both secrets as in AWS: only ARNs, read from Secrets
# Manager (moto) at cold start.
# migrate gets the owner's URL from a secret of its own, as in AWS.
read -r database_url_arn auth_secret_arn migrate_url_arn < <("$VENV/bin/python" - <<'PY'
import os, boto3
client = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
suffix = os.urandom(4).hex()
db = client.create_secret(Name=f"todo-api/e2e/{suffix}/database-url", SecretString=os.environ["TEST_DATABASE_URL"])
auth = client.create_secret(Name=f"todo-api/e2e/{suffix}/auth", SecretString=os.environ["BETTER_AUTH_SECRET"])
owner = client.create_secret(Name=f"todo-api/e2e/{suffix}/migrate-url", SecretString=os.environ["TEST_ADMIN_DATABASE_URL"])
print(db["ARN"], auth["ARN"], owner["ARN"])
PY
)
# start_watch PORT LOG DATABASE_URL_ARN MIGRATE_URL_ARN: the e2e suite's watch
# server, in the background; sets watch_started (its pid) and points the
# e2e tests at it (E2E_WATCH_LOG, E2E_XRAY_DAEMON_PORT: a UDP port an e2e
# test listens on for its functions' X-Ray subsegments).
# Its own process group, so cleanup stops the functions it started too.
# JSON logs, as Lambda's JSON logging config gives; the e2e tests read them.
# Both ways of verifying tokens at once: the secret, and Better Auth's JWKS.
# The functions log at TRACE (--env-var: the emulator's own level stays), so
# the e2e log test shows that no level lets a token or a body into the logs.
start_watch() {
    local port=$1 log=$2 database_url_arn=$3 migrate_url_arn=$4
    export E2E_WATCH_LOG=$log
    E2E_XRAY_DAEMON_PORT=$(free_port)
    export E2E_XRAY_DAEMON_PORT
    env -u BETTER_AUTH_SECRET DATABASE_URL_SECRET_ARN="$database_url_arn" \
        BETTER_AUTH_SECRET_ARN="$auth_secret_arn" MIGRATE_DATABASE_URL_SECRET_ARN="$migrate_url_arn" \
        DB_POOL_SIZE=4 AWS_LAMBDA_LOG_FORMAT=JSON \
        BETTER_AUTH_URL=$better_auth_url setsid cargo lambda watch --env-var RUST_LOG=trace \
        --env-var "AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:$E2E_XRAY_DAEMON_PORT" \
        --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes >"$log" 2>&1 &
    watch_started=$!
}
watch_log="$ROOT/target/e2e-watch.log"
start_watch "$watch_port" "$watch_log" "$database_url_arn" "$migrate_url_arn"
watch_pid=$watch_started
# A second watch server for the JWKS outage test: its keys come only from its
# own prefix of the fixture, so taking them down disturbs no other test.
outage_port=$(free_port)
env -u BETTER_AUTH_SECRET -u BETTER_AUTH_URL DATABASE_URL="$TEST_DATABASE_URL" \
    BETTER_AUTH_JWKS_URL="$better_auth_url/e2e-outage/api/auth/jwks" \
    JWT_ISSUER="$better_auth_url" JWT_AUDIENCE="$better_auth_url" AWS_LAMBDA_LOG_FORMAT=JSON \
    setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$outage_port" --ignore-changes \
    >"$ROOT/target/e2e-outage-watch.log" 2>&1 &
outage_pid=$!
export E2E_OUTAGE_WATCH_LOG="$ROOT/target/e2e-outage-watch.log"
if ! wait_http "http://127.0.0.1:$watch_port/health" 600; then
    echo "cargo lambda watch did not come up; its log:" >&2
    cat "$watch_log" >&2
    exit 1
fi
wait_http "http://127.0.0.1:$outage_port/health" 600 || { cat "$E2E_OUTAGE_WATCH_LOG" >&2; exit 1; }
export E2E_JWKS_OUTAGE_URL="http://127.0.0.1:$outage_port"

step "the events/ fixtures, and migrate as a Lambda, through cargo lambda invoke"
for fixture in health tasks-list; do
    function=$([ "$fixture" = health ] && echo health || echo tasks-collection)
    sed "s/REPLACE_WITH_TOKEN/$(mint invoke-user)/" "events/$fixture.json" > "$ROOT/target/$fixture.event.json"
    output=$(cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$watch_port" --data-file "$ROOT/target/$fixture.event.json")
    grep -q '"statusCode": *200' <<<"$output" || { echo "expected a 200 from $function: $output" >&2; exit 1; }
    passed "cargo lambda invoke $function, events/$fixture.json: 200"
done
# migrate as the Lambda function it is in AWS (its URL from the secret ARN):
# the schema is current, so it applies nothing.
output=$(cargo lambda invoke migrate --invoke-address 127.0.0.1 --invoke-port "$watch_port" --data-ascii '{}')
grep -q '"applied": *\[\]' <<<"$output" || { echo "expected migrate to apply nothing: $output" >&2; exit 1; }
passed "cargo lambda invoke migrate: nothing to apply"

step "end-to-end tests over HTTP"
E2E_BASE_URL="http://127.0.0.1:$watch_port" cargo test --quiet -p todo-tests --test it -- --ignored e2e:: \
    || { echo "--- cargo lambda watch log (tail) ---" >&2; tail -n 60 "$watch_log" >&2; exit 1; }

if [ -n "${pg_port:-}" ]; then
    step "PgBouncer in transaction mode in front of it (Neon's pooled endpoint); migrate through it"
    wait "$debian_pid" || { cat "$ROOT/target/debian-install.log" >&2; exit 1; }
    debian_pid=
    # The owner and the API's role log in to the pooler with SCRAM, as on
    # Neon; a database of the pooled pass's own, migrated through the pooler
    # as a user who has only the pooled URLs would.
    owner_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    TMPDIR=$scratch setsid target/debug/pooler "$pg_port" 8 "postgres:$owner_password" \
        "todo_api:$api_password" >"$scratch/pooler.port" 2>"$ROOT/target/pooler.log" &
    pooler_pid=$!
    for _ in $(seq 1 100); do [ -s "$scratch/pooler.port" ] && break; sleep 0.2; done
    pooler_port=$(cat "$scratch/pooler.port")
    [ -n "$pooler_port" ] || { cat "$ROOT/target/pooler.log" >&2; exit 1; }
    as_postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE pooled"
    pooled_admin_url="postgres://postgres:$owner_password@127.0.0.1:$pooler_port/pooled"
    pooled_url="postgres://todo_api:$api_password@127.0.0.1:$pooler_port/pooled"
    MIGRATE_DATABASE_URL=$pooled_admin_url DATABASE_URL=$pooled_url target/debug/migrate
    passed "migrate through the pooler: ${pooled_url/:$api_password@/:***@}"

    # The tests' own assertions read the rows straight from the server.
    export TEST_DIRECT_DATABASE_URL="postgres://todo_api:$api_password@127.0.0.1:$pg_port/pooled?sslmode=disable"

    step "the concurrency suite in process, through the pooler"
    TEST_DATABASE_URL=$pooled_url TEST_ADMIN_DATABASE_URL=$pooled_admin_url \
        cargo test --quiet -p todo-tests --test it -- tasks::concurrent

    step "end-to-end tests over HTTP, through the pooler"
    read -r pooled_url_arn pooled_migrate_arn < <(POOLED_URL=$pooled_url POOLED_ADMIN_URL=$pooled_admin_url \
        "$VENV/bin/python" - <<'PY'
import os, boto3
client = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
suffix = os.urandom(4).hex()
db = client.create_secret(Name=f"todo-api/e2e/{suffix}/pooled-url", SecretString=os.environ["POOLED_URL"])
owner = client.create_secret(Name=f"todo-api/e2e/{suffix}/pooled-migrate-url", SecretString=os.environ["POOLED_ADMIN_URL"])
print(db["ARN"], owner["ARN"])
PY
)
    pooled_watch_port=$(free_port)
    pooled_watch_log="$ROOT/target/e2e-pooled-watch.log"
    start_watch "$pooled_watch_port" "$pooled_watch_log" "$pooled_url_arn" "$pooled_migrate_arn"
    pooled_watch_pid=$watch_started
    wait_http "http://127.0.0.1:$pooled_watch_port/health" 600 || { cat "$pooled_watch_log" >&2; exit 1; }
    # All but the JWKS outage test (its fixture's outage is single-use, and
    # it is about the JWKS) and the 4,800 large responses (about the watch
    # server, not the database; 15 s).
    TEST_DATABASE_URL=$pooled_url E2E_BASE_URL="http://127.0.0.1:$pooled_watch_port" \
        cargo test --quiet -p todo-tests --test it -- --ignored e2e:: --skip e2e::jwks_outage \
        --skip e2e::large_responses \
        || { echo "--- the pooled watch log (tail) ---" >&2; tail -n 60 "$pooled_watch_log" >&2; exit 1; }
    kill -TERM -- "-$pooled_watch_pid" 2>/dev/null || true
    wait "$pooled_watch_pid" 2>/dev/null || true
    pooled_watch_pid=
    unset TEST_DIRECT_DATABASE_URL
fi

step "the /docs page in headless Chromium, through cargo lambda watch, no other origin"
if [ -n "${debian_pid:-}" ]; then
    wait "$debian_pid" || { cat "$ROOT/target/debian-install.log" >&2; exit 1; }
    debian_pid=
fi
npm_ci_once tests/browser
node tests/browser/docs.mjs "http://127.0.0.1:$watch_port" "$(mint docs-browser)"

step "the TypeScript client in headless Chromium, from another origin, CORS as the template says"
# The API on http://localhost:<port> answers CORS as API Gateway would with
# the template's CorsConfiguration and FrontendUrl = the page's origin,
# http://127.0.0.1:<page port> (cargo lambda watch would allow anything).
client_js="$ROOT/target/browser-client"
rm -rf "$client_js"
clients/typescript/node_modules/.bin/tsc clients/typescript/src/index.ts --outDir "$client_js" \
    --module esnext --target es2022 --moduleResolution bundler --skipLibCheck
page_port=$(free_port)
cors_api_port=$(free_port)
LOCAL_API_CORS_ORIGINS="http://127.0.0.1:$page_port" DATABASE_URL=$TEST_DATABASE_URL \
    BETTER_AUTH_URL=$better_auth_url target/debug/xtask local-api "127.0.0.1:$cors_api_port" \
    >"$ROOT/target/cors-local-api.log" 2>&1 &
local_api_pid=$!
wait_http "http://127.0.0.1:$cors_api_port/health" 60 || { cat "$ROOT/target/cors-local-api.log" >&2; exit 1; }
PAGE_PORT=$page_port PSQL="$PG_BIN/psql" node tests/browser/client.mjs "http://localhost:$cors_api_port" "$client_js"
kill "$local_api_pid"
local_api_pid=

step "end to end under faults, straight and through the pooler: a frozen function, a soak with a model check, a pooler restart"
# Each on a stack of its own (tests/src/stack.rs), one after the other: the
# soak's fault windows must not overlap another test's load.
cargo test --quiet -p todo-tests --test it -- --ignored --test-threads=1 --nocapture faults:: \
    || { echo "--- the fault stacks' watch logs (tail) ---" >&2; tail -n 40 "$ROOT"/target/e2e-*-watch.log >&2; exit 1; }

step "make dev as an ordinary user: starts its own PostgreSQL, serves, stops on Ctrl-C, keeps tasks"
as_ordinary_user scripts/dev-smoke.sh
