#!/usr/bin/env python3
"""One Stratus configuration, applied and destroyed for real against moto's server.

    tfmoto.py run --config dev|asg|prod --work DIR --port PORT --report FILE [--serve CMD]

Called by scripts/terraform-tests.sh, one process per configuration, each with its own moto server:

  1. copies infra/ into DIR and drops two generated files into the environment root, never into the
     repository: moto_override.tf (every AWS endpoint of the provider, and of the S3 backend, points at
     moto; fake credentials) and terraform.tfvars (the configuration's settings);
  2. `terraform init` + `plan` with a local backend, to count what the configuration plans and to find
     what moto cannot create (MOTO_CANNOT_CREATE, and everything that depends on them, from
     `terraform graph`): those are left out with -target and listed in the report;
  3. `scripts/aws bootstrap` (S3 state bucket in moto, image repository or release bucket, the full
     apply with the -target list after `--`), then `scripts/aws deploy` where moto can run it;
  4. a second `plan`: nothing may change but the attributes moto does not echo back (MOTO_DRIFT);
  5. optionally the service itself on what was applied (--serve: a command given the state);
  6. `terraform destroy`, then the state must be empty.

The report (JSON) has the counts and timings that docs/deploy-aws.md quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]

# What moto's server cannot create, with what it answers. docs/deploy-aws.md lists the same; the
# resources are covered by the `terraform test` files instead (mock provider, plan-level assertions).
MOTO_CANNOT_CREATE = {
    "aws_appautoscaling_target": "RegisterScalableTarget works, then ListTagsForResource answers 500 "
    "(NotImplementedError: the applicationautoscaling backend has no tagging); the provider leaves the "
    "target tainted and every later refresh fails on it",
    "aws_cloudfront_cache_policy": "CreateCachePolicy answers 500 (NotImplementedError)",
    "aws_cloudfront_response_headers_policy": "CreateResponseHeadersPolicy answers 500 (NotImplementedError)",
}

# What moto can create but not update: scripts/aws deploy (EC2) changes the launch template, and the
# group's instance refresh is a call moto does not have. The deploy's apply and the second plan leave
# these out (-target); the asg_service `terraform test` checks the instance_refresh settings.
MOTO_CANNOT_UPDATE = {
    "aws_autoscaling_group": "StartInstanceRefresh answers 500 (NotImplementedError), so a launch template "
    "change cannot roll through the group",
}

# Attributes moto does not echo back as AWS does: a second plan shows them as in-place changes.
MOTO_DRIFT = {
    "aws_db_parameter_group": {"parameter"},
    "aws_ecs_service": {
        "availability_zone_rebalancing",
        "enable_ecs_managed_tags",
        "enable_execute_command",
        "health_check_grace_period_seconds",
    },
    "aws_kms_key": {"rotation_period_in_days"},
    "aws_vpc_security_group_egress_rule": {"description", "referenced_security_group_id"},
    "aws_vpc_security_group_ingress_rule": {"description", "referenced_security_group_id"},
    "aws_autoscaling_group": {
        "enabled_metrics",
        "default_instance_warmup",
        "instance_refresh",
        "health_check_type",
        "health_check_grace_period",
        "target_group_arns",
        "tag",
    },
    "aws_lb_target_group": {"health_check"},
}

# Attributes moto ignores on create that force a replacement when the second plan compares them:
# ACM's RequestCertificate drops KeyAlgorithm and describes every certificate as RSA_2048.
MOTO_REPLACE = {
    "aws_acm_certificate": {"key_algorithm"},
}

SERVICES = (
    "acm applicationautoscaling autoscaling cloudfront cloudwatch dynamodb ec2 ecr ecs elb elbv2 iam "
    "kms logs rds route53 s3 secretsmanager servicediscovery sns ssm sts wafv2"
).split()

REGION = "eu-west-1"
GITHUB_REPOSITORY = "example-org/stratus"
ZONE_NAME = "stratus.test"


class Failure(Exception):
    pass


def log(config: str, message: str) -> None:
    print(f"[{config}] {message}", flush=True)


# --- files dropped into the copy -------------------------------------------------------------------


def provider_block(port: int, alias: str | None = None) -> str:
    lines = ['provider "aws" {']
    if alias:
        lines.append(f'  alias = "{alias}"')
    lines += [
        '  access_key                  = "test"',
        '  secret_key                  = "test"',
        "  skip_credentials_validation = true",
        "  skip_metadata_api_check     = true",
        "  skip_requesting_account_id  = true",
        "  skip_region_validation      = true",
        "  s3_use_path_style           = true",
        # The default of 25 retries turns one moto 500 into minutes of waiting.
        "  max_retries                 = 1",
        "  endpoints {",
    ]
    lines += [f'    {s} = "http://127.0.0.1:{port}"' for s in SERVICES]
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def backend_block(port: int, kind: str) -> str:
    if kind == "local":
        return 'terraform {\n  backend "local" {}\n}\n'
    endpoint = f"http://127.0.0.1:{port}"
    return f"""terraform {{
  backend "s3" {{
    endpoints = {{
      s3  = "{endpoint}"
      sts = "{endpoint}"
      iam = "{endpoint}"
    }}
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }}
}}
"""


def write_override(env_dir: Path, port: int, backend: str) -> None:
    text = "# Generated by infra/tools/tfmoto.py for the offline tests: every AWS call goes to moto.\n"
    text += provider_block(port) + provider_block(port, "us_east_1") + backend_block(port, backend)
    (env_dir / "moto_override.tf").write_text(text)


def tfvars(config: str, extra: dict) -> str:
    values = {"region": REGION, "github_repository": GITHUB_REPOSITORY, "alarm_emails": ["ops@stratus.test"]}
    if config == "asg":
        values["compute"] = "asg"
    if config == "prod":
        values["deletion_protection"] = False  # so that destroy runs without a manual step
    values.update(extra)
    out = []
    for k, v in values.items():
        out.append(f"{k} = {json.dumps(v)}")
    return "\n".join(out) + "\n"


# --- terraform ---------------------------------------------------------------------------------------


class Runner:
    def __init__(self, config: str, work: Path, port: int, env_name: str):
        self.config = config
        self.work = work
        self.port = port
        self.env_dir = work / "infra" / "envs" / env_name
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.update(
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            AWS_EC2_METADATA_DISABLED="true",
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
        )
        self.timings: dict[str, float] = {}

    def run(self, name: str, args: list[str], *, cwd: Path | None = None, check: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:
        started = time.monotonic()
        logfile = self.logs / f"{name}.log"
        with open(logfile, "w") as out:
            proc = subprocess.run(args, cwd=cwd or self.env_dir, env=env or self.env, stdout=out,
                                  stderr=subprocess.STDOUT, text=True)
        self.timings[name] = round(time.monotonic() - started, 1)
        if check and proc.returncode != 0:
            tail = "".join(open(logfile).readlines()[-40:])
            raise Failure(f"{name} failed (exit {proc.returncode}); last lines of {logfile}:\n{tail}")
        return proc

    def tf(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(name, ["terraform", *args], check=check)

    def tf_json(self, *args: str) -> dict:
        proc = subprocess.run(["terraform", *args], cwd=self.env_dir, env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise Failure(f"terraform {' '.join(args)} failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout)

    def aws(self, service: str, region: str = REGION):
        return boto3.client(service, region_name=region, endpoint_url=self.env["AWS_ENDPOINT_URL"],
                            aws_access_key_id="test", aws_secret_access_key="test")


def config_address(instance_address: str) -> str:
    """module.a[0].aws_x.y["k"] -> module.a.aws_x.y (what `terraform graph` names)."""
    return re.sub(r"\[[^\]]*\]", "", instance_address)


def excluded_addresses(graph_dot: str, planned: set[str], kinds: dict = MOTO_CANNOT_CREATE) -> set[str]:
    """Config addresses of what moto cannot create and of everything that depends on them.

    `terraform graph` is the configuration's graph: it also holds resources with no instance in this
    configuration (count = 0, such as the cdn module in dev). Those block nothing, so only resources
    with planned instances (`planned`, config addresses) seed the set or carry it on.
    """
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', graph_dot)  # "A" -> "B": A depends on B
    dependents: dict[str, set[str]] = {}
    nodes = set(re.findall(r'^\s*"([^"]+)" \[label=', graph_dot, re.M))
    for src, dst in edges:
        dependents.setdefault(dst, set()).add(src)
    seeds = {n for n in nodes if n in planned and n.rsplit(".", 2)[-2] in kinds}
    out, todo = set(), list(seeds)
    while todo:
        n = todo.pop()
        if n in out or n not in planned:
            continue
        out.add(n)
        todo.extend(dependents.get(n, ()))
    return out


def managed_creates(plan: dict) -> list[str]:
    return [rc["address"] for rc in plan.get("resource_changes", [])
            if rc["mode"] == "managed" and "create" in rc["change"]["actions"]]


def unexpected_changes(plan: dict) -> tuple[list[str], list[str]]:
    """(changes moto's drift explains, changes it does not) in a second plan.

    Explained: an update of only MOTO_DRIFT attributes; a replacement forced only by MOTO_REPLACE
    attributes; and, once something is explained, a change forced only by values that are unknown in
    the plan (in a second plan nothing is unknown unless something it depends on changes).
    """
    explained, unexplained, consequences = [], [], []
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        before, after = rc["change"].get("before") or {}, rc["change"].get("after") or {}
        unknown = {k for k, v in (rc["change"].get("after_unknown") or {}).items() if v}
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        forcing = {p[0] for p in rc["change"].get("replace_paths") or [] if p}
        line = f"{rc['address']} {'/'.join(actions)}: {', '.join(changed)}"
        if actions == ["update"] and changed and set(changed) <= MOTO_DRIFT.get(rc["type"], set()):
            explained.append(line)
        elif "delete" in actions and "create" in actions and forcing and forcing <= MOTO_REPLACE.get(rc["type"], set()):
            explained.append(line + f" (replaced: moto ignores {', '.join(sorted(forcing))})")
        elif ("delete" in actions and "create" in actions and forcing and forcing <= unknown) or (
                actions == ["update"] and changed and set(changed) <= unknown):
            consequences.append(line + " (follows a change above)")
        else:
            unexplained.append(line)
    if explained:
        explained += consequences
    else:
        unexplained += consequences
    return explained, unexplained


# --- the configuration's life --------------------------------------------------------------------------


def prepare(r: Runner, args) -> None:
    if r.work.exists():
        shutil.rmtree(r.work / "infra", ignore_errors=True)
    r.work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "infra", r.work / "infra", ignore=shutil.ignore_patterns(
        ".terraform", "*.tfstate*", ".terraform.lock.hcl", "__pycache__", "tests"))
    extra: dict = {}
    # The operator's admin secret, made before the stack as docs/deploy-aws.md says (an argon2id PHC string).
    if args.admin_hash:
        sm = r.aws("secretsmanager")
        arn = sm.create_secret(Name=f"stratus-{args.config}/admin-password-hash", SecretString=args.admin_hash)["ARN"]
        extra["admin_password_hash_secret_arn"] = arn
    if args.api_token_sha256:
        sm = r.aws("secretsmanager")
        arn = sm.create_secret(Name=f"stratus-{args.config}/api-token-sha256", SecretString=args.api_token_sha256)["ARN"]
        extra["api_token_sha256_secret_arn"] = arn
    if args.config == "prod":
        # HTTPS on the ALB and a custom domain for CloudFront need a certificate and a zone: made first,
        # as an operator would (the "create the certificate and zone in moto first").
        acm = r.aws("acm")
        cert = acm.request_certificate(DomainName=f"origin.{ZONE_NAME}", ValidationMethod="DNS")["CertificateArn"]
        zone = r.aws("route53").create_hosted_zone(Name=ZONE_NAME, CallerReference=str(time.time()))
        zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
        extra.update(alb_certificate_arn=cert, origin_domain_name=f"origin.{ZONE_NAME}",
                     domain_names=[f"www.{ZONE_NAME}"], route53_zone_id=zone_id)
        # moto cannot create the distribution; its URL output is the custom domain's anyway, so the
        # task definition's STRATUS_PUBLIC_URL need not wait for it (the real module reads both).
        (r.work / "infra" / "modules" / "cdn" / "moto_override.tf").write_text(
            '# Generated by infra/tools/tfmoto.py: moto cannot create the distribution.\n'
            'output "url" {\n  value = "https://${var.domain_names[0]}"\n}\n')
    if args.config == "asg":
        # What CI (or scripts/aws bootstrap) prints for the operator's terraform.tfvars.
        import hashlib
        extra.update(asg_release_version="release-1",
                     asg_release_sha256=hashlib.sha256(Path(args.release_binary).read_bytes()).hexdigest())
    (r.env_dir / "terraform.tfvars").write_text(tfvars(args.config, extra))


def plan_and_exclusions(r: Runner) -> dict:
    write_override(r.env_dir, r.port, "local")
    r.tf("init-local", "init", "-input=false", "-no-color")
    r.tf("plan", "plan", "-input=false", "-no-color", "-out=full.tfplan")
    plan = r.tf_json("show", "-json", "full.tfplan")
    graph = subprocess.run(["terraform", "graph"], cwd=r.env_dir, env=r.env, capture_output=True, text=True, check=True).stdout
    planned = managed_creates(plan)
    excluded_cfg = excluded_addresses(graph, {config_address(a) for a in planned})
    excluded = [a for a in planned if config_address(a) in excluded_cfg]
    targets = [a for a in planned if a not in excluded]
    frozen_cfg = excluded_addresses(graph, {config_address(a) for a in planned}, MOTO_CANNOT_UPDATE)
    update_targets = [a for a in targets if config_address(a) not in frozen_cfg]
    (r.env_dir / "full.tfplan").unlink()
    shutil.rmtree(r.env_dir / ".terraform")
    (r.env_dir / ".terraform.lock.hcl").unlink(missing_ok=True)
    return {"planned": planned, "excluded": excluded, "targets": targets, "update_targets": update_targets}


def run_config(args) -> dict:
    env_name = "prod" if args.config == "prod" else "dev"
    r = Runner(args.config, Path(args.work), args.port, env_name)
    report: dict = {"config": args.config, "env": env_name, "ok": False}
    t0 = time.monotonic()
    try:
        log(args.config, "preparing the copy, the tfvars and what an operator makes first")
        prepare(r, args)
        log(args.config, "plan (local backend) and what moto cannot create")
        ex = plan_and_exclusions(r)
        report.update(planned=len(ex["planned"]), excluded=ex["excluded"])
        log(args.config, f"planned {len(ex['planned'])}, left out for moto {len(ex['excluded'])}")
        targets = [f"-target={a}" for a in ex["targets"]] if ex["excluded"] else []

        if args.config == "prod":
            check_prod_preconditions(r)

        # The real thing: scripts/aws bootstrap against moto, state in moto's S3.
        write_override(r.env_dir, r.port, "s3")
        env = dict(r.env, STRATUS_ENV_DIR=str(r.env_dir), STRATUS_IMAGE_PUSH="skip", CI="true")
        if args.config == "asg":
            env["STRATUS_RELEASE_BINARY"] = args.release_binary
        log(args.config, "scripts/aws bootstrap")
        r.run("bootstrap", [str(REPO / "scripts" / "aws"), "bootstrap", "--env", env_name, "--yes", "--", *targets],
              cwd=REPO, env=env)
        state = r.tf_json("show", "-json")
        applied = state_addresses(state)
        report["applied"] = len(applied)
        missing = sorted(set(ex["targets"]) - set(applied))
        if missing:
            raise Failure(f"planned and not left out, but not in the state after bootstrap: {missing[:10]}")
        log(args.config, f"bootstrap applied {len(applied)} of {len(ex['planned'])} in {r.timings['bootstrap']} s")

        if args.config in ("dev", "asg"):
            if len(ex["update_targets"]) < len(ex["targets"]):
                # The deploy changes what moto cannot update: leave that out from here on.
                frozen = sorted(set(ex["targets"]) - set(ex["update_targets"]))
                report["not_updated_by_moto"] = frozen
                targets = [f"-target={a}" for a in ex["update_targets"]]
                log(args.config, f"deploy leaves out what moto cannot update: {', '.join(frozen)}")
            log(args.config, "scripts/aws deploy")
            deploy = r.run("deploy", [str(REPO / "scripts" / "aws"), "deploy", "--env", env_name, "--yes",
                                      "--tag", "release-2", *(["--", *targets] if targets else [])],
                           cwd=REPO, env=env, check=False)
            report["deploy"] = "ok" if deploy.returncode == 0 else f"exit {deploy.returncode}"
            if deploy.returncode != 0:
                raise Failure("scripts/aws deploy failed:\n" + "".join(open(r.logs / "deploy.log").readlines()[-30:]))

        log(args.config, "second plan: only moto's known drift may show")
        r.tf("plan2", "plan", "-input=false", "-no-color", "-out=again.tfplan", *targets)
        again = r.tf_json("show", "-json", "again.tfplan")
        explained, unexplained = unexpected_changes(again)
        report["second_plan_moto_drift"] = explained
        if unexplained:
            raise Failure("the second plan changes more than moto's known drift:\n  " + "\n  ".join(unexplained))

        serve_error = None
        if args.serve:
            log(args.config, "running the service on what Terraform created")
            serve = r.run("serve", [*args.serve.split(), str(r.env_dir), r.env["AWS_ENDPOINT_URL"]], cwd=REPO, check=False)
            report["service_run"] = "ok" if serve.returncode == 0 else "FAILED"
            if serve.returncode != 0:
                # Destroy all the same (below), then fail.
                serve_error = "the service run on the applied state failed:\n" + "".join(open(r.logs / "serve.log").readlines()[-30:])
                log(args.config, serve_error)

        log(args.config, "terraform destroy")
        r.tf("destroy", "destroy", "-input=false", "-no-color", "-auto-approve")
        left = state_addresses(r.tf_json("show", "-json"))
        report["destroyed"] = report["applied"] - len(left)
        if left:
            raise Failure(f"destroy left {len(left)} resources in the state: {left[:10]}")
        if serve_error:
            raise Failure(serve_error)
        report["ok"] = True
    except Failure as e:
        report["error"] = str(e)
        log(args.config, f"FAILED: {e}")
    except Exception as e:  # noqa: BLE001 - report whatever broke, with the rest of the report
        report["error"] = f"{type(e).__name__}: {e}"
        log(args.config, f"FAILED: {report['error']}")
    finally:
        report["timings"] = r.timings
        report["seconds"] = round(time.monotonic() - t0, 1)
        Path(args.report).write_text(json.dumps(report, indent=2))
    return report


def state_addresses(state: dict) -> list[str]:
    out = []

    def walk(module: dict) -> None:
        for res in module.get("resources", []):
            if res["mode"] == "managed":
                out.append(res["address"])
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", {}).get("root_module", {}))
    return out


def check_prod_preconditions(r: Runner) -> None:
    """scripts/aws refuses prod without an issued certificate, and says what to set, before any change."""
    tfvars_path = r.env_dir / "terraform.tfvars"
    original = tfvars_path.read_text()
    try:
        tfvars_path.write_text(re.sub(r"^alb_certificate_arn = .*\n", "", original, flags=re.M))
        env = dict(r.env, STRATUS_ENV_DIR=str(r.env_dir), STRATUS_IMAGE_PUSH="skip", CI="true")
        proc = subprocess.run([str(REPO / "scripts" / "aws"), "bootstrap", "--env", "prod", "--yes"], cwd=REPO,
                              env=env, capture_output=True, text=True)
        if proc.returncode == 0 or "alb_certificate_arn" not in proc.stderr:
            raise Failure(f"scripts/aws bootstrap without a certificate: exit {proc.returncode}, {proc.stderr!r}")
        log(r.config, f"ok: without a certificate bootstrap stops: {proc.stderr.strip()[:120]}...")
    finally:
        tfvars_path.write_text(original)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--config", choices=["dev", "asg", "prod"], required=True)
    run.add_argument("--work", required=True)
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--report", required=True)
    run.add_argument("--serve", help="command run with (env dir, moto URL) after the second plan")
    run.add_argument("--admin-hash", help="argon2id hash stored as the operator's admin secret before apply")
    run.add_argument("--api-token-sha256", help="hex SHA-256 of the API token, stored as the operator's secret before apply")
    run.add_argument("--release-binary", help="asg: the binary scripts/aws uploads as the release")
    args = ap.parse_args()
    report = run_config(args)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
