"""DynamoDB tables against the binary's expected schemas; RDS, S3 and the parameter's hardening."""

from __future__ import annotations

import re

import pytest

import binary
import hcl

DATA = hcl.modules()["data"]
# Table role (as the binary names it) -> resource name in the data module.
TABLE_RESOURCES = {"submissions": "submissions", "file_metadata": "file_metadata"}


def key(name: str | None, attributes: dict[str, str]):
    if name is None:
        return None
    assert name in attributes, f"key {name} has no attribute definition"
    return {"name": name, "type": attributes[name]}


def schema_from_hcl(role: str) -> dict:
    table = DATA.resource("aws_dynamodb_table", TABLE_RESOURCES[role])
    attributes = {a["name"]: a["type"] for a in table.get("attribute", [])}
    gsis = [
        {
            "name": g["name"],
            "hash_key": key(g["hash_key"], attributes),
            "range_key": key(g.get("range_key"), attributes),
            "projection": g["projection_type"],
        }
        for g in table.get("global_secondary_index", [])
    ]
    return {
        "role": role,
        "hash_key": key(table["hash_key"], attributes),
        "range_key": key(table.get("range_key"), attributes),
        "global_secondary_indexes": gsis,
    }


def test_every_table_the_binary_expects_exists_in_hcl():
    binary_dynamodb_schemas = binary.dynamodb_schemas()
    roles = {s["role"] for s in binary_dynamodb_schemas}
    assert roles == set(TABLE_RESOURCES), f"binary expects {sorted(roles)}, HCL maps {sorted(TABLE_RESOURCES)}"
    hcl_tables = {n for _, n, _ in DATA.resources("aws_dynamodb_table")}
    assert hcl_tables == set(TABLE_RESOURCES.values()), f"HCL has tables {sorted(hcl_tables)}"


def test_key_schemas_equal_the_binarys():
    binary_dynamodb_schemas = binary.dynamodb_schemas()
    for expected in binary_dynamodb_schemas:
        actual = schema_from_hcl(expected["role"])
        want = dict(expected, global_secondary_indexes=sorted(expected["global_secondary_indexes"], key=lambda g: g["name"]))
        got = dict(actual, global_secondary_indexes=sorted(actual["global_secondary_indexes"], key=lambda g: g["name"]))
        assert got == want, f"{expected['role']}: HCL {hcl.json_of(got)} != binary {hcl.json_of(want)}"


@pytest.mark.parametrize("name", sorted(TABLE_RESOURCES.values()))
def test_no_attribute_is_defined_without_being_a_key(name):
    table = DATA.resource("aws_dynamodb_table", name)
    keys = {table["hash_key"], table.get("range_key")}
    for g in table.get("global_secondary_index", []):
        keys |= {g["hash_key"], g.get("range_key")}
    assert {a["name"] for a in table["attribute"]} == keys - {None}


@pytest.mark.parametrize("name", sorted(TABLE_RESOURCES.values()))
def test_tables_are_on_demand_recoverable_encrypted_and_protected(name):
    t = DATA.resource("aws_dynamodb_table", name)
    assert t["billing_mode"] == "PAY_PER_REQUEST"
    assert t["point_in_time_recovery"][0]["enabled"] is True
    sse = t["server_side_encryption"][0]
    assert sse["enabled"] is True and hcl.inner(sse["kms_key_arn"]) == "var.kms_key_arn"
    assert hcl.inner(t["deletion_protection_enabled"]) == "var.deletion_protection"
    assert DATA.variables["deletion_protection"]["default"] is True


def test_rds_is_postgres_16_encrypted_tls_only_and_backed_up():
    db = DATA.resource("aws_db_instance", "this")
    assert db["engine"] == "postgres"
    assert DATA.variables["db_engine_version"]["default"] == "16"
    assert db["storage_encrypted"] is True
    assert db["manage_master_user_password"] is True and "password" not in db
    assert hcl.inner(db["backup_retention_period"]) == "var.db_backup_retention_days"
    assert DATA.variables["db_backup_retention_days"]["default"] == 7
    assert db["skip_final_snapshot"] is False
    assert hcl.inner(db["deletion_protection"]) == "var.deletion_protection"
    assert hcl.inner(db["multi_az"]) == "var.db_multi_az"
    assert hcl.inner(db["performance_insights_enabled"]) == "var.db_performance_insights_enabled"
    params = DATA.resource("aws_db_parameter_group", "this")
    assert params["family"] == "postgres16"
    assert {"name": "rds.force_ssl", "value": "1", "apply_method": "immediate"} in params["parameter"]
    prod = hcl.env_scope(hcl.envs()["prod"], "data")
    assert prod.var("db_multi_az") is True and prod.var("deletion_protection") is True


def test_database_url_is_rds_without_a_password_and_verifies_the_server():
    url = DATA.locals["database_url"]
    assert url.startswith("postgres://${var.db_username}@${aws_db_instance.this.address}:"), url
    assert url.endswith("?sslmode=verify-full"), url
    assert "dynamodb://" not in url and "password" not in url


def test_rds_and_the_files_tier_always_exist():
    """Three tiers: RDS (users, posts, sessions), S3 + file metadata; none of them behind a switch."""
    always = [
        ("aws_db_instance", "this"),
        ("aws_db_subnet_group", "this"),
        ("aws_db_parameter_group", "this"),
        ("aws_dynamodb_table", "file_metadata"),
        ("aws_s3_bucket", "files"),
        ("aws_s3_bucket_policy", "files"),
        ("aws_ssm_parameter", "database_url"),
    ]
    for rtype, name in always:
        body = DATA.resource(rtype, name)
        assert "count" not in body and "for_each" not in body, f"{rtype}.{name} must not be optional"
    assert "database_engine" not in DATA.variables and "enable_files" not in DATA.variables
    # Stacks applied when they were optional keep their resources (moved blocks, no re-creation).
    moved = {hcl.inner(b["from"]) for _, blk in DATA.blocks("moved") for b in (blk if isinstance(blk, list) else [blk])}
    assert "aws_db_instance.this[0]" in moved and "aws_s3_bucket.files[0]" in moved, moved


