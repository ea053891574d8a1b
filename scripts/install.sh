#!/usr/bin/env bash
# The installers: what Rust cannot install, each only when missing or when
# its pin changed. `cargo xtask` runs them (xtask/src/install.rs), and make
# the toolchain's before anything (the Makefile's XTASK).
#
#   scripts/install.sh toolchain          the Rust toolchain rust-toolchain.toml pins
#   scripts/install.sh tools COMMAND...   the pinned Python tools providing each command
#   scripts/install.sh python-modules     the report's Python modules (make bench)
#   scripts/install.sh pgbouncer          Debian's PgBouncer (the pooled tests)
#   scripts/install.sh chromium           Debian's Chromium (the browser tests)
#   scripts/install.sh rust-target TARGET a rustup target's standard library
#   scripts/install.sh qemu-arm64         qemu and arm64 glibc (the arm64 smoke run)
#
# Python's are pinned in scripts/requirements.txt and go into the project's
# own virtualenv, .local/venv; Debian's need root (as anyone else, it says
# what to run).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.local/venv"

# The toolchain rust-toolchain.toml pins. rustup installs it wherever it may
# download; on a machine that may not (RUSTUP_AUTO_INSTALL=0) but whose own
# toolchain is that very release under another name (say `stable`), that
# one is linked under the pinned name, as rustup would have named it.
ensure_pinned_toolchain() {
    command -v rustup >/dev/null 2>&1 || return 0
    local pinned toolchains dir
    pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$ROOT/rust-toolchain.toml")
    rustup toolchain list 2>/dev/null | grep -q "^$pinned-" && return 0
    toolchains="$(rustup show home)/toolchains"
    for dir in "$toolchains"/*; do
        if "$dir/bin/rustc" --version 2>/dev/null | grep -q "^rustc $pinned "; then
            ln -s "$dir" "$toolchains/$pinned-$("$dir/bin/rustc" -vV | sed -n 's/^host: //p')"
            return 0
        fi
    done
    rustup toolchain install "$pinned"
}

# ensure_tools COMMAND...: installs what provides each command into the
# project's own virtualenv (versions pinned in scripts/requirements.txt), and
# (cargo-zigbuild finds Zig via `python3 -m ziglang` there: xtask's children
# get the venv first on PATH).
# A tool whose pin changed since it was installed is installed again. A tool
# pinned "in its own venv" (its dependencies' pins clash with another's)
# gets a venv of its own under .local/tools, its command linked into the
# project's venv.
ensure_tools() {
    local missing=() packages=()
    local tool pin own
    for tool in "$@"; do
        pin=$(grep -E "^# provides $tool( in its own venv)?\$" -A1 "$ROOT/scripts/requirements.txt" | tail -n1)
        [ -n "$pin" ] || { echo "scripts/requirements.txt pins nothing that provides $tool" >&2; return 1; }
        if [ ! -x "$VENV/bin/$tool" ] || [ "$(cat "$VENV/.pins/$tool" 2>/dev/null)" != "$pin" ]; then
            if grep -qx "# provides $tool in its own venv" "$ROOT/scripts/requirements.txt"; then
                own="$ROOT/.local/tools/$tool"
                echo "Installing $pin into $own ..." >&2
                [ -x "$own/bin/pip" ] || python3 -m venv "$own"
                "$own/bin/pip" install --quiet --disable-pip-version-check "$pin" >&2
                [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
                ln -sf "$own/bin/$tool" "$VENV/bin/$tool"
                mkdir -p "$VENV/.pins"
                echo "$pin" >"$VENV/.pins/$tool"
                continue
            fi
            missing+=("$tool")
            packages+=("$pin")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "Installing ${packages[*]} into $VENV ..." >&2
        [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
        mkdir -p "$VENV/.pins"
        for tool in "${missing[@]}"; do
            grep -E "^# provides $tool\$" -A1 "$ROOT/scripts/requirements.txt" | tail -n1 > "$VENV/.pins/$tool"
        done
    fi
}

# ensure_python_modules: the Python modules pinned in scripts/requirements.txt
# (each pin after a `# module NAME` line), installed into the venv when one
# does not import or its pin changed.
ensure_python_modules() {
    local pins stamp="$VENV/.pins/python-modules"
    pins=$(grep -E '^# module ' -A1 "$ROOT/scripts/requirements.txt" | grep -v -e '^#' -e '^--')
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$pins" ]; then
        echo "Installing $(echo $pins) into $VENV ..." >&2
        # shellcheck disable=SC2086
        "$VENV/bin/pip" install --quiet --disable-pip-version-check $pins >&2
        mkdir -p "$VENV/.pins"
        echo "$pins" > "$stamp"
    fi
}

# debian_install WHAT PACKAGE...: Debian's packages, for WHAT needs them, as
# root, a few tries (mirrors fail now and then); not as root, says what to run.
debian_install() {
    local what=$1 attempt
    shift
    if [ "$(id -u)" != 0 ]; then
        echo "$what needs Debian's packages: sudo apt-get install $*" >&2
        return 1
    fi
    for attempt in 1 2 3; do
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@" && return 0
        echo "installing $* failed (attempt $attempt of 3)" >&2
        sleep 5
    done
    return 1
}

# Debian's Chromium, for the browser tests (tests/browser), unless CHROMIUM
# names another Chromium-based browser (GitHub's runners have Chrome).
ensure_chromium() {
    [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ] && return 0
    command -v chromium >/dev/null || debian_install "the browser tests" chromium
}

# Debian's PgBouncer, for the tests through a pooler as Neon's pooled
# endpoint is one (tests/src/pooler.rs).
ensure_pgbouncer() {
    [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null \
        || debian_install "the tests through Neon-style pooling" pgbouncer
}

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

# qemu's user-mode emulator and Debian's arm64 glibc, to run an arm64
# `bootstrap` here (make bench-smoke).
ensure_qemu_arm64() {
    if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
        debian_install "running the arm64 build" qemu-user libc6-arm64-cross
    fi
}

# One installer, named by the first argument.
set -euo pipefail
what=${1:?"usage: scripts/install.sh toolchain|tools COMMAND...|python-modules|pgbouncer|chromium|rust-target TARGET|qemu-arm64"}
shift
case "$what" in
    toolchain) ensure_pinned_toolchain ;;
    tools) ensure_tools "$@" ;;
    python-modules) ensure_python_modules ;;
    pgbouncer) ensure_pgbouncer ;;
    chromium) ensure_chromium ;;
    rust-target) ensure_rust_target "$@" ;;
    qemu-arm64) ensure_qemu_arm64 ;;
    *) echo "scripts/install.sh: no installer named $what" >&2; exit 2 ;;
esac
