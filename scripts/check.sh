#!/usr/bin/env bash
# `make check`: formatting and clippy (warnings are errors). No services.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
