#!/usr/bin/env bash
# pg_harness.sh COMMAND [ARG...]: starts a throwaway PostgreSQL that listens only on a Unix
# socket in a temporary directory, runs COMMAND with SDV_TEST_PG_URL set to its URL, then stops
# the server and removes everything, whether COMMAND passed or not. Exits with COMMAND's status.
#
# The server binaries come from PATH or /usr/lib/postgresql/*/bin. Missing binaries are a
# failure, never a skip: the store's PostgreSQL backend must be tested. As root, the server runs
# as the "postgres" user (PostgreSQL refuses to run as root).
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: pg_harness.sh COMMAND [ARG...]" >&2
    exit 2
fi

find_bin() {
    local name=$1 dir
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return 0
    fi
    # Newest major version first; an unmatched glob stays literal and fails the -x test.
    while IFS= read -r dir; do
        if [ -x "$dir/$name" ]; then
            echo "$dir/$name"
            return 0
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
    return 1
}

initdb_bin=$(find_bin initdb) || {
    echo "pg_harness.sh: FAIL: PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or" \
        "in /usr/lib/postgresql/*/bin; install the Debian package postgresql" \
        "(scripts/install-deps.sh does)" >&2
    exit 1
}
pg_ctl_bin=$(find_bin pg_ctl) || {
    echo "pg_harness.sh: FAIL: pg_ctl not found next to $initdb_bin" >&2
    exit 1
}

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "pg_harness.sh: FAIL: running as root but there is no postgres user to run" \
            "the server as" >&2
        exit 1
    fi
    as_pg=(runuser -u postgres --)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-pg-XXXXXX")
data="$work/data"
sock="$work/sock"
log="$work/server.log"
started=0

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local status=$?
    if [ "$started" -eq 1 ]; then
        "${as_pg[@]}" "$pg_ctl_bin" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$data" "$sock"
if [ "${#as_pg[@]}" -gt 0 ]; then
    # The postgres user must reach the directory and own the data and socket directories.
    chmod 755 "$work"
    chown postgres: "$data" "$sock" "$work"
fi
chmod 700 "$data"

if ! "${as_pg[@]}" "$initdb_bin" -D "$data" --auth=trust -U postgres --encoding=UTF8 \
    --locale=C --no-sync >"$work/initdb.log" 2>&1; then
    echo "pg_harness.sh: FAIL: initdb failed:" >&2
    cat "$work/initdb.log" >&2
    exit 1
fi

# Unix socket only (listen_addresses empty: no TCP at all); fsync off: a throwaway database.
started=1
if ! "${as_pg[@]}" "$pg_ctl_bin" -D "$data" -l "$log" -w -t 60 \
    -o "-c listen_addresses='' -k $sock -c fsync=off -c max_connections=20" start \
    >/dev/null; then
    echo "pg_harness.sh: FAIL: PostgreSQL did not start:" >&2
    cat "$log" >&2 || true
    exit 1
fi

export SDV_TEST_PG_URL="postgresql:///postgres?host=$sock&user=postgres"
set +e
"$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
    echo "pg_harness.sh: command failed ($status); server log:" >&2
    tail -n 50 "$log" >&2 || true
fi
exit "$status"
