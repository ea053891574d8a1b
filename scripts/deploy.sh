#!/usr/bin/env bash
# `make deploy` (ENV=prod for production): sam build, sam deploy of the
# samconfig.toml environment, the migrations (the migrate function, invoked
# in AWS), then the stack's URLs. Needs AWS credentials; the first deploy of
# an environment is `sam deploy --guided` (docs/deploy.md), which saves the
# parameters this one reuses.
set -euo pipefail
source "$(dirname "$0")/install.sh"
cd "$ROOT"
export SAM_CLI_TELEMETRY=0

environment=${ENV:-default}
stack=$(python3 - "$environment" <<'PY'
import sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))
print(config[sys.argv[1]]["deploy"]["parameters"]["stack_name"])
PY
)
ensure_tools sam cargo-lambda
ensure_rust_target aarch64-unknown-linux-gnu
# SAM_CLI: the deploy check runs this script with a recording stand-in.
sam() { "${SAM_CLI:-$VENV/bin/sam}" "$@"; }
step() { printf '\n==> %s\n' "$*"; }

step "sam build ($environment)"
sam build --config-env "$environment"

step "sam deploy: stack $stack"
sam deploy --config-env "$environment"

step "migrations (the migrate function)"
output=$(sam remote invoke MigrateFunction --stack-name "$stack" --config-env "$environment" --output text)
echo "$output"
grep -q '"applied"' <<<"$output" || { echo "migrate did not answer {\"applied\": [...]}" >&2; exit 1; }

step "where it is"
sam list stack-outputs --stack-name "$stack" --config-env "$environment" --output table
