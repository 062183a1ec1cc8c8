"""The ALB, the ECS task definition and the EC2 variant against the binary's contracts:
health routes, environment variable names, the shutdown timing chain."""

from __future__ import annotations

import re

import pytest

import binary
import hcl

HEALTH_ROUTES = {"/health/ready", "/health", "/health/live"}  # routes the binary serves (GET, 200 when healthy)
COMPUTE_MODULES = ("ecs_service", "asg_service")
APP_ENV = hcl.modules()["app_env"]


def scopes(module: str):
    """The module's defaults plus every environment's call of it."""
    out = [("defaults", hcl.default_scope(module))]
    for name, env in sorted(hcl.envs().items()):
        if module in env.module_calls:
            out.append((f"envs/{name}", hcl.env_scope(env, module)))
    return out


def env_pairs():
    """(label, alb scope, compute module, compute scope) for defaults and each environment."""
    pairs = []
    for compute in COMPUTE_MODULES:
        pairs.append((f"defaults/{compute}", hcl.default_scope("alb"), compute, hcl.default_scope(compute)))
        for name, env in sorted(hcl.envs().items()):
            if compute in env.module_calls:
                pairs.append((f"envs/{name}/{compute}", hcl.env_scope(env, "alb"), compute, hcl.env_scope(env, compute)))
    return pairs


def container_definitions() -> str:
    td = hcl.modules()["ecs_service"].resource("aws_ecs_task_definition", "this")
    return hcl.interpolations(td["container_definitions"])[0]


def app_container_definition() -> str:
    """The app container's part (after the migrate init container's)."""
    cd = container_definitions()
    return cd[cd.index("name = local.container_name"):]


def container_setting(name: str) -> str:
    m = re.search(rf"\b{name} = ([^,}}]+)", app_container_definition())
    assert m, f"container definition has no {name}"
    return m.group(1).strip()


def stop_timeout(compute: str, scope: hcl.Scope) -> int:
    if compute == "ecs_service":
        return hcl.resolve("${" + container_setting("stopTimeout") + "}", scope)
    template = (hcl.MODULES_DIR / "asg_service" / "templates" / "user_data.sh.tftpl").read_text()
    assert "TimeoutStopSec=${stop_timeout_seconds}" in template
    return scope.var("stop_timeout_seconds")


def app_env(compute: str, scope: hcl.Scope, key: str):
    """One variable of the app's environment as the compute module in `scope` renders it."""
    inner = hcl.child_scope(scope, "app_env")
    return hcl.resolve(inner.module.locals["environment"][key], inner)


# ---------------------------------------------------------------------------------------------
# Health checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label,scope", scopes("alb"), ids=[s[0] for s in scopes("alb")])
def test_alb_health_check_path_is_a_route_the_binary_serves(label, scope):
    hc = scope.module.resource("aws_lb_target_group", "this")["health_check"][0]
    assert hcl.resolve(hc["path"], scope) in HEALTH_ROUTES, label
    assert hc["matcher"] == "200"


@pytest.mark.parametrize("label,scope", scopes("alb"), ids=[s[0] for s in scopes("alb")])
def test_alb_health_check_timings_follow_seed_001(label, scope):
    hc = scope.module.resource("aws_lb_target_group", "this")["health_check"][0]
    assert hcl.resolve(hc["interval"], scope) == 30
    assert hcl.resolve(hc["healthy_threshold"], scope) == 2
    assert hcl.resolve(hc["unhealthy_threshold"], scope) == 3
    assert hcl.resolve(hc["timeout"], scope) < hcl.resolve(hc["interval"], scope)


def test_health_check_path_variable_only_allows_served_routes():
    for r in [hcl.modules()["alb"], *hcl.envs().values()]:
        var = r.variables["health_check_path"]
        # Readiness (draining, saturation), never the database: a database outage must not make ECS or
        # the ASG replace every target.
        assert var["default"] == "/health/ready"
        condition = var["validation"][0]["condition"]
        assert set(re.findall(r'"(/[^"]*)"', condition)) == HEALTH_ROUTES, f"{r.name}: {condition}"


