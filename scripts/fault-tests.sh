#!/usr/bin/env bash
# The fault suite: the local production topology (scripts/stack), seven faults under load, four more on
# instances of their own (a full disk, a bad link to PostgreSQL, failing AWS services in front of moto, a
# crash loop on SQLite), and schemathesis fuzzing of the JSON API; then docs/reliability.md is written from
# what was measured.
#
#   STRATUS_BIN=/abs/path/to/stratus scripts/fault-tests.sh
#
# STRATUS_BIN is required: the binary is never built here (scripts/test.sh builds it once). Installs what
# is missing (Debian: postgresql haproxy nginx openssl wrk curl python3-venv; PyPI: the pinned
# tests/fault/requirements.txt into .venv/fault, and scripts/test-services.sh's pinned moto into .venv/moto).
# Needs root for the full-disk fault (it mounts a small tmpfs). Exits non-zero when anything fails; nothing
# is skipped. Measurements and logs: test-output/fault/ (FAULT_OUTPUT_DIR). Takes about 7 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

: "${STRATUS_BIN:?set STRATUS_BIN to the stratus binary (scripts/test.sh does)}"
[ -x "$STRATUS_BIN" ] || { echo "STRATUS_BIN=$STRATUS_BIN is not an executable" >&2; exit 1; }
export STRATUS_BIN

# --- what the suite needs ----------------------------------------------------------------------------------
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null || need+=(openssl)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    if [ "$(id -u)" -ne 0 ]; then echo "need root to apt-get install ${need[*]}" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -q --no-install-recommends "${need[@]}"
fi

venv="$root/.venv/fault"
requirements="$root/tests/fault/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "creating $venv (pytest, schemathesis; pinned)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    echo "$want" >"$stamp"
fi

# moto for the AWS fault, the version scripts/test-services.sh pins (scripts/test.sh has usually made it).
moto_venv="$root/.venv/moto"
moto_version=$(sed -n 's/^MOTO_VERSION="\(.*\)"$/\1/p' scripts/test-services.sh)
if [ "$("$moto_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" != "$moto_version" ]; then
    log "creating $moto_venv (moto[server]==$moto_version)"
    rm -rf "$moto_venv"
    python3 -m venv "$moto_venv"
    "$moto_venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$moto_version"
fi
if [ "$(id -u)" -ne 0 ]; then echo "the full-disk fault mounts a tmpfs: run as root" >&2; exit 1; fi

# --- run -----------------------------------------------------------------------------------------------------
export FAULT_OUTPUT_DIR="${FAULT_OUTPUT_DIR:-$root/test-output/fault}"
started=$SECONDS
log "fault tests and API fuzzing on the local stack (scripts/stack)"
set +e
(cd tests/fault && "$venv/bin/python" -m pytest -v -p no:cacheprovider \
    --junitxml="$FAULT_OUTPUT_DIR/junit.xml" test_faults.py test_faults_more.py test_schemathesis.py)
status=$?
set -e
echo "$((SECONDS - started))" >"$FAULT_OUTPUT_DIR/suite-seconds.txt"

log "writing docs/reliability.md from the measurements"
"$venv/bin/python" tests/fault/report.py "$FAULT_OUTPUT_DIR" docs/reliability.md

if [ "$status" -ne 0 ]; then
    echo "fault suite FAILED (pytest exit $status); see $FAULT_OUTPUT_DIR and docs/reliability.md" >&2
    exit "$status"
fi
log "fault suite passed in $((SECONDS - started)) s"
