#!/usr/bin/env bash
# Test services for the store tests: PostgreSQL (with TLS) and moto (DynamoDB, SSM, Secrets Manager), on
# loopback, random ports, throwaway directories. Installs what is missing first (Debian packages, a pinned
# moto in .venv/moto).
#
#   eval "$(scripts/test-services.sh start)"     # prints `export NAME=value` lines, logs go to stderr
#   trap 'scripts/test-services.sh stop' EXIT
#   scripts/test-services.sh pg-stop | pg-start  # outage tests stop and restart PostgreSQL (same port, data)
#   scripts/test-services.sh moto-run PORT       # another moto in the foreground (tests start one late)
#   scripts/test-services.sh stop                # stops both, removes their directories
#
# Exits non-zero, with the server's log on stderr, when a server cannot start: the tests never skip.
set -euo pipefail

MOTO_VERSION="5.2.5"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTO_VENV="${STRATUS_TEST_MOTO_VENV:-$ROOT/.venv/moto}"

log() { printf 'test-services: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $* (install it yourself, or run as root)"
    fi
}

freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_bin() { compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -1; }

# Runs a command as the owner of the PostgreSQL data directory (initdb and postgres refuse root).
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_missing() {
    local packages=()
    [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || packages+=(postgresql)
    command -v openssl >/dev/null || packages+=(openssl)
    command -v python3 >/dev/null || packages+=(python3)
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then packages+=(python3-venv); fi
    if [ "${#packages[@]}" -gt 0 ]; then
        log "installing ${packages[*]}"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -qq >&2
        as_root apt-get install -y -q "${packages[@]}" >&2
    fi
    if [ ! -x "$MOTO_VENV/bin/moto_server" ] ||
        [ "$("$MOTO_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" != "$MOTO_VERSION" ]; then
        log "installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
        rm -rf "$MOTO_VENV"
        python3 -m venv "$MOTO_VENV" >&2
        "$MOTO_VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
    fi
}

# Starts postgres on the port and options saved in $DIR.
pg_start() {
    local dir="$1"
    as_pg "$(cat "$dir/pg.bin")/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 30 start \
        -o "$(cat "$dir/pg.opts")" >&2 || { cat "$dir/pg.log" >&2; die "PostgreSQL did not start"; }
}

pg_stop() {
    local dir="$1"
    as_pg "$(cat "$dir/pg.bin")/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2
}

start_postgres() {
    local dir="$1" bin port password
    bin="$(pg_bin)"
    port="$(freeport)"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    mkdir -p "$dir/pg"
    echo "$bin" >"$dir/pg/pg.bin"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$dir/pg"; fi
    chmod 700 "$dir/pg"
    printf '%s\n' "$password" >"$dir/pg/pwfile"
    as_pg "$bin/initdb" -D "$dir/pg/data" -U postgres --pwfile="$dir/pg/pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --no-locale >"$dir/pg/initdb.log" 2>&1 ||
        { cat "$dir/pg/initdb.log" >&2; die "initdb failed"; }
    rm -f "$dir/pg/pwfile"
    # A CA and a server certificate it signs, as RDS has. Not one self-signed certificate: that one is a CA
    # (CA:TRUE), and rustls (sqlx) refuses a CA as the server's own certificate (CaUsedAsEndEntity) under
    # verify-full. rustls checks the subjectAltName, not the CN: both names a client may use are in it.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Stratus test CA" \
        -keyout "$dir/ca.key" -out "$dir/root.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$dir/pg/data/server.key" -out "$dir/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/root.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/server.ext" -out "$dir/pg/data/server.crt" 2>/dev/null
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir/pg/data/server."*; fi
    chmod 600 "$dir/pg/data/server.key"
    # fsync and friends off: test speed only (STRATUS_TEST_PG_DURABLE=1 keeps them on, for benchmarks that
    # compare with SQLite's synchronous=FULL). max_connections: every test opens its own pool.
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if [ "${STRATUS_TEST_PG_DURABLE:-}" = 1 ]; then durability=""; fi
    echo "-h 127.0.0.1 -p $port -k $dir/pg -c ssl=on -c max_connections=300 $durability" >"$dir/pg/pg.opts"
    pg_start "$dir/pg"
    echo "export STRATUS_TEST_POSTGRES_URL=postgres://postgres:$password@127.0.0.1:$port/postgres"
    echo "export STRATUS_TEST_POSTGRES_TLS_ROOT_CERT=$dir/root.crt"
    echo "export STRATUS_TEST_PG_CTL_DATA=$dir/pg/data"
    echo "export STRATUS_TEST_PG_PORT=$port"
}

# moto's server, with one difference: requests are handled one at a time. moto's TransactWriteItems undoes
# a cancelled transaction by restoring a snapshot of the whole table, which under concurrent requests also
# wipes writes that other requests made meanwhile (real DynamoDB cancels only the transaction's own
# writes). Serialising costs little: moto runs under Python's GIL anyway.
run_moto() {
    local port="$1"
    exec "$MOTO_VENV/bin/python" -c '
import sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serialised(environ, start_response):
    with lock:
        return list(app(environ, start_response))
run_simple("127.0.0.1", int(sys.argv[1]), serialised, threaded=True, request_handler=MotoRequestHandler)
' "$port"
}

start_moto() {
    local dir="$1" port pid
    port="$(freeport)"
    MOTO_PORT="$port" "$0" moto-run "$port" >"$dir/moto.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        if python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
            break
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$dir/moto.log" >&2; die "moto exited"; }
        sleep 0.1
    done
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null ||
        { cat "$dir/moto.log" >&2; kill "$pid" 2>/dev/null || true; die "moto did not answer within 10 s"; }
    echo "$pid" >"$dir/moto.pid"
    echo "export STRATUS_TEST_MOTO_PID=$pid"
    echo "export STRATUS_TEST_MOTO_PORT=$port"
    echo "export STRATUS_TEST_MOTO_VENV=$MOTO_VENV"
    echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$port"
    echo "export AWS_REGION=us-east-1"
    echo "export AWS_ACCESS_KEY_ID=test"
    echo "export AWS_SECRET_ACCESS_KEY=test"
    # Nothing may reach for ~/.aws or the EC2 metadata service during tests.
    echo "export AWS_CONFIG_FILE=/dev/null"
    echo "export AWS_SHARED_CREDENTIALS_FILE=/dev/null"
    echo "export AWS_EC2_METADATA_DISABLED=true"
}

services_dir() {
    [ -n "${STRATUS_TEST_SERVICES_DIR:-}" ] && [ -d "$STRATUS_TEST_SERVICES_DIR" ] ||
        die "STRATUS_TEST_SERVICES_DIR is not set: run \`eval \"\$(scripts/test-services.sh start)\"\` first"
    echo "$STRATUS_TEST_SERVICES_DIR"
}

# EXIT trap of `start`: after a failure, stop what did start (the state is in $dir) and print an `exit`
# for the shell that evals our output.
start_failed() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        STRATUS_TEST_SERVICES_DIR="$dir" "$0" stop || true
        echo "exit $rc"
    fi
}

case "${1:-}" in
start)
    install_missing
    dir="$(mktemp -d /tmp/stratus-services.XXXXXX)"
    chmod 755 "$dir"
    # On failure: stop what did start, and end the shell that evals our output, so the run fails loudly.
    trap start_failed EXIT
    echo "export STRATUS_TEST_SERVICES_DIR=$dir"
    start_postgres "$dir"
    start_moto "$dir"
    log "PostgreSQL and moto are up (state in $dir)"
    ;;
stop)
    dir="$(services_dir)"
    if [ -f "$dir/moto.pid" ]; then kill "$(cat "$dir/moto.pid")" 2>/dev/null || true; fi
    if [ -f "$dir/pg/data/postmaster.pid" ]; then pg_stop "$dir/pg" || true; fi
    rm -rf "$dir"
    ;;
pg-stop) pg_stop "$(services_dir)/pg" ;;
moto-run) MOTO_PORT="${2:?port}" run_moto "$2" ;;
pg-start) pg_start "$(services_dir)/pg" ;;
*)
    echo "usage: $0 start | stop | pg-stop | pg-start | moto-run PORT" >&2
    exit 2
    ;;
esac