def test_container_health_check_is_stratus_healthcheck():
    assert '["CMD", "/usr/local/bin/stratus", "healthcheck"]' in container_definitions()


def test_metrics_are_not_reachable_through_the_alb():
    rule = hcl.modules()["alb"].resource("aws_lb_listener_rule", "hide_metrics")
    assert rule["priority"] == 1
    assert rule["condition"][0]["path_pattern"][0]["values"] == ["/metrics", "/metrics/*"]
    action = rule["action"][0]
    assert action["type"] == "fixed-response" and action["fixed_response"][0]["status_code"] == "404"


def test_alb_drops_invalid_headers_and_logs_access():
    lb = hcl.modules()["alb"].resource("aws_lb", "this")
    assert lb["drop_invalid_header_fields"] is True
    assert lb["access_logs"][0]["enabled"] is True


def test_alb_requires_the_origin_secret_when_one_is_set():
    alb = hcl.modules()["alb"]
    rule = alb.resource("aws_lb_listener_rule", "origin_secret")
    assert hcl.inner(rule["condition"][0]["http_header"][0]["values"][0]) == "local.origin_secret"
    assert "aws_secretsmanager_secret_version.origin[0].secret_string" in alb.locals["origin_secret"]
    for listener in ("https", "http_forward"):
        action = alb.resource("aws_lb_listener", listener)["default_action"][0]
        assert hcl.inner(action["type"]) == 'local.require_origin ? "fixed-response" : "forward"'


def test_grace_period_matches_the_fast_start():
    svc = hcl.modules()["ecs_service"]
    assert svc.variables["health_check_grace_period_seconds"]["default"] == 30
    for name, env in hcl.envs().items():
        if "ecs_service" in env.module_calls:
            assert hcl.env_scope(env, "ecs_service").var("health_check_grace_period_seconds") <= 60, name


# ---------------------------------------------------------------------------------------------
# Shutdown timing chain: drain <= deregistration delay < shutdown timeout < stop timeout,
# ALB idle timeout < keep-alive timeout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label,alb,compute,scope", env_pairs(), ids=[p[0] for p in env_pairs()])
def test_deregistration_delay_fits_between_drain_and_shutdown(label, alb, compute, scope):
    delay = hcl.resolve(alb.module.resource("aws_lb_target_group", "this")["deregistration_delay"], alb)
    shutdown = int(app_env(compute, scope, "STRATUS_SHUTDOWN_TIMEOUT"))
    drain = int(app_env(compute, scope, "STRATUS_DRAIN_SECONDS"))
    assert drain <= delay < shutdown, f"{label}: need drain {drain} <= deregistration {delay} < shutdown {shutdown}"


@pytest.mark.parametrize("label,alb,compute,scope", env_pairs(), ids=[p[0] for p in env_pairs()])
def test_shutdown_timeout_is_below_the_stop_timeout(label, alb, compute, scope):
    shutdown = int(app_env(compute, scope, "STRATUS_SHUTDOWN_TIMEOUT"))
    assert shutdown < stop_timeout(compute, scope), label


@pytest.mark.parametrize("label,alb,compute,scope", env_pairs(), ids=[p[0] for p in env_pairs()])
def test_alb_idle_timeout_is_below_the_keep_alive_timeout(label, alb, compute, scope):
    idle = hcl.resolve(alb.module.resource("aws_lb", "this")["idle_timeout"], alb)
    keep_alive = int(app_env(compute, scope, "STRATUS_KEEP_ALIVE_TIMEOUT"))
    assert idle < keep_alive, f"{label}: ALB idle {idle} must be below keep-alive {keep_alive}"


def test_ecs_stop_timeout_is_30_seconds():
    assert hcl.default_scope("ecs_service").var("stop_timeout_seconds") == 30
    for name, env in hcl.envs().items():
        assert hcl.env_scope(env, "ecs_service").var("stop_timeout_seconds") == 30, name


