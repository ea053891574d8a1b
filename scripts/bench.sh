#!/usr/bin/env bash
# `make bench`: the performance of the functions against a floor, measured in
# one run, written to BENCHMARKS.md and benchmarks.png. Not a test: nothing
# here passes or fails on a number.
#
# Builds the release binaries (and the arm64 `bootstrap`s, for their sizes),
# then runs bench/ (a minimal Lambda Runtime API driving the real binaries
# and the floor function, bench/src/bin/floor.rs), which starts a throwaway
# PostgreSQL with TLS and pg_stat_statements, a real Better Auth and a local
# Secrets Manager with the test kit's code, and renders its results with
# scripts/bench_report.py.
#
# BENCH_SMOKE=1 (CI): the debug binaries `make test` built, a few starts and
# requests, and the arm64 tasks-item that `make deploy-check` built, run
# under qemu; the report goes to target/bench-smoke/ instead.
# BENCH_ARM64=0: skip the arm64 build (and the sizes; in smoke mode, the
# arm64 run) for a quicker run.
# BENCH_STARTS, BENCH_REQUESTS, BENCH_MILLIS, BENCH_PHASES (cold, warm,
# throughput, large_list, lambda, glue, init_parts, tokens, scale),
# BENCH_SCALE (the scale setup's instance counts, 8,64,256), BENCH_SIZES
# (the capped setup's memory sizes, 128,256,512,1024,1769),
# BENCH_CAPPED_STARTS and BENCH_CAPPED_REQUESTS (its counts, 10 and 600):
# the driver's counts and parts (bench/src/main.rs;
# with BENCH_PHASES the report stays in target/bench/, BENCHMARKS.md as it was);
# BENCH_BIN_DIR: binaries built elsewhere (say, with frame pointers for perf).
# BENCH_BEFORE=<commit>: also that commit's tasks-item, cold-started reading
# its secrets beside this tree's (a before/after in the same run).
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/arm64.sh"
cd "$ROOT"

smoke=${BENCH_SMOKE:-0}
if [ "$smoke" = 1 ]; then
    out="$ROOT/target/bench-smoke"
    profile=debug
    export BENCH_STARTS=${BENCH_STARTS:-2} BENCH_REQUESTS=${BENCH_REQUESTS:-50} BENCH_MILLIS=${BENCH_MILLIS:-300}
    # The scale setup in miniature: under and over the small server's connections.
    export BENCH_SCALE=${BENCH_SCALE:-4,24}
    # The capped setup in miniature: one memory size, one cold start each
    # way (a machine where no cgroup can be made says so in the report).
    export BENCH_SIZES=${BENCH_SIZES:-128} BENCH_CAPPED_STARTS=${BENCH_CAPPED_STARTS:-1} \
        BENCH_CAPPED_REQUESTS=${BENCH_CAPPED_REQUESTS:-60}
else
    out="$ROOT/target/bench"
    profile=release
    # The release binaries link OpenSSL as the deployed ones do: vendored
    # (built from source, configured by scripts/openssl-perl) and static,
    # not the machine's libssl that host builds use (.cargo/config.toml).
    # The machine's (Debian's OpenSSL 3.0) parsed the floor's CA bundle in
    # 40 ms where the deployed one takes about 10, and loading it as a
    # shared library costs every cold start its symbol lookups.
    export X86_64_UNKNOWN_LINUX_GNU_OPENSSL_NO_VENDOR=0
fi
rm -rf "$out"
mkdir -p "$out"
scratch=$(mktemp -d)
chmod 755 "$scratch"

cleanup() {
    local status=$?
    rm -rf "$scratch"
    print_phases
    return $status
}
trap cleanup EXIT

functions=(tasks-collection tasks-item health docs)
if [ "$smoke" = 1 ]; then
    step "the debug binaries (already built by make test)"
    cargo build --workspace --bins --quiet
else
    step "release binaries (x86_64): the functions, migrate, the floor and the driver"
    cargo build --release --quiet $(printf -- '-p %s ' "${functions[@]}") -p migrate -p todo-bench
fi
arm64=0
if [ "$smoke" != 1 ] && [ "${BENCH_ARM64:-1}" = 1 ]; then
    arm64=1
    step "arm64 bootstraps, as sam build makes them (cargo lambda build --release --arm64)"
    ensure_cargo_lambda
    ensure_rust_target aarch64-unknown-linux-gnu
    # Built with their symbol table (in a target directory of their own, so
    # that sam build's artifacts stay as they are) for the size breakdown;
    # the report takes the deployed size as the file less what stripping
    # removes (the symbol and string tables). Neither binutils' strip nor
    # Zig's objcopy handles these aarch64 files here.
    fresh_vendored_openssl "$ROOT/target/bench-arm64"
    CARGO_TARGET_DIR="$ROOT/target/bench-arm64" CARGO_PROFILE_RELEASE_STRIP=none \
        cargo lambda build --release --arm64 --quiet $(printf -- '--bin %s ' "${functions[@]}") >/dev/null
    for function in "${functions[@]}"; do
        mkdir -p "$out/arm64/$function"
        cp "$ROOT/target/bench-arm64/lambda/$function/bootstrap" "$out/arm64/$function/bootstrap.full"
    done
    # OpenSSL's static libraries as linked, so the report can tell its symbols.
    openssl_build=$(ls -td "$ROOT"/target/bench-arm64/aarch64-unknown-linux-gnu/release/build/openssl-sys-*/out/openssl-build | head -n1)
    mkdir -p "$out/arm64/openssl"
    cp "$openssl_build"/install/lib/lib{crypto,ssl}.a "$out/arm64/openssl/"
