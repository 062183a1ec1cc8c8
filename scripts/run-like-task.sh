#!/usr/bin/env bash
# Runs the Stratus release binary the way the ECS task definition runs the container, since no
# container engine runs on the development machines:
#
#   * the binary `cargo build --release --locked` builds (the Dockerfile's build), or $STRATUS_BIN
#   * the task definition's environment: the same names and values as infra/modules/ecs_service
#     (infra/modules/app_env's environment and local.secrets, prod values), except what cannot exist here: the listen
#     address is a free loopback port; the AWS resources Terraform creates are created in moto under
#     the same shapes (the files bucket with SSE-KMS under a KMS key, the file-metadata and board
#     tables with the key schemas `stratus config --dynamodb-schemas` prints, the RDS-style
#     {"username","password"} secret in Secrets Manager) and reached through AWS_ENDPOINT_URL;
#     DATABASE_URL is the local PostgreSQL (TLS, sslmode=verify-full, no password in the URL: the app
#     reads it from DATABASE_SECRET_ARN as in AWS) and PGSSLROOTCERT its test CA; the admin secrets
#     ECS would inject are a fixed argon2id hash and a token digest; nothing else leaks in (env -i)
#   * PostgreSQL and moto from scripts/test.sh (STRATUS_TEST_POSTGRES_URL, AWS_ENDPOINT_URL), or
#     started here with scripts/test-services.sh and stopped at the end
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
OWN_SERVICES=""
DB_NAME=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  if [ -n "$DB_NAME" ] && [ -z "$OWN_SERVICES" ]; then
    psql_admin -c "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null 2>&1 || true
  fi
  if [ -n "$OWN_SERVICES" ]; then "$ROOT/scripts/test-services.sh" stop >/dev/null 2>&1 || true; fi
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

# --- PostgreSQL and moto: the stand-ins for RDS and the AWS APIs ----------------------------
if [ -z "${STRATUS_TEST_POSTGRES_URL:-}" ] || [ -z "${AWS_ENDPOINT_URL:-}" ] || [ -z "${STRATUS_TEST_MOTO_VENV:-}" ]; then
  say "starting PostgreSQL and moto (scripts/test-services.sh)"
  services_env="$("$ROOT/scripts/test-services.sh" start)" || { echo "run-like-task: FAIL: could not start PostgreSQL and moto" >&2; exit 1; }
  eval "$services_env"
  OWN_SERVICES=1
fi
PSQL="$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)/psql"
[ -x "$PSQL" ] || PSQL="$(command -v psql || true)"
[ -n "$PSQL" ] || fail "psql is needed to create the task's database"
psql_admin() { "$PSQL" "$STRATUS_TEST_POSTGRES_URL" -v ON_ERROR_STOP=1 -q "$@"; }

# What Terraform creates (data module), made in moto and PostgreSQL under fresh names.
SUFFIX="$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
DB_NAME="stratus_task_$SUFFIX"
psql_admin -c "CREATE DATABASE $DB_NAME" >/dev/null || fail "could not create database $DB_NAME"
"$BIN" config --dynamodb-schemas >"$WORK/schemas.json" || fail "\`stratus config --dynamodb-schemas\` failed"
"$STRATUS_TEST_MOTO_VENV/bin/python" - "$WORK/schemas.json" "$SUFFIX" "$STRATUS_TEST_POSTGRES_URL" >"$WORK/aws.env" <<'PY' || fail "could not create the bucket, tables, key and secret in moto"
import json, sys, urllib.parse
import boto3

schemas, suffix, pg_url = json.load(open(sys.argv[1])), sys.argv[2], urllib.parse.urlsplit(sys.argv[3])
name = f"stratus-task-{suffix}"
aws = boto3.session.Session(region_name="eu-west-1")  # the task's AWS_REGION
kms = aws.client("kms")
key_arn = kms.create_key(Description=f"{name} (the security module's key)")["KeyMetadata"]["Arn"]

s3 = aws.client("s3")
bucket = f"{name}-files"
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
    "BucketKeyEnabled": True}]})

ddb = aws.client("dynamodb")
tables = {}
for schema in schemas:
    keys = [schema["hash_key"]] + ([schema["range_key"]] if schema.get("range_key") else [])
    attrs = {k["name"]: k["type"] for k in keys}
    gsis = []
    for g in schema.get("global_secondary_indexes", []):
        gkeys = [g["hash_key"]] + ([g["range_key"]] if g.get("range_key") else [])
        attrs.update({k["name"]: k["type"] for k in gkeys})
        gsis.append({"IndexName": g["name"], "Projection": {"ProjectionType": g["projection"]},
                     "KeySchema": [{"AttributeName": k["name"], "KeyType": t} for k, t in zip(gkeys, ("HASH", "RANGE"))]})
    table = f"{name}-{schema['role'].replace('_', '-')}"
    args = dict(TableName=table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in attrs.items()],
                KeySchema=[{"AttributeName": k["name"], "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"))])
    if gsis:
        args["GlobalSecondaryIndexes"] = gsis
    ddb.create_table(**args)
    tables[schema["role"]] = table

