"""The security-group chain: internet -> ALB (80/443) -> app (container port) -> RDS (5432)."""

from __future__ import annotations

import re

import pytest

import hcl

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
INGRESS_TYPES = ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule")


def ingress_rules():
    """(module, resource name, body) of every ingress rule in every module and environment."""
    found = []
    for r in hcl.all_roots():
        for t, n, body in r.resources():
            if t == "aws_vpc_security_group_ingress_rule" or (t == "aws_security_group_rule" and body.get("type") == "ingress"):
                found.append((r.name, f"{t}.{n}", body))
    return found


def cidr_sources(module: str, body: dict) -> set[str]:
    """Literal CIDRs a rule admits, following for_each over a variable to the variable's default."""
    sources: set[str] = set()
    for key in ("cidr_ipv4", "cidr_ipv6", "cidr_blocks", "ipv6_cidr_blocks"):
        if key not in body:
            continue
        value = body[key]
        values = value if isinstance(value, list) else [value]
        for v in values:
            expr = hcl.inner(v)
            if expr is None:
                sources.add(v)
            elif expr == "each.value" or expr == "each.key":
                fe = hcl.inner(body.get("for_each", "")) or ""
                for var in re.findall(r"var\.([a-z0-9_]+)", fe):
                    default = hcl.modules()[module].variables[var].get("default")
                    if isinstance(default, list):
                        sources.update(default)
            elif expr == "aws_vpc.this.cidr_block":
                sources.add("<vpc cidr>")
            else:
                sources.add(f"<{expr}>")
    return sources


def test_there_are_ingress_rules_to_check():
    assert len(ingress_rules()) >= 6


def test_no_security_group_has_inline_ingress():
    for r in hcl.all_roots():
        for _, n, body in r.resources("aws_security_group"):
            assert "ingress" not in body, f"{r.name}: aws_security_group.{n} has inline ingress; use rule resources"


@pytest.mark.parametrize("module,rule,body", ingress_rules(), ids=lambda x: x if isinstance(x, str) else "")
def test_internet_ingress_only_reaches_the_alb_on_80_or_443(module, rule, body):
    sources = cidr_sources(module, body)
    if not sources:
        return  # security-group or prefix-list sources: checked below
    open_ = sources & OPEN_CIDRS
    unknown = {s for s in sources if s.startswith("<") and s != "<vpc cidr>"}
    assert not unknown, f"{module}.{rule}: cannot tell what {unknown} admits"
    if open_:
        assert module == "security" and hcl.inner(body["security_group_id"]) == "aws_security_group.alb.id", (
            f"{module}.{rule} admits {open_} to something other than the ALB"
        )
        assert body["from_port"] == body["to_port"] and body["from_port"] in (80, 443), (
            f"{module}.{rule} admits {open_} on ports {body['from_port']}-{body['to_port']}"
        )
    else:
        assert sources <= {"<vpc cidr>"}, f"{module}.{rule}: unexpected CIDR sources {sources}"


@pytest.mark.parametrize("module,rule,body", ingress_rules(), ids=lambda x: x if isinstance(x, str) else "")
def test_no_ssh_or_rdp_anywhere(module, rule, body):
    low, high = body.get("from_port", 0), body.get("to_port", 65535)
    for port in (22, 3389):
        assert not (isinstance(low, int) and isinstance(high, int) and low <= port <= high), f"{module}.{rule} opens {port}"
    assert str(body.get("ip_protocol", body.get("protocol", "tcp"))) not in ("-1", "all"), f"{module}.{rule} opens all protocols"


def _rules_of(sg: str):
    sec = hcl.modules()["security"]
    return [
        (n, body)
        for _, n, body in sec.resources("aws_vpc_security_group_ingress_rule")
        if hcl.inner(body["security_group_id"]) == f"aws_security_group.{sg}.id"
    ]


