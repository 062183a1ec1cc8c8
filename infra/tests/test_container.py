"""The Dockerfile and scripts/run-like-task.sh against the task definition they stand for."""

from __future__ import annotations

import re

import pytest

import hcl

DOCKERFILE = (hcl.REPO / "Dockerfile").read_text()
DOCKERIGNORE = (hcl.REPO / ".dockerignore").read_text()
RUN_LIKE_TASK = (hcl.REPO / "scripts" / "run-like-task.sh").read_text()
ECS = hcl.modules()["ecs_service"]
APP_ENV = hcl.modules()["app_env"]
_HASH = re.search(r"^ADMIN_PASSWORD_HASH='([^']+)'$", RUN_LIKE_TASK, re.M)
RUN_LIKE_TASK_ADMIN_HASH = _HASH.group(1) if _HASH else ""

# Values run-like-task.sh must replace because their AWS value cannot exist on a development machine
# (the names of resources Terraform creates, made in moto and local PostgreSQL instead, and the secrets).
LOCAL_SUBSTITUTES = {
    "STRATUS_LISTEN",
    "AWS_REGION",
    "PGSSLROOTCERT",
    "STRATUS_TRUSTED_PROXIES",
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "STRATUS_BOARD_URL",
    "STRATUS_FILES_URL",
    "STRATUS_FILE_METADATA_URL",
    "STRATUS_S3_SSE",
    "STRATUS_S3_SSE_KMS_KEY_ID",
    "STRATUS_ADMIN_PASSWORD_HASH",
    "STRATUS_API_TOKEN_SHA256",
    "STRATUS_PUBLIC_URL",
}


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    ins = instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    return ins[last_from:]


def args() -> dict[str, str]:
    return dict(rest.split("=", 1) for w, rest in instructions() if w == "ARG" and "=" in rest)


def test_builder_and_runtime_images_are_pinned():
    a = args()
    assert re.fullmatch(r"rust:\d+\.\d+\.\d+-bookworm", a["RUST_IMAGE"]), a["RUST_IMAGE"]
    assert re.fullmatch(r"debian:12\.\d+-slim", a["RUNTIME_IMAGE"]), a["RUNTIME_IMAGE"]
    for w, rest in instructions():
        if w == "FROM":
            assert ":latest" not in rest


def test_release_build_is_locked():
    assert "cargo build --release --locked" in DOCKERFILE


def test_runtime_runs_as_uid_10001():
    users = [rest for w, rest in final_stage() if w == "USER"]
    assert users == ["10001:10001"]


def test_healthcheck_is_stratus_healthcheck():
    hc = [rest for w, rest in final_stage() if w == "HEALTHCHECK"]
    assert len(hc) == 1 and hc[0].endswith('CMD ["/usr/local/bin/stratus", "healthcheck"]')
    assert ("COPY", "--from=builder /out/stratus /usr/local/bin/stratus") in final_stage()


def test_env_uses_key_value_form():
    for w, rest in instructions():
        if w == "ENV":
            for pair in re.split(r"\s+(?=[A-Z_]+=)", rest):
                assert re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S+", pair), f"ENV not in key=value form: {pair}"


def test_image_and_task_definition_agree_on_port_and_ca_bundle():
    assert ("EXPOSE", "8000") in final_stage()
    assert "STRATUS_LISTEN=0.0.0.0:8000" in DOCKERFILE
    bundle = APP_ENV.locals["rds_ca_bundle_path"]
    assert f"PGSSLROOTCERT={bundle}" in DOCKERFILE
    assert re.search(rf"ADD .*global-bundle\.pem {re.escape(bundle)}", DOCKERFILE)


def test_dockerignore_keeps_secrets_and_build_output_out():
    lines = {l.strip() for l in DOCKERIGNORE.splitlines()}
    for pattern in ("target/", ".git/", ".venv/", "**/*.tfstate", "**/.env"):
        assert pattern in lines, f".dockerignore lacks {pattern}"
    for needed in ("src", "migrations", "static", "templates", "Cargo.toml", "Cargo.lock"):
        assert not any(l.rstrip("/") == needed for l in lines), f".dockerignore excludes {needed}, which the build needs"


def run_like_task_env() -> dict[str, str]:
    block = re.search(r"^TASK_ENV=\(\n(.*?)^\)", RUN_LIKE_TASK, re.S | re.M)
    assert block, "scripts/run-like-task.sh has no TASK_ENV=( ... ) block"
    pairs = re.findall(r'^\s+([A-Z_][A-Z0-9_]*)=("?)(.*?)\2\s*$', block.group(1), re.M)
    return {name: value for name, _, value in pairs}


