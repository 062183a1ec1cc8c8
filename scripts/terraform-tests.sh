#!/usr/bin/env bash
# The AWS deployment in infra/, run for real offline: Terraform 1.11 with the AWS provider 5.100 from the
# machine's filesystem mirror, against moto's server on loopback.
#
#   STRATUS_BIN=/abs/path/to/stratus scripts/terraform-tests.sh
#
#   1. terraform fmt -check; init -backend=false + validate of every module and both environments
#   2. terraform test (mock provider) in every module and environment that has tests/: plan-level
#      assertions (security-group chain, health check and timing chain, IAM scopes, the task
#      definition's names against `stratus config --list-env`, what moto cannot create)
#   3. three configurations, in parallel, each against its own moto server (infra/tools/tfmoto.py):
#      envs/dev (ECS), envs/dev with compute = "asg", envs/prod with CDN, WAF and HTTPS. Each: plan,
#      scripts/aws bootstrap (state bucket, image repository or release bucket, apply), scripts/aws
#      deploy (dev, asg), a second plan (only moto's known drift may show), destroy (empty state)
#   4. in envs/dev before its destroy: the service on what Terraform created (infra/tools/serve_on_state.py)
#   5. a table of planned / applied / left out / destroyed, written to test-output/terraform/
#
# Installs what it needs on a fresh Debian machine (a venv with moto[server], boto3 and the AWS CLI
# under .venv/tf-moto; PostgreSQL through scripts/test-services.sh when none is given). Terraform and
# the provider mirror cannot be installed from here: when either is missing it fails and says which.
set -euo pipefail

MOTO_VERSION="5.2.6"
AWSCLI_VERSION="1.46.3"
PROVIDER_VERSION="5.100.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${TERRAFORM_TESTS_OUTPUT:-$ROOT/test-output/terraform}"
START=$SECONDS

