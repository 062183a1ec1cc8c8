#!/usr/bin/env bash
# Runs the Stratus release binary the way the ECS task definition runs the container, since no
# container engine runs on the development machines:
#
#   * the binary `cargo build --release --locked` builds (the Dockerfile's build), or $STRATUS_BIN
#   * the task definition's environment: the same names and values as infra/modules/ecs_service
#     (local.environment, prod values), except what cannot exist here: the listen address is a free
#     loopback port, DATABASE_URL is a SQLite file in a temp dir (no RDS here; no DATABASE_PASSWORD
#     then), PGSSLROOTCERT points at the system CA bundle, and nothing else leaks in (env -i)
#   * a read-only working directory and HOME, a separate writable /tmp and data directory (the
#     task's read-only root filesystem with its /tmp volume)
#
# Then it checks the contract the ALB, ECS and the HEALTHCHECK rely on, and fails loudly otherwise:
#   1. `stratus healthcheck <url>/health` turns 0 (deep readiness, the ALB's check) within 10 s
#   2. `stratus healthcheck` with no URL (the container HEALTHCHECK / ECS healthCheck command)
#      reaches /health/live through STRATUS_LISTEN
#   3. log lines on stdout are JSON with a top-level "level" (the CloudWatch metric filters)
#   4. SIGTERM: /health answers non-200 at once while /health/live keeps serving (draining), and
#      the process exits 0 within STRATUS_SHUTDOWN_TIMEOUT, below ECS's stopTimeout of 30 s
#
# infra/tests/test_container.py keeps the environment below in step with the task definition.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STOP_TIMEOUT=30 # ECS stopTimeout (infra/modules/ecs_service)

fail() { printf 'run-like-task: FAIL: %s\n' "$*" >&2; dump_logs; exit 1; }
say() { printf 'run-like-task: %s\n' "$*"; }

# --- the binary -----------------------------------------------------------------------------
if [ -n "${STRATUS_BIN:-}" ]; then
  BIN="$STRATUS_BIN"
  case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
else
  say "building: cargo build --release --locked"
  (cd "$ROOT" && cargo build --release --locked --bin stratus) || { echo "run-like-task: FAIL: cargo build failed" >&2; exit 1; }
  BIN="$ROOT/target/release/stratus"