secret = aws.client("secretsmanager").create_secret(
    Name=f"rds!db-{suffix}", KmsKeyId=key_arn,
    SecretString=json.dumps({"username": pg_url.username, "password": urllib.parse.unquote(pg_url.password or "")}))

print(f"KMS_KEY_ARN={key_arn}")
print(f"FILES_BUCKET={bucket}")
print(f"BOARD_TABLE={tables['submissions']}")
print(f"FILE_METADATA_TABLE={tables['file_metadata']}")
print(f"DATABASE_SECRET_ARN={secret['ARN']}")
print(f"PG_HOSTPORT={pg_url.hostname}:{pg_url.port}")
PY
# shellcheck disable=SC1091
. "$WORK/aws.env"

# The admin secrets ECS injects from Secrets Manager: an argon2id PHC string (of the password
# "run-like-task-admin-password") and the hex SHA-256 of an API token.
# shellcheck disable=SC2016 # a literal PHC string: its $ signs are not expansions
ADMIN_PASSWORD_HASH='$argon2id$v=19$m=65536,t=3,p=4$Yh2FMKH1vIZXHEl/Yg7/Gw$gcG/gPINrbDciQmJCzIHyvn7GgXj822YfgyMlydYQk8'
API_TOKEN_SHA256="$(printf '%s' "run-like-task-api-token-$SUFFIX" | sha256sum | cut -d' ' -f1)"

# The task definition's environment (prod values), with the local substitutions described above.
TASK_ENV=(
  STRATUS_LISTEN="127.0.0.1:$PORT"
  STRATUS_LOG_FORMAT=json
  RUST_LOG=info
  AWS_REGION=eu-west-1
  STRATUS_CREATE_TABLES=false
  DATABASE_URL="postgres://postgres@$PG_HOSTPORT/$DB_NAME?sslmode=verify-full"
  DATABASE_SECRET_ARN="$DATABASE_SECRET_ARN"
  DATABASE_POOL_SIZE=10
  DATABASE_CONNECT_TIMEOUT=5
  DATABASE_STATEMENT_TIMEOUT=5
  PGSSLROOTCERT="$STRATUS_TEST_POSTGRES_TLS_ROOT_CERT"
  STRATUS_DRAIN_SECONDS=5
  STRATUS_SHUTDOWN_TIMEOUT=25
  STRATUS_REQUEST_TIMEOUT=10
  STRATUS_MAX_CONCURRENT_REQUESTS=256
  STRATUS_KEEP_ALIVE_TIMEOUT=75
  STRATUS_TRUSTED_PROXIES=10.40.0.0/16
  STRATUS_BOARD_URL="dynamodb://$BOARD_TABLE"
  STRATUS_FILES_URL="s3://$FILES_BUCKET/files"
  STRATUS_FILE_METADATA_URL="dynamodb://$FILE_METADATA_TABLE"
  STRATUS_S3_SSE=aws:kms
  STRATUS_S3_SSE_KMS_KEY_ID="$KMS_KEY_ARN"
  STRATUS_MAX_UPLOAD_BYTES=104857600
  STRATUS_ADMIN_USERNAME=admin
  STRATUS_SESSION_TTL=43200
  STRATUS_MIGRATE_ON_START=false
  STRATUS_PUBLIC_URL=https://www.stratus.test
  STRATUS_METRICS_EMF=1
  STRATUS_METRICS_NAMESPACE=Stratus
  STRATUS_SERVICE_NAME=stratus-prod
  STRATUS_ADMIN_PASSWORD_HASH="$ADMIN_PASSWORD_HASH"
  STRATUS_API_TOKEN_SHA256="$API_TOKEN_SHA256"
)
# Not the task definition's: what ECS gives every task (credentials of the task role, here moto's
# fake ones) and the stand-in endpoint for the AWS APIs.
SANDBOX_ENV=(
  PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK/root" TMPDIR="$WORK/tmp"
  AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
)

in_task() { (cd "$WORK/root" && env -i "${SANDBOX_ENV[@]}" "${TASK_ENV[@]}" "$@"); }
healthy() { in_task "$BIN" healthcheck "$@" >/dev/null 2>&1; }

# --- 0. the task's migrate init container ---------------------------------------------------
# The task definition runs `stratus migrate` in a container of its own before the app starts
# (dependsOn SUCCESS), and the app runs with STRATUS_MIGRATE_ON_START=false. (The two-role setup,
# master for migrate and the app's own role for serve, runs on Terraform's real state in
# scripts/terraform-tests.sh; here both use the one database user.)
in_task "$BIN" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; fail "\`stratus migrate\` (the migrate container) failed"; }
say "ok: \`stratus migrate\` (the task's init container) exited 0"

# --- 1. start and wait for readiness --------------------------------------------------------
say "starting $BIN serve on 127.0.0.1:$PORT (workdir read-only; PostgreSQL over TLS, S3 and DynamoDB in moto)"
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
