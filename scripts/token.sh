#!/usr/bin/env bash
# `make token USER=alice`: prints an HS256 token for local use, signed with the
# same BETTER_AUTH_SECRET that `make dev` uses (from the environment or .env,
# else the generated .local/dev-secret). Valid for TOKEN_TTL seconds (1 hour).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
load_env
if [ -z "${BETTER_AUTH_SECRET:-}" ]; then
    BETTER_AUTH_SECRET=$(dev_secret)
    export BETTER_AUTH_SECRET
fi
exec cargo xtask token "${1:?usage: token.sh USER_ID}" "${TOKEN_TTL:-3600}"
