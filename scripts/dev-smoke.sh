#!/usr/bin/env bash
# The smoke check of `make dev` (the last step of `make test`): started as a
# developer starts it, it brings its own PostgreSQL, serves a create, stops
# cleanly on Ctrl-C (PostgreSQL with it), and finds the task again after a
# restart. Run by an ordinary user: `make test` run by root runs this script
# as one (scripts/test.sh, `as_ordinary_user`), since developers are not root.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/postgres.sh"
cd "$ROOT"

[ "$(id -u)" != 0 ] || [ "${AS_ROOT_FALLBACK:-0}" = 1 ] \
    || { echo "dev-smoke.sh runs as an ordinary user (see as_ordinary_user)" >&2; exit 1; }
dev_data=$(mktemp -d /tmp/todo-api-dev.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres: "$dev_data"
dev_port=$(free_port)
dev_pg_port=$(free_port)
dev_pid=
log="$ROOT/target/make-dev.log"
cleanup() {
    local status=$?
    if [ -n "$dev_pid" ]; then
        kill -INT -- "-$dev_pid" 2>/dev/null || true
        wait "$dev_pid" 2>/dev/null || true
    fi
    rm -rf "$dev_data"
    return $status
}
trap cleanup EXIT

run_dev() { # [ADDRESS] starts `make dev` (DEV_ADDRESS=ADDRESS, if given) in its own process group; sets dev_pid
    env -u DATABASE_URL -u BETTER_AUTH_SECRET -u DEV_ADDRESS ${1:+DEV_ADDRESS=$1} \
        LOCAL_PG_DATA="$dev_data/pgdata" PORT="$dev_port" \
        LOCAL_PG_PORT="$dev_pg_port" setsid make dev >>"$log" 2>&1 &
    dev_pid=$!
    wait_http "http://${1:-127.0.0.1}:$dev_port/health" 300 || { cat "$log" >&2; exit 1; }
}
listens_only_on() { # ADDRESS: the API's port is open on ADDRESS and nowhere else
    local sockets
    sockets=$(ss -Hltn "sport = :$dev_port" | awk '{print $4}' | sort -u)
    [ "$sockets" = "$1:$dev_port" ] \
        || { echo "make dev listens on $(echo $sockets), not $1:$dev_port alone" >&2; exit 1; }
}
stop_dev() { # Ctrl-C, as a developer would; make dev must exit 0
    kill -INT -- "-$dev_pid"
    local status=0
    wait "$dev_pid" || status=$?
    dev_pid=
    [ "$status" = 0 ] || { echo "make dev exited with $status after Ctrl-C" >&2; tail -n 30 "$log" >&2; exit 1; }
}

find_postgres
mkdir -p "$ROOT/target"
: >"$log"
title=$(python3 -c 'import secrets; print(secrets.token_hex(8))')
# make dev's own secret (.local/dev-secret), as `make token` uses it.
token=$(env -u BETTER_AUTH_SECRET scripts/token.sh dev-smoke)
run_dev
# Loopback by default: nobody else on the network reaches the API, or the
# runtime emulator's /.rt endpoints (tokens included) on the same port.
listens_only_on 127.0.0.1
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$dev_port/api/tasks" \
    -H "Authorization: Bearer $token" -d "{\"title\": \"$title\"}")
[ "$status" = 201 ] || { echo "make dev answered $status to a create, not 201" >&2; exit 1; }
stop_dev
# A server that stopped has removed its postmaster.pid.
if [ -e "$dev_data/pgdata/postmaster.pid" ]; then
    echo "make dev left PostgreSQL running after Ctrl-C" >&2
    exit 1
fi
# Another address only when DEV_ADDRESS says so (another loopback address
# here, so that nothing is exposed to prove it).
run_dev 127.0.0.2
listens_only_on 127.0.0.2
curl -sf "http://127.0.0.2:$dev_port/api/tasks" -H "Authorization: Bearer $token" | grep -q "$title" \
    || { echo "the task did not survive a restart of make dev" >&2; exit 1; }
stop_dev
if [ "$(id -u)" = 0 ]; then
    who="root (this machine allows no user namespace)"
else
    who="an ordinary user, uid $(id -u)"
fi
passed "make dev as $who: served on loopback alone (DEV_ADDRESS for another address), stopped cleanly, kept the task across a restart"
