#!/usr/bin/env bash
# `make openapi`: writes clients/openapi.json from the code (the document the
# docs function serves, byte for byte), then regenerates the TypeScript
# client's types from it and type-checks the client and its example. Commit
# both files; `make test` fails while either is stale.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
cargo xtask openapi
npm_ci_once clients/typescript
npm --prefix clients/typescript run --silent generate
npm --prefix clients/typescript run --silent check
echo "clients/typescript/src/schema.d.ts regenerated; the client and its example type-check"
