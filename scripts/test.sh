#!/usr/bin/env bash
# Runs every test of Stratus, installing and starting what the tests need first.
#
#   ./scripts/test.sh
#
# On a fresh Debian machine it installs (apt) PostgreSQL, OpenSSL, python3-venv and the other packages the
# tests use, creates the Python virtualenvs it needs under .venv/, starts PostgreSQL (with TLS) and moto on
# loopback with random ports, builds once, and runs: formatting and lint checks, the Rust unit and
# black-box tests, the offline infrastructure checks, and the task-definition smoke run. Any server that
# cannot start, or any missing tool, fails the run: nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

# --- system packages -----------------------------------------------------------------------------------
need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v curl >/dev/null || need_apt+=(curl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "need root (or sudo) to apt-get install ${need_apt[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is not installed: install the stable Rust toolchain (https://rustup.rs), then run this again" >&2
  exit 1
fi

# --- static checks -------------------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --all-targets -- -D warnings

log "CI, Dockerfile and shell lint (actionlint, zizmor, hadolint, shellcheck)"
scripts/lint-ci.sh

log "cargo deny (advisories from ../shared/advisory-db, licenses, bans, sources)"
scripts/cargo-deny.sh

# --- build once ----------------------------------------------------------------------------------------
log "building the tests"
cargo test --locked --no-run
export STRATUS_BIN="$root/target/debug/stratus"

# --- servers the tests talk to ---------------------------------------------------------------------------
log "starting PostgreSQL and moto on loopback"
services_env=$(scripts/test-services.sh start)
eval "$services_env"
trap 'scripts/test-services.sh stop >/dev/null 2>&1 || true' EXIT

# --- tests ---------------------------------------------------------------------------------------------
log "cargo test"
cargo test --locked -- --test-threads="${STRATUS_TEST_THREADS:-4}"

log "infrastructure checks (checkov + HCL invariants)"
scripts/check-infra.sh

log "running the binary the way the ECS task definition does"
scripts/run-like-task.sh

log "Terraform offline: validate, terraform test, apply/deploy/destroy dev, EC2 and prod against moto, the service on the result"
scripts/terraform-tests.sh

log "browser tests (Debian's Chromium, axe-core)"
scripts/browser-tests.sh

log "fault tests on the local production topology (PostgreSQL, 3 instances, HAProxy, nginx) and API fuzzing"
scripts/fault-tests.sh

log "all tests passed"
