#!/usr/bin/env bash
# Makes sure a PostgreSQL server is running for Ankyra's PostgreSQL store
# tests and prints its URL as the last line of stdout:
#
#   postgres://ankyra:PASSWORD@127.0.0.1:PORT/ankyra
#
# With --plain: the URL without the password, then the path of the
# owner-only file holding it (for ANKYRA_STORE_PASSWORD_FILE).
#
#   ANKYRA_TEST_POSTGRES_URL=$(scripts/ensure-postgres.sh | tail -n 1) \
#       cargo test -p ankyra-store --features test-suite
#
# A private cluster, not the distribution's: it listens on 127.0.0.1 only, on
# its own port, so it never clashes with (or changes) a server someone runs on
# 5432, and it can be thrown away by deleting one directory.
#
# Idempotent and quick when already done: installs Debian's `postgresql` only
# if no server binaries are there, creates the cluster only once, starts it
# only if it is not accepting connections.
#
# The role's password is generated once and kept in an owner-only file beside
# the cluster; it is printed nowhere but in the URL.
#
#   ANKYRA_PG_DIR   where the cluster and the password live
#                   (default: $HOME/.cache/ankyra/pg; as root /var/lib/ankyra/pg,
#                   since the server runs as `postgres` and cannot enter /root)
#   ANKYRA_PG_PORT  the port (default 55432)
set -euo pipefail

port=${ANKYRA_PG_PORT:-55432}
if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    run_user=postgres
    pg_dir=${ANKYRA_PG_DIR:-/var/lib/ankyra/pg}
else
    run_user=$(id -un)
    pg_dir=${ANKYRA_PG_DIR:-$HOME/.cache/ankyra/pg}
fi
data=$pg_dir/data
sockets=$pg_dir/run
log_file=$pg_dir/server.log
password_file=$pg_dir/password

say() { echo "ensure-postgres: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Runs a command as the user the server runs as.
as_server() {
    if [ "$(id -un)" = "$run_user" ]; then
        "$@"
    else
        # From /: the server's user may not enter the caller's folder (a
        # private temporary clone), and psql warns when it cannot.
        (cd / && runuser -u "$run_user" -- "$@")
    fi
}

server_bin() {
    # The newest installed major version.
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin=$(server_bin)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    say "installing Debian's postgresql package"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 || {
        as_root apt-get update >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
    }
    bin=$(server_bin)
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    say "no PostgreSQL server binaries under /usr/lib/postgresql after installing"
    exit 1
fi

# Parents with the usual permissions, so the server's user can reach the
# cluster; then everything of ours owner-only.
mkdir -p "$(dirname "$pg_dir")"
umask 077
mkdir -p "$pg_dir"
if [ "$run_user" != "$(id -un)" ]; then
    # The server's user must be able to enter the directory (not read it).
    chmod 0711 "$pg_dir"
    mkdir -p "$data" "$sockets"
    chown "$run_user:" "$data" "$sockets"
    chmod 0700 "$data" "$sockets"
    as_server test -x "$data" || {
        say "user $run_user cannot reach $data; set ANKYRA_PG_DIR to a directory it can enter"
        exit 1
    }
else
    chmod 0700 "$pg_dir"
    mkdir -p "$data" "$sockets"
fi

if [ ! -s "$data/PG_VERSION" ]; then
    say "creating a cluster in $data"
    # Peer authentication on the private socket for setting up, passwords on
    # TCP for everyone else.
    as_server "$bin/initdb" --pgdata="$data" --no-locale --encoding=UTF8 \
        --auth-local=peer --auth-host=scram-sha-256 >"$pg_dir/initdb.log" 2>&1 || {
        say "initdb failed; see $pg_dir/initdb.log"
        exit 1
    }
fi

ready() {
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres
}

if ! ready; then
    say "starting the cluster on 127.0.0.1:$port"
    touch "$log_file"
    [ "$run_user" = "$(id -un)" ] || chown "$run_user:" "$log_file"
    as_server "$bin/pg_ctl" --pgdata="$data" --log="$log_file" --wait --timeout=60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$sockets" \
        start >&2 || {
        say "the server did not start; see $log_file"
        exit 1
    }
    for _ in $(seq 1 60); do
        ready && break
        sleep 0.5
    done
    ready || {
        say "the server does not accept connections; see $log_file"
        exit 1
    }
fi

if [ ! -s "$password_file" ]; then
    # URL-safe, so the URL needs no escaping.
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$password_file"
    chmod 0600 "$password_file"
fi
password=$(cat "$password_file")

# The SQL goes on standard input, so the password is in no process's
# arguments; printf is a shell builtin.
printf '%s\n' \
    "SELECT 'CREATE ROLE ankyra' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ankyra') \\gexec" \
    "ALTER ROLE ankyra WITH LOGIN CREATEDB PASSWORD '$password';" \
    "SELECT 'CREATE DATABASE ankyra OWNER ankyra' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ankyra') \\gexec" |
    as_server "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockets" -p "$port" -d postgres >/dev/null

if [ "${1:-}" = --plain ]; then
    # For callers that keep the password out of URLs, arguments and the
    # environment: the URL without it, then the file holding it.
    echo "postgres://ankyra@127.0.0.1:$port/ankyra"
    echo "$password_file"
else
    echo "postgres://ankyra:$password@127.0.0.1:$port/ankyra"
fi
