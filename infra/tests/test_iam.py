"""Least privilege: no "*" resource where AWS allows a narrower one, no wildcard actions."""

from __future__ import annotations

import re

import pytest

import hcl

# Actions that AWS does not allow to be scoped to a resource, with where we use them.
STAR_RESOURCE_ALLOWED = {
    "ecr:GetAuthorizationToken": "registry login (task execution role, CI deploy role)",
    "ecs:RegisterTaskDefinition": "CI registers a revision with the new image",
    "ecs:DescribeTaskDefinition": "CI reads the current revision to copy it",
    "ssmmessages:CreateControlChannel": "ECS Exec",
    "ssmmessages:CreateDataChannel": "ECS Exec",
    "ssmmessages:OpenControlChannel": "ECS Exec",
    "ssmmessages:OpenDataChannel": "ECS Exec",
    "logs:DescribeLogGroups": "ECS Exec checks its transcript group exists",
    "cloudwatch:PutMetricData": "CloudWatch agent on EC2 (narrowed by a namespace condition)",
}
# VPC endpoint policies: principal "*" is the only form they take; each such statement is narrowed by
# an aws:PrincipalAccount condition, except the anonymous reads of Amazon Linux's package repositories.
ENDPOINT_POLICIES = {"s3_endpoint", "dynamodb_endpoint"}
# Only these AWS-managed policies may be attached.
# (AmazonSSMManagedInstanceCore is not: it reads every SSM parameter of the account; the EC2 variant
# has an inline Session Manager policy instead.)
MANAGED_POLICIES_ALLOWED = {
    "service-role/AmazonRDSEnhancedMonitoringRole": "RDS Enhanced Monitoring",
}


def statements():
    """(label, statement) for every statement of every aws_iam_policy_document, dynamic ones included."""
    out = []
    for r in hcl.all_roots():
        for _, name, doc in r.data_sources("aws_iam_policy_document"):
            stmts = list(doc.get("statement", []))
            for dyn in doc.get("dynamic", []):
                if "statement" in dyn:
                    stmts.extend(dyn["statement"]["content"])
            for i, s in enumerate(stmts):
                out.append((f"{r.name}/{name}/{s.get('sid', i)}", name, s))
    return out


STATEMENTS = statements()
IDS = [s[0] for s in STATEMENTS]


def is_key_policy(doc_name: str, statement: dict) -> bool:
    return doc_name == "kms" and all(a.startswith("kms:") for a in statement["actions"])


def test_there_are_policies_to_check():
    assert len(STATEMENTS) > 30


@pytest.mark.parametrize("label,doc,statement", STATEMENTS, ids=IDS)
def test_no_star_resource_where_a_narrower_one_exists(label, doc, statement):
    if statement.get("effect") == "Deny" or "resources" not in statement:
        return
    resources = statement["resources"]
    if not isinstance(resources, list):
        resources = [resources]
    if "*" in resources:
        if is_key_policy(doc, statement):
            return  # in a key policy "*" means the key itself
        too_broad = [a for a in statement["actions"] if a not in STAR_RESOURCE_ALLOWED]
        assert not too_broad, f"{label}: {too_broad} on Resource \"*\"; scope them to ARNs"
    for res in resources:
        if res == "*":
            continue
        head = res.split("${", 1)[0]
        assert "*" not in head, f"{label}: wildcard {res!r} is not rooted in one of our resources"


@pytest.mark.parametrize("label,doc,statement", STATEMENTS, ids=IDS)
def test_no_wildcard_actions_in_allow_statements(label, doc, statement):
    if statement.get("effect") == "Deny":
        return
    wild = [a for a in statement["actions"] if a == "*" or a.endswith(":*")]
    if wild and is_key_policy(doc, statement):
        principals = statement["principals"][0]["identifiers"]
        assert all(p.endswith(":root") for p in principals), f"{label}: kms:* only for the account root"
        return
    assert not wild, f"{label}: wildcard actions {wild}"


@pytest.mark.parametrize("label,doc,statement", STATEMENTS, ids=IDS)
def test_resource_policies_name_their_principals(label, doc, statement):
    for p in statement.get("principals", []):
        if p["identifiers"] == ["*"]:
            if doc in ENDPOINT_POLICIES:
                narrowed = any(c["variable"] == "aws:PrincipalAccount" for c in statement.get("condition", []))
                public_repo = statement.get("sid") == "AmazonLinux2023Repositories" and statement["actions"] == ["s3:GetObject"]
                assert narrowed or public_repo, f"{label}: endpoint statement for everyone without an account condition"
                continue
            assert statement.get("effect") == "Deny", f"{label}: Allow to everyone"


def test_role_policies_come_from_policy_documents():
    for r in hcl.all_roots():
        for _, n, body in r.resources("aws_iam_role_policy"):
            expr = hcl.inner(body["policy"])
            assert expr and (expr.startswith("data.aws_iam_policy_document.") or expr == "var.app_policy_json"), (
                f"{r.name}: aws_iam_role_policy.{n} policy must be an aws_iam_policy_document"
            )
        assert not r.resources("aws_iam_policy"), f"{r.name}: use inline role policies from policy documents"


def test_only_reviewed_managed_policies_are_attached():
    for r in hcl.all_roots():
        for _, n, body in r.resources("aws_iam_role_policy_attachment"):
            arn = body["policy_arn"]
            name = arn.split(":policy/", 1)[1]
            assert name in MANAGED_POLICIES_ALLOWED, f"{r.name}: {n} attaches {arn}"


