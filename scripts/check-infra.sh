#!/usr/bin/env bash
# Offline checks of the AWS deployment in infra/ (there is no Terraform or AWS access here):
#   1. checkov over infra/ (zero failed checks; every skip is inline in the resource, with a reason)
#   2. the module README tables are in sync with the variables and outputs (infra/tools/tfdocs.py)
#   3. terraform fmt -check, when a terraform binary happens to be installed
#   4. pytest infra/tests: parses all HCL with python-hcl2 and checks the invariants (security-group
#      chain, health path, timing chain, DynamoDB schemas and env names against the binary, IAM, ...)
#
# Usage: STRATUS_BIN=/abs/path/to/stratus scripts/check-infra.sh
# Installs what it needs on a fresh Debian machine: python3-venv from apt if missing, and two venvs
# under .venv/ in the repo root (checkov and python-hcl2 both ship a top-level `hcl2` package, so
# they cannot share one). Venvs are created only when missing or when the pins below change.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
HCL2_VERSION="8.1.4"
PYTEST_VERSION="9.0.2"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '==> %s\n' "$*"; }
die() { printf 'check-infra: %s\n' "$*" >&2; exit 1; }

# --- Python with venv support ---------------------------------------------------------------
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  say "installing python3 and python3-venv (apt)"
  command -v apt-get >/dev/null 2>&1 || die "python3 with venv is missing and apt-get is not available"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -q python3 python3-venv >/dev/null || die "apt-get install python3-venv failed"
fi

mkdir -p .venv
[ -f .venv/.gitignore ] || printf '*\n' > .venv/.gitignore   # keep the venvs out of git status

# ensure_venv DIR PKG...: create DIR if missing and install the pinned PKGs once per pin set.
ensure_venv() {
  local dir="$1"; shift
  local stamp="$dir/.stratus-pins" want="$*"
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "preparing $dir ($want)"
  if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir" || die "could not create $dir"
  fi
  "$dir/bin/python" -m pip install -q "$@" || die "pip install $want into $dir failed"
  printf '%s' "$want" > "$stamp"
}

ensure_venv .venv/checkov "checkov==$CHECKOV_VERSION"
ensure_venv .venv/hcl2 "python-hcl2==$HCL2_VERSION" "pytest==$PYTEST_VERSION"

status=0

# --- 1. checkov -----------------------------------------------------------------------------
say "checkov $CHECKOV_VERSION over infra/"
# --skip-download: never call the Prisma Cloud API (no network here; it only adds a traceback).
if ! .venv/checkov/bin/checkov -d infra --framework terraform --compact --quiet --skip-download; then
  echo "check-infra: checkov reported failed checks (or could not run)" >&2
  status=1
fi

# --- 2. README tables -----------------------------------------------------------------------
say "module README tables"
if ! .venv/hcl2/bin/python infra/tools/tfdocs.py --check; then
  status=1
fi

# --- 3. terraform fmt (optional) ------------------------------------------------------------
if command -v terraform >/dev/null 2>&1; then
  say "terraform fmt -check"
  if ! TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infra >/dev/null 2>&1; then
    TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infra 2>/dev/null | sed 's/^/  needs fmt: /' >&2 || true
    echo "check-infra: terraform fmt found unformatted files" >&2
    status=1
  fi
else
  say "terraform not installed: fmt -check runs in CI (.github/workflows/terraform.yml)"
fi

# --- 4. HCL invariants ----------------------------------------------------------------------
if [ -n "${STRATUS_BIN:-}" ]; then
  case "$STRATUS_BIN" in /*) ;; *) STRATUS_BIN="$ROOT/$STRATUS_BIN" ;; esac
  export STRATUS_BIN
fi
say "pytest infra/tests (STRATUS_BIN=${STRATUS_BIN:-unset})"
if ! .venv/hcl2/bin/python -m pytest infra/tests -p no:cacheprovider -q -rfE; then
  status=1
fi

if [ "$status" -ne 0 ]; then
  echo "check-infra: FAILED" >&2
else
  echo "check-infra: all infrastructure checks passed"
fi
exit "$status"
