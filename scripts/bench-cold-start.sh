#!/usr/bin/env bash
# `make bench-cold-start`: a task function's initialisation with and without
# reading its two secrets from Secrets Manager (a local moto), as a ratio.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
trap '[ -n "${moto_pid:-}" ] && kill "$moto_pid" 2>/dev/null' EXIT
start_moto
cargo run --quiet --release -p xtask -- cold-start
