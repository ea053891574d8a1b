#!/usr/bin/env bash
# `make bench-cold-start`: a task function's initialisation with and without
# reading its two secrets from Secrets Manager (a local moto, which the
# tool starts), as a ratio.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
ensure_tools moto_server
cargo run --quiet --release -p xtask -- cold-start