fi
bin=${BENCH_BIN_DIR:-$ROOT/target/$profile}

if [ "$smoke" = 1 ] && [ "${BENCH_ARM64:-1}" = 1 ]; then
    # The smoke run also starts the arm64 tasks-item that sam build made (make
    # deploy-check, before this in make test-full), under qemu, against the
    # TLS database and the HTTPS JWKS: the deployed binary's own OpenSSL
    # (configured by scripts/openssl-perl) has to serve a request.
    step "the deployed arm64 tasks-item, under qemu"
    arm64_bootstrap="$ROOT/.aws-sam/build/TasksItemFunction/bootstrap"
    if [ ! -f "$arm64_bootstrap" ]; then
        echo "$arm64_bootstrap is missing: run make deploy-check first (or BENCH_ARM64=0)" >&2
        exit 1
    fi
    ensure_qemu_arm64
    mkdir "$scratch/bin"
    for program in "${functions[@]}" migrate floor bench; do
        ln -s "$bin/$program" "$scratch/bin/$program"
    done
    printf '#!/bin/sh\nexec %s -L /usr/aarch64-linux-gnu %s "$@"\n' \
        "$(command -v qemu-aarch64)" "$arm64_bootstrap" >"$scratch/bin/tasks-item-arm64"
    chmod +x "$scratch/bin/tasks-item-arm64"
    bin=$scratch/bin
    export BENCH_EXTRA_PRODUCTION=tasks-item-arm64
fi

if [ -n "${BENCH_BEFORE:-}" ]; then
    # Another commit's tasks-item beside this one's, for a before/after in
    # one run: its cold start reading secrets (tasks-item@<commit>+secrets).
    before=$(git rev-parse --short "$BENCH_BEFORE")
    step "tasks-item as of $before (release, x86_64), for the before/after"
    git worktree add --detach --force "$scratch/before" "$before" >/dev/null
    (cd "$scratch/before" && CARGO_TARGET_DIR="$ROOT/target/bench-before" cargo build --release --quiet -p tasks-item)
    git worktree remove --force "$scratch/before"
    if [ "$bin" != "$scratch/bin" ]; then
        mkdir "$scratch/bin"
        for program in "${functions[@]}" migrate floor bench; do
            ln -s "$bin/$program" "$scratch/bin/$program"
        done
        bin=$scratch/bin
    fi
    cp "$ROOT/target/bench-before/release/tasks-item" "$bin/tasks-item@$before"
    export BENCH_EXTRA_PRODUCTION="${BENCH_EXTRA_PRODUCTION:+$BENCH_EXTRA_PRODUCTION,}tasks-item@$before+secrets"
fi

step "what the driver starts: PostgreSQL's programs, the Better Auth fixture, PgBouncer, moto"
# The driver starts its services with the test kit's code (bench/src/main.rs:
# Services): a PostgreSQL with TLS and pg_stat_statements, the Better Auth
# fixture over HTTPS, a Secrets Manager over TLS; the scale setup's pooler.
# (The kit finds PostgreSQL 17 or newer, or installs the pinned one.)
npm_ci_once tests/better-auth >/dev/null
ensure_pgbouncer
ensure_tools moto_server

step "measuring (bench/, through a minimal Lambda Runtime API)"
BENCH_BIN_DIR=$bin BENCH_OUT_DIR=$out TMPDIR="$scratch" "$bin/bench"

step "report"
ensure_python_modules
sizes=()
[ "$arm64" = 1 ] && sizes=(--arm64 "$out/arm64")
"$VENV/bin/python" scripts/bench_report.py "$out/results.json" --out "$out" "${sizes[@]}" \
    --command "make bench" --functions "${functions[@]}"
if [ "$smoke" != 1 ] && [ -z "${BENCH_PHASES:-}" ]; then
    cp "$out/BENCHMARKS.md" "$ROOT/BENCHMARKS.md"
    cp "$out/benchmarks.png" "$out/benchmarks-scale.png" "$out/benchmarks-lambda.png" "$ROOT/"
    echo "Wrote BENCHMARKS.md, benchmarks.png, benchmarks-scale.png and benchmarks-lambda.png"
elif [ "$smoke" != 1 ]; then
    # Some phases only: the committed report stays as it was.
    echo "Wrote $out/BENCHMARKS.md and benchmarks.png (BENCH_PHASES: BENCHMARKS.md is left alone)"
else
    passed "make bench-smoke: every phase ran and reported"
fi
