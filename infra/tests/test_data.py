"""DynamoDB tables against the binary's expected schemas; RDS, S3 and the parameter's hardening."""

from __future__ import annotations

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


def test_database_url_verifies_the_server_certificate():
    assert "sslmode=verify-full" in DATA.locals["database_url"]
    assert "dynamodb://" in DATA.locals["database_url"]


def test_files_bucket_is_private_versioned_and_kms_encrypted():
    pab = DATA.resource("aws_s3_bucket_public_access_block", "files")
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    assert DATA.resource("aws_s3_bucket_ownership_controls", "files")["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    sse = DATA.resource("aws_s3_bucket_server_side_encryption_configuration", "files")["rule"][0]
    assert sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert DATA.resource("aws_s3_bucket_versioning", "files")["versioning_configuration"][0]["status"] == "Enabled"
    lifecycle = DATA.resource("aws_s3_bucket_lifecycle_configuration", "files")["rule"][0]
    assert "noncurrent_version_expiration" in lifecycle
    policy = dict((n, b) for _, n, b in DATA.data_sources("aws_iam_policy_document"))["files"]
    deny = [s for s in policy["statement"] if s.get("effect") == "Deny"]
    assert any(c["variable"] == "aws:SecureTransport" for s in deny for c in s["condition"])


def test_database_url_parameter_is_a_secure_string():
    p = DATA.resource("aws_ssm_parameter", "database_url")
    assert p["type"] == "SecureString" and hcl.inner(p["key_id"]) == "var.kms_key_arn"
