#!/usr/bin/env bash
# GET / and POST / throughput on SQLite, PostgreSQL and DynamoDB (moto), in one run, as ratios to SQLite.
#
#   scripts/bench-backends.sh [SECONDS]      # default 5 s per measurement; prints a Markdown table
#
# Loopback only, bounded: wrk runs for SECONDS with 2 threads and 16 connections per measurement. Needs the
# release binary (cargo build --release) and wrk (apt-get install wrk); starts its own PostgreSQL and moto
# through scripts/test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
BIN=target/release/stratus
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 1; }

# PostgreSQL with fsync on: SQLite commits with synchronous=FULL, so both pay for durable commits.
eval "$(STRATUS_TEST_PG_DURABLE=1 scripts/test-services.sh start)"
WORK=$(mktemp -d /tmp/stratus-bench.XXXXXX)
APP_PID=
cleanup() {
    [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null || true
    scripts/test-services.sh stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The board's CSRF check compares the cookie with the form field: any well-formed token works for both.
TOKEN=$(python3 -c 'import secrets, base64; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))')
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.body = "csrf_token=$TOKEN&username=bench&number=01234567"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "stratus_csrf=$TOKEN"
EOF

# Creates a database for the benchmark on the test server; prints its URL.
postgres_url() {
    local admin="$STRATUS_TEST_POSTGRES_URL"
    psql "$admin" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE stratus_bench" >&2
    echo "${admin%/postgres}/stratus_bench?sslmode=require"
}

rps() { awk '/^Requests\/sec:/ {print $2}'; }

# run NAME DATABASE_URL [extra env...]: starts the service, measures GET / and POST /, stops it.
run() {
    local name="$1" url="$2"; shift 2
    local port; port=$(freeport)
    env "$@" DATABASE_URL="$url" STRATUS_LISTEN="127.0.0.1:$port" RUST_LOG=warn \
        STRATUS_INSTANCE_METADATA=hostname STRATUS_DRAIN_SECONDS=0 "$BIN" >"$WORK/$name.log" 2>&1 &
    APP_PID=$!
    for _ in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
        sleep 0.1
    done
    curl -sf -o /dev/null "http://127.0.0.1:$port/health" || { cat "$WORK/$name.log" >&2; exit 1; }
    wrk -t2 -c16 -d1s "http://127.0.0.1:$port/" >/dev/null   # warm-up
    local get post
    get=$(wrk -t2 -c16 -d"${DURATION}s" "http://127.0.0.1:$port/" | tee "$WORK/$name.get.txt" | rps)
    post=$(wrk -t2 -c16 -d"${DURATION}s" -s "$WORK/post.lua" "http://127.0.0.1:$port/" | tee "$WORK/$name.post.txt" | rps)
    if grep -q "Non-2xx" "$WORK/$name.get.txt" "$WORK/$name.post.txt"; then
        echo "$name: some answers were errors:" >&2; grep -h "Non-2xx" "$WORK/$name".*.txt >&2; exit 1
    fi
    kill "$APP_PID"; wait "$APP_PID" 2>/dev/null || true; APP_PID=
    echo "$name $get $post"
}

{
    run sqlite "sqlite://$WORK/bench.db"
    run postgres "$(postgres_url)"
    run dynamodb "sqlite://$WORK/bench-relational.db" STRATUS_BOARD_URL=dynamodb://stratus-bench STRATUS_CREATE_TABLES=true
} >"$WORK/results.txt"

awk -v seconds="$DURATION" '
    NR == 1 { get0 = $2; post0 = $3 }
    { name[NR] = $1; get[NR] = $2; post[NR] = $3 }
    END {
        printf "| store | GET / req/s | GET / vs SQLite | POST / req/s | POST / vs SQLite |\n"
        printf "| --- | ---: | ---: | ---: | ---: |\n"
        for (i = 1; i <= NR; i++)
            printf "| %s | %.0f | %.2f | %.0f | %.2f |\n", name[i], get[i], get[i] / get0, post[i], post[i] / post0
        printf "\n(wrk -t2 -c16 -d%ss per cell)\n", seconds
    }' "$WORK/results.txt"