def test_prefix_list_ingress_is_only_cloudfront_to_the_alb():
    found = []
    for r in hcl.all_roots():
        for t, n, body in r.resources():
            if t in INGRESS_TYPES and "prefix_list_id" in body:
                found.append((r.name, n, body))
                assert r.name == "security" and hcl.inner(body["security_group_id"]) == "aws_security_group.alb.id"
                assert "aws_ec2_managed_prefix_list.cloudfront" in body["prefix_list_id"]
    # A rule on CloudFront's origin-facing list counts as ~55 of a group's 60 rules: one rule, one port.
    assert len(found) == 1, f"exactly one rule may reference the CloudFront prefix list: {[n for _, n, _ in found]}"
    _, _, body = found[0]
    assert "count" in body and "for_each" not in body
    assert hcl.inner(body["from_port"]) == hcl.inner(body["to_port"]) == "var.cloudfront_origin_port"
    port = hcl.modules()["security"].variables["cloudfront_origin_port"]
    assert port["default"] == 443 and "[80, 443]" in port["validation"][0]["condition"]
    assert hcl.env_scope(hcl.envs()["prod"], "security").var("cloudfront_origin_port") == 443


def test_app_accepts_only_the_alb_on_the_app_port():
    rules = _rules_of("app")
    assert len(rules) == 1, f"app security group must have exactly one ingress rule, has {[n for n, _ in rules]}"
    _, body = rules[0]
    assert hcl.inner(body["referenced_security_group_id"]) == "aws_security_group.alb.id"
    assert hcl.inner(body["from_port"]) == hcl.inner(body["to_port"]) == "var.app_port"
    assert not {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} & set(body)


def test_database_accepts_only_the_app_on_5432():
    rules = _rules_of("db")
    assert len(rules) == 1, f"db security group must have exactly one ingress rule, has {[n for n, _ in rules]}"
    _, body = rules[0]
    assert hcl.inner(body["referenced_security_group_id"]) == "aws_security_group.app.id"
    assert body["from_port"] == body["to_port"] == 5432
    assert not {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} & set(body)


def test_database_has_no_egress():
    sec = hcl.modules()["security"]
    egress = [
        n
        for _, n, body in sec.resources("aws_vpc_security_group_egress_rule")
        if hcl.inner(body["security_group_id"]) == "aws_security_group.db.id"
    ]
    assert not egress, f"db security group must not have egress rules: {egress}"


def test_open_egress_is_https_only():
    for r in hcl.all_roots():
        for _, n, body in r.resources("aws_vpc_security_group_egress_rule"):
            if body.get("cidr_ipv4") in OPEN_CIDRS or body.get("cidr_ipv6") in OPEN_CIDRS:
                assert body["from_port"] == body["to_port"] == 443, f"{r.name}: {n} opens egress to the internet beyond 443"


def test_the_app_port_is_the_container_port_everywhere():
    for env in hcl.envs().values():
        ports = {
            hcl.resolve(hcl.env_scope(env, "security").var("app_port"), None),
            hcl.resolve(hcl.env_scope(env, "alb").var("target_port"), None),
        }
        if "ecs_service" in env.module_calls:
            ports.add(hcl.env_scope(env, "ecs_service").var("container_port"))
        if "asg_service" in env.module_calls:
            ports.add(hcl.env_scope(env, "asg_service").var("app_port"))
        assert ports == {8000}, f"envs/{env.name}: ports disagree: {ports}"


def test_database_lives_in_isolated_subnets_without_a_public_address():
    data = hcl.modules()["data"]
    db = data.resource("aws_db_instance", "this")
    assert db["publicly_accessible"] is False
    group = data.resource("aws_db_subnet_group", "this")
    assert hcl.inner(group["subnet_ids"]) == "var.isolated_subnet_ids"
    for env in hcl.envs().values():
        assert hcl.inner(env.module_calls["data"]["isolated_subnet_ids"]) == "module.network.isolated_subnet_ids"


def test_isolated_route_table_has_no_routes_out():
    net = hcl.modules()["network"]
    for _, n, body in net.resources("aws_route"):
        assert "isolated" not in hcl.inner(body["route_table_id"]), f"aws_route.{n} routes the isolated tier out"


def test_tasks_get_no_public_ip():
    svc = hcl.modules()["ecs_service"].resource("aws_ecs_service", "this")
    assert svc["network_configuration"][0]["assign_public_ip"] is False
    for env in hcl.envs().values():
        if "ecs_service" in env.module_calls:
            assert hcl.inner(env.module_calls["ecs_service"]["subnet_ids"]) == "module.network.private_subnet_ids"
