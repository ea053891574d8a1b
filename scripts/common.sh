# Helpers sourced by the other scripts. Bash only.

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
ensure_pinned_toolchain

# Loads .env (if any) into the environment, without overriding what is set.
load_env() {
    if [ -f "$ROOT/.env" ]; then
        while IFS= read -r line || [ -n "$line" ]; do
            case "$line" in '' | '#'*) continue ;; esac
            name=${line%%=*}
            value=${line#*=}
            value=${value%\"}; value=${value#\"}
            [ -z "${!name+x}" ] && export "$name=$value"
        done < "$ROOT/.env"
    fi
    return 0
}

# step NAME: starts a phase of a script (its name printed as a heading);
# print_phases (from the script's EXIT trap) lists each phase's duration.
phase_names=()
phase_seconds=()
phase_start=$SECONDS
step() {
    if [ ${#phase_names[@]} -gt 0 ]; then
        phase_seconds+=($((SECONDS - phase_start)))
    fi
    phase_names+=("$*")
    phase_start=$SECONDS
    printf '\n==> %s\n' "$*"
}
print_phases() {
    [ ${#phase_names[@]} -gt 0 ] || return 0
    phase_seconds+=($((SECONDS - phase_start)))
    printf '\nPhases of %s (seconds):\n' "$(basename "$0")"
    local i
    for i in "${!phase_names[@]}"; do
        printf '%6d  %s\n' "${phase_seconds[$i]}" "${phase_names[$i]}"
    done
    printf '%6d  total\n' "$SECONDS"
}

# passed WHAT: one check of a script's own has passed, printed as the
# browser tests print theirs, which .ci/run counts (scripts/ci_summary.py).
passed() {
    printf 'ok   %s\n' "$*"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# as_ordinary_user COMMAND...: runs COMMAND as an ordinary user: as it is
# when not root; as root, as uid 1000 in a user namespace of its own
# (util-linux's unshare), with no privilege over the machine (apt-get,
# runuser and chown to another user fail; PostgreSQL and PgBouncer see a user,
# not root), yet owning the files root's run made, so the builds and tools
# already here serve it at the same paths, not built again. Where the
# machine allows no user namespace (some container runtimes), it says so
# and runs COMMAND as root (AS_ROOT_FALLBACK=1 tells COMMAND).
as_ordinary_user() {
    local ordinary=(unshare --user --map-user=1000 --map-group=1000 --)
    if [ "$(id -u)" != 0 ]; then
        "$@"
    elif "${ordinary[@]}" true 2>/dev/null; then
        "${ordinary[@]}" "$@"
    else
        echo "warning: no user namespace here (unshare --user failed): $1 runs as root" >&2
        AS_ROOT_FALLBACK=1 "$@"
    fi
}

# ensure_tools COMMAND...: installs what provides each command into the
# project's own virtualenv (versions pinned in scripts/requirements.txt), and
# puts the venv first on PATH (cargo-zigbuild finds Zig via `python3 -m ziglang`).
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
    export PATH="$VENV/bin:$PATH"
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

ensure_cargo_lambda() {
    ensure_tools cargo-lambda
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

# Debian's Chromium, for the browser test of /docs (tests/browser), unless
# CHROMIUM names another Chromium-based browser (GitHub's runners have Chrome).
ensure_chromium() {
    [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ] && return 0
    command -v chromium >/dev/null || debian_install "the browser test" chromium
}

# Debian's PgBouncer, for the tests through a pooler as Neon's pooled
# endpoint is one (tests/src/pooler.rs).
ensure_pgbouncer() {
    [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null \
        || debian_install "the tests through Neon-style pooling" pgbouncer
}

# `npm ci` in DIR, only when its lockfile changed since the last install.
npm_ci_once() { # DIR
    local stamp=$1/node_modules/.installed-lock
    if ! cmp -s "$1/package-lock.json" "$stamp"; then
        npm ci --prefix "$1" --no-audit --no-fund --loglevel=error
        cp "$1/package-lock.json" "$stamp"
    fi
}

# wait_http URL SECONDS: until URL answers at all (any status), or fail.
wait_http() {
    local url=$1 deadline=$((SECONDS + $2))
    until python3 - "$url" <<'PY' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError:
    pass
PY
    do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 1
    done
}