def app_statements() -> dict[str, dict]:
    return {label.split("/", 2)[2]: s for label, doc, s in STATEMENTS if label.startswith("data/app/")}


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_dynamodb_actions_are_exactly_what_the_app_calls():
    stmts = app_statements()
    board = stmts["ReadWriteTheBoardTable"]
    assert set(board["actions"]) == {
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",  # the ConditionCheck inside TransactWriteItems
        "dynamodb:Query",
    }
    assert as_list(board["resources"]) == [
        "${aws_dynamodb_table.submissions[0].arn}",
        "${aws_dynamodb_table.submissions[0].arn}/index/by_submission_id",
    ]
    files = stmts["ReadWriteTheFileMetadataTable"]
    assert set(files["actions"]) == {
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    }
    assert as_list(files["resources"]) == [
        "${aws_dynamodb_table.file_metadata.arn}",
        "${aws_dynamodb_table.file_metadata.arn}/index/by_owner",
    ]
    for s in (board, files):
        assert not any(re.search(r"Scan|Create|Batch|Table$", a) and a != "dynamodb:DescribeTable" for a in s["actions"])
    # The board's statement exists only with the board's table.
    doc = dict((n, b) for _, n, b in hcl.modules()["data"].data_sources("aws_iam_policy_document"))["app"]
    board_dynamic = [d for d in doc["dynamic"] if d["statement"]["content"][0]["sid"] == "ReadWriteTheBoardTable"]
    assert board_dynamic and board_dynamic[0]["statement"]["for_each"] == "${local.board_dynamodb ? [1] : []}"


def test_s3_access_is_the_files_prefix_only():
    stmts = app_statements()
    objects = stmts["ObjectsUnderTheFilesPrefix"]
    assert set(objects["actions"]) == {
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    assert as_list(objects["resources"]) == ["${local.files_arn}/${var.files_prefix}*"]
    listing = stmts["ListOnlyTheFilesPrefix"]
    assert listing["actions"] == ["s3:ListBucket"] and as_list(listing["resources"]) == ["${local.files_arn}"]
    # IfExists so that a GET/HEAD of a missing key answers 404 (S3 checks ListBucket without a prefix).
    assert listing["condition"][0]["test"] == "StringLikeIfExists" and listing["condition"][0]["variable"] == "s3:prefix"
    assert all(v.startswith("${var.files_prefix}") for v in listing["condition"][0]["values"])
    # No other S3 action anywhere in the app's policy.
    s3_actions = {a for s in stmts.values() for a in s["actions"] if a.startswith("s3:")}
    assert s3_actions == set(objects["actions"]) | {"s3:ListBucket"}
    prefix = hcl.modules()["data"].variables["files_prefix"]
    assert prefix["default"] == "files/" and "/$" in prefix["validation"][0]["condition"]


def test_kms_is_used_only_through_s3_for_the_files_bucket_and_through_dynamodb_and_ssm():
    stmts = app_statements()
    s3 = stmts["UseTheKeyThroughS3ForTheFilesBucket"]
    assert set(s3["actions"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert as_list(s3["resources"]) == ["${var.kms_key_arn}"]
    conditions = {c["variable"]: c for c in s3["condition"]}
    assert conditions["kms:ViaService"]["values"] == ["s3.${local.region}.amazonaws.com"]
    assert conditions["kms:EncryptionContext:aws:s3:arn"]["values"] == [
        "${local.files_arn}",
        "${local.files_arn}/${var.files_prefix}*",
    ]
    other = stmts["UseTheKeyThroughDynamodbAndSsm"]
    assert {c["variable"] for c in other["condition"]} == {"kms:ViaService"}
    assert not any("s3." in v for v in other["condition"][0]["values"])
    kms_sids = {sid for sid, s in stmts.items() if any(a.startswith("kms:") for a in s["actions"])}
    assert kms_sids == {"UseTheKeyThroughS3ForTheFilesBucket", "UseTheKeyThroughDynamodbAndSsm"}


def test_deploy_role_trust_is_pinned_to_repository_and_branch():
    stmts = {label: s for label, _, s in STATEMENTS}
    trust = [s for label, s in stmts.items() if label.startswith("ci/deploy_assume/")][0]
    subs = [c for c in trust["condition"] if c["variable"].endswith(":sub")]
    assert subs and subs[0]["test"] == "StringEquals"
    assert subs[0]["values"] == ["repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"]
    auds = [c for c in trust["condition"] if c["variable"].endswith(":aud")]
    assert auds and auds[0]["values"] == ["sts.amazonaws.com"]


def test_ecr_repository_is_immutable_and_scanned():
    repo = hcl.modules()["ci"].resource("aws_ecr_repository", "this")
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True


def test_app_metrics_need_no_cloudwatch_permission():
    """The app's metrics are EMF documents in its log stream: CloudWatch Logs extracts them from what the
    awslogs driver (execution role) or the CloudWatch agent (instance role) already sends with
    logs:PutLogEvents. No role may call PutMetricData for the app's namespace; the one statement that
    has it is the EC2 agent's, held to the agent's own namespace."""
    put = [(label, s) for label, _, s in STATEMENTS if "cloudwatch:PutMetricData" in s["actions"]]
    assert [label for label, _ in put] == ["asg_service/instance/PublishAgentMetrics"]
    condition = put[0][1]["condition"]
    assert [(c["test"], c["variable"], c["values"]) for c in condition] == [("StringEquals", "cloudwatch:namespace", ["CWAgent"])]
    namespace = hcl.modules()["app_env"].locals["metrics_namespace"]
    assert namespace != "CWAgent"
    compute = [s for label, _, s in STATEMENTS if label.startswith(("ecs_service/", "asg_service/"))]
    others = {a for s in compute for a in s["actions"] if a.startswith("cloudwatch:")} - {"cloudwatch:PutMetricData"}
    assert not others, f"the app's roles need no other CloudWatch action: {sorted(others)}"