# ---------------------------------------------------------------------------------------------
# Environment variables
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compute", COMPUTE_MODULES)
def test_every_environment_variable_set_is_one_the_binary_reads(compute):
    binary_env_names = binary.env_names()
    m = hcl.modules()[compute]
    names = set(APP_ENV.locals["environment"]) | set(APP_ENV.locals["migrate_environment"]) | set(m.locals["secrets"])
    unknown = sorted(names - binary_env_names)
    assert not unknown, f"{compute} sets variables the binary does not read: {unknown}"


def test_task_definition_takes_its_environment_only_from_the_checked_maps():
    cd = app_container_definition()
    assert "environment = [for k, v in module.app_env.environment : {name = k, value = v}]" in cd
    assert "secrets = local.container_secrets" in cd
    assert cd.count("environment") == 2 and cd.count("secrets") == 2
    migrate = container_definitions()[: container_definitions().index("name = local.container_name")]
    assert "environment = [for k, v in module.app_env.migrate_environment : {name = k, value = v}]" in migrate
    assert "secrets = [for k, v in local.migrate_secrets : {name = k, valueFrom = v}]" in migrate
    assert migrate.count("environment") == 2 and migrate.count("secrets") == 2
    secrets = hcl.modules()["ecs_service"].locals["container_secrets"]
    assert "local.secrets" in secrets


def test_user_data_takes_its_environment_only_from_the_checked_maps():
    m = hcl.modules()["asg_service"]
    lt = m.resource("aws_launch_template", "this")
    user_data = hcl.interpolations(lt["user_data"])[0]
    # The shared environment itself (app_env leaves the unset ones out), nothing else.
    assert re.search(r"environment = module.app_env.environment\b", user_data), user_data
    # The fetched secrets: local.secrets itself, less the unset optional ones.
    assert re.search(r"secrets = \{for name, ref in local.secrets : name => ref if ref != null\}", user_data), user_data
    template = (hcl.MODULES_DIR / "asg_service" / "templates" / "user_data.sh.tftpl").read_text()
    assert "%{ for name, ref in secrets ~}" in template and "printf '${name}=%s\\n'" in template
    literal = set(re.findall(r"^\s*printf '([A-Z_]+)=", template, re.M))
    assert not literal, f"user data writes variables outside local.secrets: {literal}"
    assert "--with-decryption" in template, "SSM parameters must be read decrypted (SecureString)"


def test_secrets_are_injected_never_plaintext():
    env = APP_ENV.locals["environment"]
    for compute in COMPUTE_MODULES:
        m = hcl.modules()[compute]
        secrets = m.locals["secrets"]
        for name in ("DATABASE_PASSWORD", "DATABASE_URL", "STRATUS_ADMIN_PASSWORD_HASH", "STRATUS_API_TOKEN_SHA256"):
            assert name not in env, f"{compute}: {name} must not be plain environment"
        # The password is not injected at task start: the app reads the rotating secret itself.
        assert "DATABASE_PASSWORD" not in secrets
        # The app's own role's secret; the master secret only reaches `stratus migrate`.
        assert hcl.inner(env["DATABASE_SECRET_ARN"]) == "var.database_password_secret_arn"
        assert m.module_calls["app_env"]["database_password_secret_arn"] == "${var.database_password_secret_arn}", compute
        assert env["STRATUS_MIGRATE_ON_START"] == "false"
        assert hcl.inner(secrets["STRATUS_ADMIN_PASSWORD_HASH"]) == "var.admin_password_hash_secret_arn", compute
        assert hcl.inner(secrets["STRATUS_API_TOKEN_SHA256"]) == "var.api_token_sha256_secret_arn", compute
        for var in ("admin_password_hash_secret_arn", "api_token_sha256_secret_arn"):
            body = m.variables[var]
            # Optional, and never a value: only an ARN, so no plaintext can land in the state.
            assert body["default"] is None, f"{compute}: {var} must default to null"
            assert "secretsmanager" in body["validation"][0]["condition"] and "ssm" in body["validation"][0]["condition"]
    assert hcl.inner(hcl.modules()["ecs_service"].locals["secrets"]["DATABASE_URL"]) == "var.database_url_parameter_arn"
    for name, env in hcl.envs().items():
        for var in ("admin_password_hash_secret_arn", "api_token_sha256_secret_arn"):
            assert env.variables[var]["default"] is None, f"envs/{name}: {var}"
            for compute in COMPUTE_MODULES:
                assert env.module_calls[compute][var] == f"${{var.{var}}}", f"envs/{name}/{compute}: {var}"


