# The arm64 Lambda build (`make deploy-check`, `make deploy`, `make bench`'s
# sizes) and running its binaries here. Sourced after common.sh.

# ensure_rust_target TARGET: installs a rustup target's standard library once,
# before anything builds for it. rustup's downloads are slow and sometimes
# fail here, and concurrent installs of one target collide (cargo-lambda
# would otherwise start one per build), so this one install retries.
ensure_rust_target() {
    local target=$1 attempt
    rustup target list --installed | grep -qx "$target" && return 0
    for attempt in 1 2 3 4 5; do
        echo "Installing the Rust standard library for $target (attempt $attempt of 5) ..." >&2
        timeout 900 rustup target add "$target" >&2 && return 0
        sleep $((attempt * 10))
    done
    echo "Could not download the Rust standard library for $target from rustup's servers" \
        "(5 attempts). Check the network and run 'rustup target add $target', then try again." >&2
    return 1
}

# arm64_build [PREFIX...]: the functions for arm64, release, in one cargo
# build for the workspace (PREFIX: say, `nice -n 19`). One process compiles
# every dependency once and links the five binaries side by side. Every
# function resolves its dependencies' features exactly as this build does,
# so each of sam build's per-function builds finds its binary up to date and
# only copies it. The arm64 target is installed first, once.
arm64_build() {
    ensure_cargo_lambda
    ensure_rust_target aarch64-unknown-linux-gnu
    fresh_vendored_openssl "${CARGO_TARGET_DIR:-$ROOT/target}"
    "$@" cargo lambda build --release --arm64 --workspace --exclude todo-tests
}

# fresh_vendored_openssl TARGET_DIR: the arm64 OpenSSL that cargo built in
# TARGET_DIR (openssl-sys's vendored build) is configured as
# scripts/openssl-perl says now, or is cleaned so that the next build
# configures it again: cargo itself does not notice a change of that list.
fresh_vendored_openssl() { # TARGET_DIR
    local dir=$1 header option define stale=0 defines=()
    # no-sm2 -> OPENSSL_NO_SM2, as configuration.h names what is left out.
    for option in $("$ROOT/scripts/openssl-perl" --options); do
        defines+=("OPENSSL_NO_$(tr 'a-z-' 'A-Z_' <<<"${option#no-}")")
    done
    for header in "$dir"/aarch64-unknown-linux-gnu/release/build/openssl-sys-*/out/openssl-build/install/include/openssl/configuration.h; do
        [ -f "$header" ] || continue
        for define in "${defines[@]}"; do
            grep -q "define $define\b" "$header" || stale=1
        done
    done
    if [ "$stale" = 1 ]; then
        echo "the arm64 OpenSSL in $dir predates scripts/openssl-perl's options: rebuilding it" >&2
        cargo clean --quiet --release --target aarch64-unknown-linux-gnu --target-dir "$dir" -p openssl-sys
    fi
}

# qemu's user-mode emulator and Debian's arm64 glibc, to run an arm64
# `bootstrap` here (bench.sh's smoke run).
ensure_qemu_arm64() {
    if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
        debian_install "running the arm64 build" qemu-user libc6-arm64-cross
    fi
}