say() { printf '==> [%4ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf 'terraform-tests: %s\n' "$*" >&2; exit 1; }

# --- what cannot be installed here: terraform and the provider mirror ---------------------------------
command -v terraform >/dev/null || die "terraform is not on the PATH: this machine kind ships Terraform 1.11 (../shared/notes/terraform-offline.md); it cannot be downloaded here"
TF_VERSION="$(TF_CLI_CONFIG_FILE=/dev/null terraform version -json | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')"
[ "$(printf '%s\n1.11.0\n' "$TF_VERSION" | sort -V | head -n 1)" = "1.11.0" ] || die "terraform $TF_VERSION is too old: 1.11 or newer is needed (terraform test's override_during)"

find_mirror() {
    local candidate
    if [ -n "${TF_PROVIDER_MIRROR:-}" ]; then printf '%s\n' "$TF_PROVIDER_MIRROR"; return 0; fi
    for candidate in /opt/tf-plugins /usr/local/share/terraform/plugins /usr/share/terraform/plugins \
        "$HOME/.terraform.d/plugins" "$HOME/.local/share/terraform/plugins"; do
        if [ -d "$candidate/registry.terraform.io/hashicorp/aws/$PROVIDER_VERSION" ]; then printf '%s\n' "$candidate"; return 0; fi
    done
    candidate="$(timeout 120 find / -xdev -name 'terraform-provider-aws_*' -path '*registry.terraform.io*' 2>/dev/null | head -n 1 || true)"
    [ -n "$candidate" ] || return 1
    printf '%s\n' "${candidate%%/registry.terraform.io/*}"
}
MIRROR="$(find_mirror)" || die "no filesystem mirror with registry.terraform.io/hashicorp/aws was found (looked in /opt/tf-plugins and the usual plugin folders, then the whole disk); set TF_PROVIDER_MIRROR to the folder above registry.terraform.io"
[ -d "$MIRROR/registry.terraform.io/hashicorp/aws/$PROVIDER_VERSION" ] ||
    die "the mirror $MIRROR has no hashicorp/aws $PROVIDER_VERSION (it has: $(find "$MIRROR/registry.terraform.io/hashicorp/aws" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null))"
[ -n "${STRATUS_BIN:-}" ] || die "STRATUS_BIN is not set (scripts/test.sh sets it)"
case "$STRATUS_BIN" in /*) ;; *) STRATUS_BIN="$ROOT/$STRATUS_BIN" ;; esac
[ -x "$STRATUS_BIN" ] || die "STRATUS_BIN=$STRATUS_BIN is not an executable"
export STRATUS_BIN

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stratus-terraform.XXXXXX")"
MOTO_PIDS=()
OWN_SERVICES=""
cleanup() {
    local pid
    for pid in "${MOTO_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$OWN_SERVICES" ]; then "$ROOT/scripts/test-services.sh" stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$OUT"
mkdir -p "$OUT"

# The mirror, and nothing else, for every terraform command here; one plugin cache so each init links
# the 675 MB provider instead of copying it.
export TF_CLI_CONFIG_FILE="$WORK/cli.tfrc"
mkdir -p "$WORK/plugin-cache"
cat >"$TF_CLI_CONFIG_FILE" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
plugin_cache_dir = "$WORK/plugin-cache"
# No lock files in these throwaway copies: without this, every init reinstalls into the cache (and
# parallel inits race there).
plugin_cache_may_break_dependency_lock_file = true
EOF
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
say "terraform $TF_VERSION, provider hashicorp/aws $PROVIDER_VERSION from $MIRROR"

# --- Python: moto's server, boto3, the AWS CLI (scripts/aws) ------------------------------------------
VENV="$ROOT/.venv/tf-moto"
PINS="moto[server]==$MOTO_VERSION awscli==$AWSCLI_VERSION"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stratus-pins" 2>/dev/null)" != "$PINS" ]; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        say "installing python3-venv (apt)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || die "apt-get update failed"
        apt-get install -y -q python3-venv >/dev/null || die "apt-get install python3-venv failed"
    fi
    say "preparing $VENV ($PINS)"
    mkdir -p "$ROOT/.venv"
    [ -f "$ROOT/.venv/.gitignore" ] || printf '*\n' >"$ROOT/.venv/.gitignore"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086 # the pins are separate words on purpose
    "$VENV/bin/pip" install -q --disable-pip-version-check $PINS boto3 || die "pip install $PINS failed"
    printf '%s' "$PINS" >"$VENV/.stratus-pins"
fi
export PATH="$VENV/bin:$PATH"

# --- 1. fmt, init, validate ---------------------------------------------------------------------------
say "terraform fmt -check -recursive infra"
terraform fmt -check -recursive infra >"$OUT/fmt.log" 2>&1 || { sed 's/^/  needs fmt: /' "$OUT/fmt.log" >&2; die "terraform fmt found unformatted files"; }

cp -r infra "$WORK/infra"
rm -rf "$WORK"/infra/{modules,envs}/*/.terraform "$WORK"/infra/{modules,envs}/*/.terraform.lock.hcl
# The cdn module takes an aliased provider (configuration_aliases), which `validate` needs a caller
# for: a generated root passes both.
mkdir -p "$WORK/infra/validate-cdn"
cat >"$WORK/infra/validate-cdn/main.tf" <<'EOF'
provider "aws" {
  region = "eu-west-1"
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

module "cdn" {
  source = "../modules/cdn"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }
  name               = "stratus-validate"
  origin_domain_name = "origin.stratus.test"
  origin_secret      = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
}
EOF
ROOTS=()
for d in "$WORK"/infra/modules/* "$WORK"/infra/envs/* "$WORK/infra/validate-cdn"; do ROOTS+=("$d"); done
first=1
for d in "${ROOTS[@]}"; do
    name="${d#"$WORK"/infra/}"
    # The first init fills the plugin cache; the others only link to it (and may then run at once).
    if [ -n "$first" ]; then
        terraform -chdir="$d" init -backend=false -input=false -no-color >"$OUT/init.log" 2>&1 || { cat "$OUT/init.log" >&2; die "terraform init -backend=false failed in $name"; }
        first=""
    fi
done
validate() { # DIR
    local d="$1" name="${1#"$WORK"/infra/}" log
    log="$OUT/validate-${name//\//-}.log"
    terraform -chdir="$d" init -backend=false -input=false -no-color >"$log" 2>&1 || { echo "init failed: $name"; return 1; }
    if [ "$name" = modules/cdn ]; then echo "skipped standalone (aliased provider): validated through validate-cdn" >>"$log"; return 0; fi
    terraform -chdir="$d" validate -no-color >>"$log" 2>&1 || { echo "validate failed: $name"; return 1; }
}
say "terraform init -backend=false + validate: ${#ROOTS[@]} roots (10 modules, 2 environments, the cdn module through a caller)"
failed=0
pids=()
for d in "${ROOTS[@]}"; do validate "$d" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ "$failed" -eq 0 ] || { cat "$OUT"/validate-*.log >&2; die "validate failed (logs in $OUT)"; }

# --- 2. terraform test (mock provider) ------------------------------------------------------------------
ENV_NAMES="$("$STRATUS_BIN" config --list-env | python3 -c 'import json,sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()]))')"
[ "$ENV_NAMES" != "[]" ] || die "\`stratus config --list-env\` printed nothing"
TESTED=()
for d in "$WORK"/infra/modules/* "$WORK"/infra/envs/*; do
    if compgen -G "$d/tests/*.tftest.hcl" >/dev/null; then TESTED+=("$d"); fi
done
say "terraform test (mock provider) in ${#TESTED[@]} roots, two at a time"
tftest() { # DIR
    local d="$1" name="${1#"$WORK"/infra/}" log args=()
    log="$OUT/test-${name//\//-}.log"
    grep -q 'var.binary_env_names' "$d"/tests/*.tftest.hcl && args=(-var "binary_env_names=$ENV_NAMES")
    if terraform -chdir="$d" test -no-color "${args[@]}" >"$log" 2>&1; then
        printf '    %-24s %s\n' "$name" "$(grep -E '^(Success|Failure)!' "$log")"
    else
        printf '    %-24s %s\n' "$name" "$(grep -E '^(Success|Failure)!' "$log" || echo 'did not run')"
        return 1
    fi
}
failed=0
for ((i = 0; i < ${#TESTED[@]}; i += 2)); do
    pids=()
    tftest "${TESTED[$i]}" & pids+=($!)
    if [ $((i + 1)) -lt ${#TESTED[@]} ]; then tftest "${TESTED[$((i + 1))]}" & pids+=($!); fi
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
done
if [ "$failed" -ne 0 ]; then
    grep -h -B2 -A12 '^Error' "$OUT"/test-*.log >&2 || true
    die "terraform test failed (logs in $OUT)"
fi
python3 - "$OUT" <<'PY'
import re, sys, pathlib
passed = failed = 0
for log in pathlib.Path(sys.argv[1]).glob("test-*.log"):
    m = re.search(r"(\d+) passed, (\d+) failed", log.read_text())
    if m:
        passed, failed = passed + int(m.group(1)), failed + int(m.group(2))
print(f"terraform test: {passed} passed, {failed} failed")
PY

# --- 3. PostgreSQL for the service run ------------------------------------------------------------------
if [ -z "${STRATUS_TEST_POSTGRES_URL:-}" ] || [ -z "${STRATUS_TEST_POSTGRES_TLS_ROOT_CERT:-}" ]; then
    say "starting PostgreSQL (scripts/test-services.sh)"
    services_env="$("$ROOT/scripts/test-services.sh" start)" || die "could not start PostgreSQL"
    eval "$services_env"
    OWN_SERVICES=1
fi

# --- 4. three configurations against three moto servers ------------------------------------------------
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_moto() { # NAME -> port on stdout
    local port pid
    port="$(freeport)"
    MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ACM_VALIDATION_WAIT=0 MOTO_ECS_SERVICE_RUNNING=1 \
        "$VENV/bin/python" "$ROOT/infra/tools/moto_server.py" "$port" >"$OUT/moto-$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        if curl -sf -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
            echo "$pid $port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    cat "$OUT/moto-$1.log" >&2
    die "moto did not start for $1"
}

ADMIN_PASSWORD="tf-admin-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
ADMIN_HASH="$(printf '%s' "$ADMIN_PASSWORD" | "$STRATUS_BIN" hash-password)" || die "stratus hash-password failed"
export STRATUS_ADMIN_PASSWORD="$ADMIN_PASSWORD"
STRATUS_API_TOKEN="tf-token-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export STRATUS_API_TOKEN
API_TOKEN_SHA256="$(printf '%s' "$STRATUS_API_TOKEN" | sha256sum | cut -d' ' -f1)"
# The EC2 variant's release: any executable does, moto runs no instance (the upload path is what counts).
cp /usr/bin/true "$WORK/release-binary"

say "apply, deploy, second plan, destroy: envs/dev (ECS), envs/dev (EC2 Auto Scaling), envs/prod (CDN, WAF, HTTPS), in parallel"
declare -A RUN_PID
for config in dev asg prod; do
    read -r mpid mport < <(start_moto "$config")
    MOTO_PIDS+=("$mpid")
    extra=()
    if [ "$config" = dev ]; then
        extra=(--serve "$VENV/bin/python $ROOT/infra/tools/serve_on_state.py" --admin-hash "$ADMIN_HASH"
            --api-token-sha256 "$API_TOKEN_SHA256")
    fi
    "$VENV/bin/python" "$ROOT/infra/tools/tfmoto.py" run --config "$config" --work "$WORK/$config" --port "$mport" \
        --report "$OUT/$config.json" --release-binary "$WORK/release-binary" "${extra[@]}" \
        >"$OUT/$config.log" 2>&1 &
    RUN_PID[$config]=$!
done
failed=0
for config in dev asg prod; do
    if wait "${RUN_PID[$config]}"; then
        say "$config: passed"
    else
        failed=1
        say "$config: FAILED"
        sed 's/^/    /' "$OUT/$config.log" >&2
    fi
    cp -r "$WORK/$config/logs" "$OUT/$config-logs" 2>/dev/null || true
done

# --- 5. the numbers -----------------------------------------------------------------------------------
python3 - "$OUT" "$((SECONDS - START))" <<'PY'
import json, sys, pathlib
out, total = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = []
for config, label in (("dev", "envs/dev, ECS"), ("asg", "envs/dev, compute = \"asg\""), ("prod", "envs/prod, CDN + WAF + HTTPS")):
    try:
        r = json.loads((out / f"{config}.json").read_text())
    except FileNotFoundError:
        rows.append((label, "-", "-", "-", "-", "-", "-", "no report"))
        continue
    t = r.get("timings", {})
    rows.append((label, r.get("planned", "-"), r.get("applied", "-"), len(r.get("excluded", [])), r.get("destroyed", "-"),
                 f"{t.get('bootstrap', '-')}", f"{t.get('destroy', '-')}", "ok" if r["ok"] else "FAILED"))
head = ("configuration", "planned", "applied", "left out (moto)", "destroyed", "bootstrap s", "destroy s", "result")
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
table = "\n".join(lines)
(out / "summary.md").write_text(table + f"\n\nWhole script: {total} s.\n")
print(table)
PY
say "finished in $((SECONDS - START)) s (reports and logs in $OUT)"
[ "$failed" -eq 0 ] || die "a configuration failed against moto (see above)"
echo "terraform-tests: all passed"