def test_run_like_task_sets_the_task_definitions_names():
    script = run_like_task_env()
    # Everything the task gets: plain environment and injected secrets (the admin ones are optional in
    # AWS; the script sets them so that the binary is run with the values it will meet).
    task = set(APP_ENV.locals["environment"]) | set(ECS.locals["secrets"])
    assert set(script) == task, f"differs from the task definition: {sorted(set(script) ^ task)}"


def test_run_like_task_uses_the_prod_values():
    script = run_like_task_env()
    scope = hcl.child_scope(hcl.env_scope(hcl.envs()["prod"], "ecs_service"), "app_env")
    for name, expr in APP_ENV.locals["environment"].items():
        if name in LOCAL_SUBSTITUTES:
            continue
        want = hcl.resolve(expr, scope)
        assert script[name] == str(want), f"{name}: run-like-task.sh has {script[name]!r}, prod task definition {want!r}"


def test_run_like_task_substitutes_have_the_prod_shape():
    """The substituted values point at stand-ins of the same kind as prod's resources."""
    script = run_like_task_env()
    prod = hcl.envs()["prod"]
    data = hcl.env_scope(prod, "data")
    # RDS over TLS with the server verified, the password from the RDS-style secret, not the URL.
    assert re.fullmatch(r"postgres://postgres@\$PG_HOSTPORT/\$DB_NAME\?sslmode=verify-full", script["DATABASE_URL"])
    assert script["DATABASE_SECRET_ARN"] == "$DATABASE_SECRET_ARN"
    # The board where prod keeps it.
    if data.var("board_store") == "dynamodb":
        assert script["STRATUS_BOARD_URL"].startswith("dynamodb://")
    else:
        assert "STRATUS_BOARD_URL" not in script
    # Files under the same prefix, SSE-KMS as prod (which passes the stack's key).
    prefix = data.var("files_prefix").rstrip("/")
    assert re.fullmatch(rf"s3://[^/]+/{re.escape(prefix)}", script["STRATUS_FILES_URL"]), script["STRATUS_FILES_URL"]
    assert script["STRATUS_FILE_METADATA_URL"].startswith("dynamodb://")
    assert prod.module_calls["ecs_service"]["files_kms_key_arn"] == "${module.data.files_kms_key_arn}"
    assert script["STRATUS_S3_SSE"] == "aws:kms" and script["STRATUS_S3_SSE_KMS_KEY_ID"]
    # The secrets ECS would inject: an argon2id PHC string and a hex SHA-256.
    assert re.fullmatch(r"\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", RUN_LIKE_TASK_ADMIN_HASH)
    assert script["STRATUS_ADMIN_PASSWORD_HASH"] == "$ADMIN_PASSWORD_HASH"
    assert script["STRATUS_API_TOKEN_SHA256"] == "$API_TOKEN_SHA256"
    # The tables are made from the binary's own schemas and the app is not allowed to create any.
    assert "config --dynamodb-schemas" in RUN_LIKE_TASK
    assert script["STRATUS_CREATE_TABLES"] == "false"


def test_run_like_task_waits_for_the_stop_timeout_of_the_task():
    m = re.search(r"^STOP_TIMEOUT=(\d+)", RUN_LIKE_TASK, re.M)
    assert m and int(m.group(1)) == hcl.env_scope(hcl.envs()["prod"], "ecs_service").var("stop_timeout_seconds")


@pytest.mark.parametrize("path", ["/health", "/health/live"])
def test_run_like_task_checks_both_health_routes(path):
    assert f'"$BASE{path}"' in RUN_LIKE_TASK


def test_ec2_instances_check_the_rds_bundle_against_the_dockerfiles_digest():
    """The EC2 variant downloads the RDS CA bundle at boot: it must check the same digest the image pins."""
    import re

    pinned = re.search(r"ADD --checksum=sha256:([0-9a-f]{64})[^\n]*https://truststore\.pki\.rds\.amazonaws\.com/", DOCKERFILE)
    assert pinned, "the Dockerfile pins the RDS bundle with ADD --checksum"
    user_data = (hcl.REPO / "infra/modules/asg_service/templates/user_data.sh.tftpl").read_text()
    assert "truststore.pki.rds.amazonaws.com" in user_data
    assert f"{pinned.group(1)}  /tmp/rds-global-bundle.pem\" | sha256sum --check --strict -" in user_data