def test_execution_role_reads_exactly_the_injected_secrets():
    m = hcl.modules()["ecs_service"]
    docs = {n: b for _, n, b in m.data_sources("aws_iam_policy_document")}
    execution = docs["execution"]
    stmts = {s["sid"]: s for s in execution["statement"]}
    stmts.update({d["statement"]["content"][0]["sid"]: d["statement"]["content"][0] for d in execution.get("dynamic", [])})
    assert stmts["ReadTheInjectedParameters"]["actions"] == ["ssm:GetParameters"]
    assert hcl.inner(stmts["ReadTheInjectedParameters"]["resources"]) == "local.execution_parameter_arns"
    assert stmts["ReadTheInjectedSecrets"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert hcl.inner(stmts["ReadTheInjectedSecrets"]["resources"]) == "local.execution_secret_arns"
    assert m.locals["execution_secret_arns"] == "${concat([var.database_master_secret_arn], local.operator_secretsmanager)}"
    locals_ = m.locals
    assert "var.admin_password_hash_secret_arn" in locals_["operator_secret_arns"]
    assert "var.api_token_sha256_secret_arn" in locals_["operator_secret_arns"]
    assert "var.database_url_parameter_arn" in locals_["execution_parameter_arns"]
    assert "local.operator_ssm_parameters" in locals_["execution_parameter_arns"]
    # The task role (the app) does not get the admin secrets: it only sees what ECS injected.
    task_docs = [n for n in docs if n.startswith("task")]
    for n in task_docs:
        assert "operator_" not in hcl.json_of(docs[n]), f"{n} grants the admin secrets to the app"


def test_files_and_board_settings_come_from_the_data_module():
    env = APP_ENV.locals["environment"]
    assert hcl.inner(env["STRATUS_BOARD_URL"]) == "var.board_url"
    assert hcl.inner(env["STRATUS_FILES_URL"]) == "var.files_url"
    assert hcl.inner(env["STRATUS_FILE_METADATA_URL"]) == "var.file_metadata_url"
    assert hcl.inner(env["STRATUS_S3_SSE_KMS_KEY_ID"]) == "var.files_kms_key_arn"
    assert hcl.inner(env["STRATUS_S3_SSE"]) == "local.s3_sse"
    assert hcl.inner(APP_ENV.locals["s3_sse"]) == 'var.files_kms_key_arn == null ? "AES256" : "aws:kms"'
    for compute in COMPUTE_MODULES:
        call = hcl.modules()[compute].module_calls["app_env"]
        for arg in ("board_url", "files_url", "file_metadata_url", "files_kms_key_arn"):
            assert call[arg] == f"${{var.{arg}}}", f"{compute}: {arg}"
        assert hcl.modules()[compute].variables["max_upload_bytes"]["default"] == 104857600
    for name, env in hcl.envs().items():
        for compute in COMPUTE_MODULES:
            call = env.module_calls[compute]
            for arg, out in (("board_url", "board_url"), ("files_url", "files_url"), ("file_metadata_url", "file_metadata_url"), ("files_kms_key_arn", "files_kms_key_arn")):
                assert call[arg] == f"${{module.data.{out}}}", f"envs/{name}/{compute}: {arg}"
    data = hcl.modules()["data"]
    assert hcl.inner(data.outputs["files_kms_key_arn"]["value"]) == "var.kms_key_arn"
    sse = data.resource("aws_s3_bucket_server_side_encryption_configuration", "files")["rule"][0]
    assert hcl.inner(sse["apply_server_side_encryption_by_default"][0]["kms_master_key_id"]) == "var.kms_key_arn"


def test_fixed_settings_for_aws():
    env = APP_ENV.locals["environment"]
    assert env["STRATUS_CREATE_TABLES"] == "false"
    assert env["STRATUS_LOG_FORMAT"] == "json"
    assert "0.0.0.0:" in env["STRATUS_LISTEN"]


@pytest.mark.parametrize("env", sorted(hcl.envs()))
def test_trusted_proxies_are_the_vpc(env):
    e = hcl.envs()[env]
    for compute in COMPUTE_MODULES:
        assert e.module_calls[compute]["trusted_proxy_cidrs"] == ["${module.network.vpc_cidr}"]


@pytest.mark.parametrize("compute", COMPUTE_MODULES)
def test_compute_modules_pass_their_own_settings_to_the_shared_environment(compute):
    """The environment is app_env's alone; a compute module only hands it the values of its variables
    of the same name (the port, the region and the service name under their own names)."""
    m = hcl.modules()[compute]
    call = m.module_calls["app_env"]
    assert call["source"] == "../../modules/app_env"
    args = {k: v for k, v in call.items() if k != "source" and not k.startswith("__")}
    assert set(args) == set(APP_ENV.variables), f"{compute}: {sorted(set(args) ^ set(APP_ENV.variables))}"
    port = "container_port" if compute == "ecs_service" else "app_port"
    assert args.pop("port") == f"${{var.{port}}}"
    assert args.pop("region") == "${local.region}"
    assert args.pop("service_name") == "${var.name}"
    for name, value in args.items():
        assert value == f"${{var.{name}}}", f"{compute}: app_env {name} = {value}"
    assert "environment" not in m.locals and "migrate_environment" not in m.locals, f"{compute} keeps a copy of the environment"


def test_both_compute_variants_fetch_the_same_secrets():
    assert set(hcl.modules()["ecs_service"].locals["secrets"]) == set(hcl.modules()["asg_service"].locals["secrets"])


# ---------------------------------------------------------------------------------------------
# Container hardening
# ---------------------------------------------------------------------------------------------


def test_container_runs_as_uid_10001_without_capabilities():
    cd = container_definitions()
    assert 'user = "10001:10001"' in cd
    assert 'drop = ["ALL"]' in cd
    assert "privileged = false" in cd


def test_root_filesystem_is_read_only_unless_break_glass_exec_is_on():
    assert container_setting("readonlyRootFilesystem") == "local.readonly_root_filesystem"
    assert hcl.modules()["ecs_service"].locals["readonly_root_filesystem"] == "${!var.enable_execute_command}"
    assert hcl.modules()["ecs_service"].variables["enable_execute_command"]["default"] is False
    assert hcl.env_scope(hcl.envs()["prod"], "ecs_service").var("enable_execute_command") is False


def test_fargate_size_and_scaling_follow_the_issue():
    for label, scope in scopes("ecs_service"):
        assert scope.var("cpu") == 256 and scope.var("memory") == 512, label
        assert scope.var("min_capacity") == (2 if label == "envs/prod" else 1), label
    prod = hcl.env_scope(hcl.envs()["prod"], "ecs_service")
    assert (prod.var("desired_count"), prod.var("max_capacity")) == (2, 4)
    # Never one task in prod: one failure from an outage.
    assert prod.var("min_capacity") == 2
    svc = hcl.modules()["ecs_service"].resource("aws_ecs_service", "this")
    assert svc["deployment_circuit_breaker"][0] == {"enable": True, "rollback": True}
    assert svc["alarms"][0]["rollback"] is True


def test_asg_variant_requires_imdsv2_and_encrypted_gp3():
    lt = hcl.modules()["asg_service"].resource("aws_launch_template", "this")
    assert lt["metadata_options"][0]["http_tokens"] == "required"
    ebs = lt["block_device_mappings"][0]["ebs"][0]
    assert ebs["encrypted"] is True and ebs["volume_type"] == "gp3"
    assert "key_name" not in lt
