#!/usr/bin/env bash
# The browser tests: Stratus's pages in Debian's headless Chromium, driven through chromedriver by the Node
# suite in tests/browser/ (flows with and without JavaScript, layout at 375 and 1280 px in light and dark,
# axe-core and keyboard-focus checks).
#
#   STRATUS_BIN=/abs/path/target/debug/stratus scripts/browser-tests.sh [file.test.js ...]
#
# STRATUS_BIN defaults to target/debug/stratus when that exists; arguments pick test files (default: all).
#
# On a fresh Debian machine it installs what it needs (apt: chromium, chromium-driver, and nodejs/npm if
# there is no Node; npm: the pinned packages in tests/browser/package-lock.json). It never downloads a browser
# of its own, and a missing browser fails the run: nothing is skipped. It starts the binary twice (without and
# with an admin; throwaway SQLite and files directories) and chromedriver on free loopback ports, runs the
# suite, stops them all, and exits non-zero on any failure.
# Screenshots land in test-output/screenshots/<page>-<width>-<scheme>.png.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
suite="$root/tests/browser"
started=$(date +%s)

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'browser-tests: %s\n' "$*" >&2; exit 1; }

if [ -z "${STRATUS_BIN:-}" ] && [ -x "$root/target/debug/stratus" ]; then
  STRATUS_BIN="$root/target/debug/stratus" # what `cargo build` makes
fi
if [ -z "${STRATUS_BIN:-}" ]; then
  die "STRATUS_BIN is not set: build first (cargo build) and pass the binary, e.g. STRATUS_BIN=$root/target/debug/stratus"
fi
[ -x "$STRATUS_BIN" ] || die "STRATUS_BIN=$STRATUS_BIN is not an executable file"

# --- what the suite needs, installed only when missing --------------------------------------------------
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt)"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${need_apt[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -q "${need_apt[@]}"
fi
command -v chromium >/dev/null || die "chromium is not installed and could not be installed"
command -v chromedriver >/dev/null || die "chromedriver is not installed and could not be installed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "Node.js $(node --version) is too old: the suite needs 18 or newer"

# npm ci only when node_modules is missing or was installed from another lock file.
lock_hash=$(sha256sum "$suite/package-lock.json" | cut -d' ' -f1)
stamp="$suite/node_modules/.installed-from-lock"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  log "npm ci (tests/browser)"
  (cd "$suite" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" >"$stamp"
fi
installed=$(date +%s)

# --- the binary and chromedriver, on free loopback ports ---------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/stratus-browser.XXXXXX")
server_pids=()
driver_pid=""
# shellcheck disable=SC2329 # it is the EXIT trap below (ShellCheck 0.11 misses that when the script ends in exit)
cleanup() {
  local status=$?
  for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # chromedriver runs in its own process group, so this also ends any browser it left behind.
  if [ -n "$driver_pid" ]; then kill -TERM -- "-$driver_pid" 2>/dev/null || true; fi
  for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    for f in open.log admin.log chromedriver.log; do
      if [ -s "$work/$f" ]; then printf '\n--- last lines of %s ---\n' "$f" >&2; tail -n 20 "$work/$f" >&2; fi
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Two instances of the binary, each with its own SQLite file and files directory (never ./data):
# - STRATUS_URL: no admin configured. The board's flows write here; the blog, files and users pages stay
#   empty (nothing else writes to it), and /admin/login shows the set-up page.
# - STRATUS_ADMIN_URL: an admin configured (password hash made by `stratus hash-password` from stdin), a
#   1 MiB upload limit for the "too large" state; the blog, files and users flows sign in and write here.
# STRATUS_ADMIN_USERNAME / STRATUS_ADMIN_PASSWORD tell the suite how to sign in.
# They listen on different loopback addresses, not just ports, so the browser keeps their cookies apart.
start_server() { # <name> <ip> [VAR=value...]: starts one instance, sets $address, adds its pid to server_pids
  local name=$1 ip=$2
  shift 2
  mkdir -p "$work/$name/files"
  env STRATUS_LISTEN="$ip:0" DATABASE_URL="sqlite://$work/$name/stratus.db" \
    STRATUS_FILES_URL="file://$work/$name/files" STRATUS_INSTANCE_METADATA=hostname \
    STRATUS_DRAIN_SECONDS=0 STRATUS_LOG_FORMAT=json "$@" "$STRATUS_BIN" serve >"$work/$name.log" 2>&1 &
  local pid=$!
  server_pids+=("$pid")
  address=""
  for _ in $(seq 150); do
    address=$(sed -n 's/.*"message":"listening".*"address":"\([^"]*\)".*/\1/p' "$work/$name.log" | head -n 1)
    [ -n "$address" ] && return 0
    kill -0 "$pid" 2>/dev/null || die "the binary ($name) exited during start-up"
    sleep 0.1
  done
  die "the binary ($name) did not log its listening address within 15 s"
}

log "starting $STRATUS_BIN (twice: without and with an admin)"
export STRATUS_ADMIN_USERNAME=admin
STRATUS_ADMIN_PASSWORD="browser-tests-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export STRATUS_ADMIN_PASSWORD
admin_hash=$(printf '%s\n' "$STRATUS_ADMIN_PASSWORD" | "$STRATUS_BIN" hash-password) ||
  die "stratus hash-password failed"
case "$admin_hash" in \$argon2id\$*) ;; *) die "stratus hash-password printed no argon2id hash: $admin_hash" ;; esac
start_server open 127.0.0.1
export STRATUS_URL="http://$address"
start_server admin 127.0.0.2 STRATUS_ADMIN_PASSWORD_HASH="$admin_hash" STRATUS_MAX_UPLOAD_BYTES=1048576
export STRATUS_ADMIN_URL="http://$address"
unset admin_hash

log "starting chromedriver"
driver_port=$(free_port)
setsid chromedriver --port="$driver_port" >"$work/chromedriver.log" 2>&1 &
driver_pid=$!
export CHROMEDRIVER_URL="http://127.0.0.1:$driver_port"
CHROMEDRIVER_URL="$CHROMEDRIVER_URL" node -e '
  (async () => {
    for (let i = 0; i < 100; i += 1) {
      try {
        const r = await fetch(process.env.CHROMEDRIVER_URL + "/status");
        if ((await r.json()).value.ready) return;
      } catch {}
      await new Promise((ok) => setTimeout(ok, 100));
    }
    console.error("chromedriver did not become ready within 10 s");
    process.exit(1);
  })();'
echo "stratus: $STRATUS_URL (no admin), $STRATUS_ADMIN_URL (admin)  chromedriver: $CHROMEDRIVER_URL ($(chromedriver --version | cut -d' ' -f1-2))"

# --- the suite ---------------------------------------------------------------------------------------------
export SCREENSHOT_DIR="$root/test-output/screenshots"
rm -rf "$SCREENSHOT_DIR"
mkdir -p "$SCREENSHOT_DIR"
runner=(node --test --test-reporter=spec)
# One file at a time: the files share the server, and "the latest submission" must be the test's own.
if node --test-concurrency=1 -e 0 2>/dev/null; then runner+=(--test-concurrency=1); fi

log "browser tests (tests/browser)"
set +e
# Arguments name test files to run (e.g. blog.test.js); none runs them all.
(cd "$suite" && if [ $# -eq 0 ]; then set -- ./*.test.js; fi && "${runner[@]}" "$@")
result=$?
set -e
finished=$(date +%s)
echo "browser tests: install check $((installed - started)) s, suite $((finished - installed)) s;" \
  "screenshots in ${SCREENSHOT_DIR#"$root"/}/"
exit "$result"
