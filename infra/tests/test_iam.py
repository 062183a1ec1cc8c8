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
# Only these AWS-managed policies may be attached.
MANAGED_POLICIES_ALLOWED = {
    "AmazonSSMManagedInstanceCore": "Session Manager on the EC2 variant (no SSH)",
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


def test_dynamodb_actions_are_exactly_what_the_app_calls():
    stmts = {label: s for label, _, s in STATEMENTS}
    s = stmts["data/app/ReadWriteOwnTables"]
    assert set(s["actions"]) == {
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",  # the ConditionCheck inside TransactWriteItems
        "dynamodb:Query",
    }
    assert not any(re.search(r"Scan|Delete|Create|Batch", a) for a in s["actions"])
    resources = s["resources"] if isinstance(s["resources"], list) else [s["resources"]]
    assert "/index/*" in " ".join(resources)


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