def test_board_store_decides_only_the_board_table_and_url():
    var = DATA.variables["board_store"]
    assert set(re.findall(r'"([a-z]+)"', var["validation"][0]["condition"])) == {"postgres", "dynamodb"}
    assert hcl.inner(DATA.locals["board_dynamodb"]) == 'var.board_store == "dynamodb"'
    assert hcl.inner(DATA.resource("aws_dynamodb_table", "submissions")["count"]) == "local.board_dynamodb ? 1 : 0"
    assert DATA.locals["board_url"] == '${local.board_dynamodb ? "dynamodb://${aws_dynamodb_table.submissions[0].name}" : null}'
    assert hcl.inner(DATA.outputs["board_url"]["value"]) == "local.board_url"
    # Nothing else in the module depends on it.
    text = (hcl.MODULES_DIR / "data" / "main.tf").read_text()
    assert text.count("var.board_store") == 1 and text.count("local.board_dynamodb") == 3, "board_store must only decide the table, its URL and its IAM"
    for name, env in hcl.envs().items():
        assert env.variables["board_store"]["default"] in ("postgres", "dynamodb")
        assert env.module_calls["data"]["board_store"] == "${var.board_store}", name


def test_files_and_metadata_urls():
    # s3://BUCKET/files: the prefix the IAM policy allows, without its trailing slash.
    assert DATA.locals["files_url"] == 's3://${aws_s3_bucket.files.id}/${trimsuffix(var.files_prefix, "/")}'
    assert DATA.locals["file_metadata_url"] == "dynamodb://${aws_dynamodb_table.file_metadata.name}"
    assert DATA.outputs["files_url"]["value"] == "${local.files_url}"
    assert DATA.outputs["file_metadata_url"]["value"] == "${local.file_metadata_url}"


def test_files_bucket_is_private_versioned_and_kms_encrypted():
    pab = DATA.resource("aws_s3_bucket_public_access_block", "files")
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    assert DATA.resource("aws_s3_bucket_ownership_controls", "files")["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    sse = DATA.resource("aws_s3_bucket_server_side_encryption_configuration", "files")["rule"][0]
    assert sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert DATA.resource("aws_s3_bucket_versioning", "files")["versioning_configuration"][0]["status"] == "Enabled"
    lifecycle = DATA.resource("aws_s3_bucket_lifecycle_configuration", "files")["rule"][0]
    assert "noncurrent_version_expiration" in lifecycle
    assert sse["bucket_key_enabled"] is True


def files_bucket_denies() -> dict[str, dict]:
    policy = dict((n, b) for _, n, b in DATA.data_sources("aws_iam_policy_document"))["files"]
    deny = {s["sid"]: s for s in policy["statement"] if s.get("effect") == "Deny"}
    for sid, s in deny.items():
        assert s["principals"][0]["identifiers"] == ["*"], sid
    return deny


def test_files_bucket_policy_denies_insecure_transport():
    deny = files_bucket_denies()
    tls = deny["DenyInsecureTransport"]
    assert tls["actions"] == ["s3:*"]
    assert tls["condition"][0] == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    assert {"test": "NumericLessThan", "variable": "s3:TlsVersion", "values": ["1.2"]} in deny["DenyOldTls"]["condition"]


def test_files_bucket_policy_denies_uploads_not_under_our_kms_key():
    deny = files_bucket_denies()
    algorithm = deny["DenyUploadsNotEncryptedWithKms"]
    assert algorithm["actions"] == ["s3:PutObject"]
    # IfExists: UploadPart carries no encryption header (a Null test would break multipart uploads);
    # uploads without one get the bucket default, SSE-KMS under the same key.
    assert algorithm["condition"][0] == {
        "test": "StringNotEqualsIfExists",
        "variable": "s3:x-amz-server-side-encryption",
        "values": ["aws:kms"],
    }
    key = deny["DenyUploadsUnderAnotherKmsKey"]["condition"][0]
    assert key["test"] == "StringNotEqualsIfExists"
    assert key["variable"] == "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert key["values"] == ["${var.kms_key_arn}"]


def test_database_url_parameter_is_a_secure_string():
    p = DATA.resource("aws_ssm_parameter", "database_url")
    assert p["type"] == "SecureString" and hcl.inner(p["key_id"]) == "var.kms_key_arn"


def test_bucket_logging_waits_for_the_log_buckets_policy():
    """S3 checks at once that the target accepts log delivery; without the dependency the first apply
    failed with InvalidTargetBucketForLogging."""
    logging = DATA.resource("aws_s3_bucket_logging", "files")
    assert "${aws_s3_bucket_policy.files_access_logs}" in logging["depends_on"] or "aws_s3_bucket_policy.files_access_logs" in str(logging["depends_on"])


def test_buckets_are_destroyable_when_deletion_protection_is_off():
    assert hcl.inner(DATA.resource("aws_s3_bucket", "files")["force_destroy"]) == "var.files_force_destroy"
    assert hcl.inner(DATA.resource("aws_s3_bucket", "files_access_logs")["force_destroy"]) == "var.files_access_logs_force_destroy"
    prod = hcl.envs()["prod"].module_calls["data"]
    assert prod["files_force_destroy"] == prod["files_access_logs_force_destroy"] == "${!var.deletion_protection}"
    dev = hcl.envs()["dev"].module_calls["data"]
    assert dev["files_access_logs_force_destroy"] is True