fi
[ -x "$BIN" ] || { echo "run-like-task: FAIL: $BIN is not an executable" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run-like-task: FAIL: python3 is needed (free port, JSON check)" >&2; exit 1; }

# --- a sandbox shaped like the task ---------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/stratus-task.XXXXXX")"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
dump_logs() {
  for f in stdout stderr; do
    if [ -s "$WORK/$f.log" ]; then
      printf -- '--- last lines of the app %s ---\n' "$f" >&2
      tail -n 20 "$WORK/$f.log" >&2
    fi
  done
}
trap cleanup EXIT

mkdir -p "$WORK/root" "$WORK/tmp" "$WORK/data"
chmod 0555 "$WORK/root" # read-only working directory and HOME
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

# The task definition's environment (prod values), with the local substitutions described above.
TASK_ENV=(
  STRATUS_LISTEN="127.0.0.1:$PORT"
  STRATUS_LOG_FORMAT=json
  RUST_LOG=info
  AWS_REGION=eu-west-1
  STRATUS_CREATE_TABLES=false
  DATABASE_URL="sqlite://$WORK/data/stratus.db"
  DATABASE_POOL_SIZE=10
  DATABASE_CONNECT_TIMEOUT=5
  DATABASE_STATEMENT_TIMEOUT=5
  PGSSLROOTCERT=/etc/ssl/certs/ca-certificates.crt
  STRATUS_DRAIN_SECONDS=5
  STRATUS_SHUTDOWN_TIMEOUT=25
  STRATUS_REQUEST_TIMEOUT=10
  STRATUS_MAX_CONCURRENT_REQUESTS=256
  STRATUS_KEEP_ALIVE_TIMEOUT=75
  STRATUS_TRUSTED_PROXIES=10.40.0.0/16
)
SANDBOX_ENV=(PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK/root" TMPDIR="$WORK/tmp")

in_task() { (cd "$WORK/root" && env -i "${SANDBOX_ENV[@]}" "${TASK_ENV[@]}" "$@"); }
healthy() { in_task "$BIN" healthcheck "$@" >/dev/null 2>&1; }

# --- 1. start and wait for readiness --------------------------------------------------------
say "starting $BIN serve on 127.0.0.1:$PORT (workdir read-only, data in a temp dir)"
START_NS=$(date +%s%N)
(cd "$WORK/root" && exec env -i "${SANDBOX_ENV[@]}" "${TASK_ENV[@]}" "$BIN" serve) >"$WORK/stdout.log" 2>"$WORK/stderr.log" &
PID=$!

ready=""
for _ in $(seq 100); do
  kill -0 "$PID" 2>/dev/null || fail "the app exited during start-up"
  if healthy "$BASE/health"; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || fail "GET /health did not answer 200 within 10 s (the ALB would never mark the task healthy)"
say "ready: GET /health answered 200 after $(( ($(date +%s%N) - START_NS) / 1000000 )) ms"

# --- 2. the container health check command, exactly as ECS runs it --------------------------
healthy || fail "\`stratus healthcheck\` (no URL: the HEALTHCHECK / ECS healthCheck command) did not succeed"
healthy "$BASE/health/live" || fail "GET /health/live did not answer 200"
say "ok: \`stratus healthcheck\` (default URL from STRATUS_LISTEN) and /health/live answer 200"

# --- 3. JSON log lines ----------------------------------------------------------------------
python3 - "$WORK/stdout.log" "$WORK/stderr.log" <<'PY' || fail "log lines are not JSON objects with a top-level \"level\" (the CloudWatch metric filters need that)"
import json, sys
lines = [l for f in sys.argv[1:] for l in open(f, encoding="utf-8", errors="replace") if l.strip()]
if not lines:
    sys.exit("no log lines at all")
for line in lines:
    record = json.loads(line)
    if not isinstance(record, dict) or "level" not in record:
        sys.exit(f"not a JSON object with a level: {line.strip()[:200]}")
PY
say "ok: every log line is JSON with a top-level \"level\""

# --- 4. graceful shutdown -------------------------------------------------------------------
say "sending SIGTERM (what ECS does on scale-in, deployment or stop)"
STOP_NS=$(date +%s%N)
kill -TERM "$PID"

turned=""
for _ in $(seq 20); do
  if ! healthy "$BASE/health"; then turned=1; break; fi
  sleep 0.1
done
[ -n "$turned" ] || fail "/health still answered 200 two seconds after SIGTERM (the ALB would keep routing to a stopping task)"
kill -0 "$PID" 2>/dev/null || fail "the app exited at once on SIGTERM instead of draining for STRATUS_DRAIN_SECONDS"
healthy "$BASE/health/live" || fail "the app stopped serving right after SIGTERM; it must keep serving while it drains"
say "ok: draining: /health is no longer 200, /health/live still serves"

code=""
for _ in $(seq $(( STOP_TIMEOUT * 10 ))); do
  if ! kill -0 "$PID" 2>/dev/null; then
    set +e; wait "$PID"; code=$?; set -e
    break
  fi
  sleep 0.1
done
elapsed_ms=$(( ($(date +%s%N) - STOP_NS) / 1000000 ))
if [ -z "$code" ]; then
  fail "still running ${STOP_TIMEOUT} s after SIGTERM: ECS would SIGKILL it mid-request"
fi
PID=""
[ "$code" -eq 0 ] || fail "exit status $code after SIGTERM (want 0)"
[ "$elapsed_ms" -le 25000 ] || fail "took ${elapsed_ms} ms to stop, more than STRATUS_SHUTDOWN_TIMEOUT (25 s)"
say "ok: exited 0, ${elapsed_ms} ms after SIGTERM (drain 5 s, shutdown timeout 25 s, ECS stopTimeout ${STOP_TIMEOUT} s)"

# --- glibc floor for the EC2 variant (Amazon Linux 2023 ships glibc 2.34) -------------------
if command -v objdump >/dev/null 2>&1; then
  need="$(objdump -T "$BIN" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)"
  if [ -n "$need" ]; then
    if [ "$(printf '%s\n%s\n' "$need" 2.34 | sort -V | tail -n 1)" = "2.34" ]; then
      say "ok: needs glibc >= $need (Debian bookworm 2.36 and Amazon Linux 2023 2.34 both run it)"
    else
      fail "needs glibc $need, newer than Amazon Linux 2023's 2.34: the asg_service variant could not run it"
    fi
  fi
fi

say "PASS: the binary behaves as the task definition, the ALB and ECS expect"
