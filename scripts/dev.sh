#!/usr/bin/env bash
# `make dev`: the whole API locally on one port, as the API Gateway URL serves it.
#
# Uses DATABASE_URL when set (in the environment or .env); otherwise starts a
# project-local PostgreSQL whose data lives in .local/pgdata, so tasks survive
# a restart. Applies migrations, then runs `cargo lambda watch` with the router
# in Cargo.toml. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
load_env

port=${PORT:-9000}
if [ -z "${DATABASE_URL:-}" ]; then
    pg_port=${LOCAL_PG_PORT:-54329}
    pgdata=${LOCAL_PG_DATA:-$ROOT/.local/pgdata}
    # The test kit's code starts it (xtask/src/postgres.rs), made on first
    # use, with the machine's PostgreSQL 17+ or the pinned one it installs.
    cargo xtask postgres start "$pgdata" "$pg_port"
    trap 'cargo xtask postgres stop "$pgdata"; echo "Stopped the local PostgreSQL."' EXIT
    # As in AWS: migrate as the owner, serve as the restricted role it makes.
    export MIGRATE_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/todo"
    export DATABASE_URL="postgres://todo_api@127.0.0.1:$pg_port/todo"
    echo "Local PostgreSQL: $DATABASE_URL (data in $pgdata)"
fi
# A local secret, so `make token` works even next to a configured Better Auth.
if [ -z "${BETTER_AUTH_SECRET:-}" ]; then
    BETTER_AUTH_SECRET=$(cargo xtask dev-secret)
    export BETTER_AUTH_SECRET
fi

cargo run --quiet -p migrate
ensure_cargo_lambda

cat <<MSG

  Todo API on http://localhost:$port  (GET /health, /api/tasks, /api/tasks/{id}, /api/tasks/{id}/complete)
  A token:     TOKEN=\$(make -s token USER=alice)
  Try it:      curl -H "Authorization: Bearer \$TOKEN" http://localhost:$port/api/tasks

MSG
# Not exec: the EXIT trap must still stop PostgreSQL after Ctrl-C. On
# loopback unless DEV_ADDRESS says otherwise: cargo lambda's default, `::`,
# would serve the API and its runtime emulator (/.rt, which carries every
# invocation, tokens included) to the whole network.
cargo lambda watch --invoke-address "${DEV_ADDRESS:-127.0.0.1}" --invoke-port "$port" &
watch_pid=$!
trap 'kill -INT $watch_pid 2>/dev/null; wait $watch_pid 2>/dev/null; exit 0' INT TERM
wait $watch_pid
