"""Module layout and interface hygiene: what `terraform validate` and tflint would catch, offline."""

from __future__ import annotations

import re

import pytest

import hcl

MODULE_NAMES = sorted(hcl.modules())
ROOT_NAMES = [f"modules/{m}" for m in MODULE_NAMES] + [f"envs/{e}" for e in sorted(hcl.envs())]
META_ARGS = {"source", "count", "for_each", "providers", "depends_on", "version"}


def root(name: str) -> hcl.Root:
    kind, n = name.split("/")
    return (hcl.modules() if kind == "modules" else hcl.envs())[n]


def test_every_expected_module_exists():
    assert sorted(hcl.EXPECTED_MODULES) == MODULE_NAMES


def test_both_environments_exist():
    assert sorted(hcl.envs()) == ["dev", "prod"]


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_has_the_five_files(module):
    missing = [f for f in hcl.MODULE_FILES if not (hcl.MODULES_DIR / module / f).is_file()]
    assert not missing, f"modules/{module} lacks {missing}"


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_every_variable_is_typed_and_described(name):
    bad = [
        v
        for v, body in root(name).variables.items()
        if not body.get("type") or not str(body.get("description", "")).strip()
    ]
    assert not bad, f"{name}: variables without type or description: {bad}"


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_every_output_is_described(name):
    bad = [o for o, body in root(name).outputs.items() if not str(body.get("description", "")).strip()]
    assert not bad, f"{name}: outputs without description: {bad}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_outputs_use_try(module):
    """Outputs survive a count = 0 resource: try(..., null) or a plain local/var."""
    bad = []
    for o, body in hcl.modules()[module].outputs.items():
        expr = hcl.inner(body["value"]) or ""
        if re.search(r"\b(aws_[a-z0-9_]+|data\.aws_[a-z0-9_]+)\.", expr) and not expr.startswith("try("):
            bad.append(o)
    assert not bad, f"modules/{module}: outputs reading resources without try(): {bad}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_versions_are_lower_bounds(module):
    m = hcl.modules()[module]
    tf = m.files["versions.tf"]["terraform"][0]
    assert tf["required_version"] == ">= 1.6"
    if not m.resources() and not m.data_sources():
        # A module that only computes values (app_env) needs no provider, and declares none.
        assert "required_providers" not in tf, f"modules/{module} creates nothing and needs no provider"
        return
    aws = tf["required_providers"][0]["aws"]
    # 5.100 is the offline mirror (scripts/terraform-tests.sh), 6.x what `terraform init` downloads.
    assert aws["source"] == "hashicorp/aws" and aws["version"] == ">= 5.100, < 7.0"


@pytest.mark.parametrize("env", sorted(hcl.envs()))
def test_environment_pins_the_provider_major(env):
    tf = hcl.envs()[env].files["versions.tf"]["terraform"][0]
    providers = tf["required_providers"][0]
    assert providers["aws"]["version"] == ">= 5.100, < 7.0"
    assert {k for k in providers if not k.startswith("__")} == {"aws"}, "only hashicorp/aws is available offline (no random, null or tls)"


@pytest.mark.parametrize("env", sorted(hcl.envs()))
def test_environment_has_a_tfvars_example(env):
    assert (hcl.ENVS_DIR / env / "terraform.tfvars.example").is_file()


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_readme_documents_every_input_and_output(module):
    readme = (hcl.MODULES_DIR / module / "README.md").read_text()
    assert "<!-- BEGIN_TF_DOCS -->" in readme and "<!-- END_TF_DOCS -->" in readme
    docs = readme.split("<!-- BEGIN_TF_DOCS -->", 1)[1].split("<!-- END_TF_DOCS -->", 1)[0]
    m = hcl.modules()[module]
    missing = [n for n in list(m.variables) + list(m.outputs) if f"`{n}`" not in docs]
    assert not missing, f"modules/{module}/README.md does not document {missing}"
    stale = sorted(set(re.findall(r"^\| `([a-z0-9_]+)` \|", docs, re.M)) - set(m.variables) - set(m.outputs))
    assert not stale, f"modules/{module}/README.md documents names that no longer exist: {stale}"


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_module_calls_pass_only_declared_variables_and_all_required_ones(name):
    problems = []
    for call_name, call in root(name).module_calls.items():
        module = hcl.source_module(call)
        declared = module.variables
        args = {k for k in call if k not in META_ARGS and not k.startswith("__")}
        problems += [f"{call_name}: unknown argument {a}" for a in sorted(args - set(declared))]
        required = {v for v, body in declared.items() if "default" not in body}
        problems += [f"{call_name}: missing required {r}" for r in sorted(required - args)]
    assert not problems, f"{name}: {problems}"


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_every_module_output_reference_exists(name):
    e = root(name)
    calls = e.module_calls
    refs = set(re.findall(r"\bmodule\.([a-z0-9_]+)(?:\[[^\]]*\])?\.([a-z0-9_]+)", e.text()))
    assert bool(refs) == bool(calls), f"{name}: module calls {sorted(calls)} but references {sorted(refs)}"
    bad = []
    for mod, out in sorted(refs):
        if mod not in calls:
            bad.append(f"module.{mod} is not called")
        elif out not in hcl.source_module(calls[mod]).outputs:
            bad.append(f"module.{mod}.{out}: no such output in {calls[mod]['source']}")
    assert not bad, f"{name}: {bad}"


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_var_and_local_references_are_declared(name):
    r = root(name)
    text = "\n".join(expr for doc in r.files.values() for expr in hcl.interpolations(doc))
    used_vars = set(re.findall(r"\bvar\.([a-z0-9_]+)", text))
    used_locals = set(re.findall(r"\blocal\.([a-z0-9_]+)", text))
    assert not used_vars - set(r.variables), f"{name}: undeclared variables {sorted(used_vars - set(r.variables))}"
    assert not used_locals - set(r.locals), f"{name}: undeclared locals {sorted(used_locals - set(r.locals))}"


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_resource_and_data_references_exist(name):
    r = root(name)
    resources = {(t, n) for t, n, _ in r.resources()}
    data = {(t, n) for t, n, _ in r.data_sources()}
    bad = set()
    for _, doc in r.files.items():
        # `moved` blocks name addresses that no longer exist, on purpose.
        doc = {k: v for k, v in doc.items() if k != "moved"}
        for expr in hcl.interpolations(doc):
            for t, n in re.findall(r"\bdata\.((?:aws|random)_[a-z0-9_]+)\.([a-z0-9_]+)", expr):
                if (t, n) not in data:
                    bad.add(f"data.{t}.{n}")
            stripped = re.sub(r"\bdata\.[a-z0-9_]+\.[a-z0-9_]+", "", expr)
            for t, n in re.findall(r"(?<![\w.])((?:aws|random)_[a-z0-9_]+)\.([a-z0-9_]+)", stripped):
                if (t, n) not in resources:
                    bad.add(f"{t}.{n}")
    assert not bad, f"{name}: references to undeclared resources {sorted(bad)}"


def test_no_registry_modules_anywhere():
    for r in hcl.all_roots():
        for name, call in r.module_calls.items():
            assert call["source"].startswith("../../modules/"), f"{r.path}: module {name} uses {call['source']}"


def test_deployment_guide_covers_every_environment_variable_and_module():
    guide = (hcl.REPO / "docs" / "deploy-aws.md").read_text()
    for env in hcl.envs().values():
        missing = [v for v in env.variables if f"`{v}`" not in guide]
        assert not missing, f"docs/deploy-aws.md does not describe envs/{env.name} variables {missing}"
    for module in hcl.EXPECTED_MODULES:
        assert f"../infra/modules/{module}/README.md" in guide, f"docs/deploy-aws.md does not link modules/{module}"
    for section in ("```mermaid", "## Monthly cost", "## Back to nothing", "bastion", "/health/live", "deregistration"):
        assert section in guide, f"docs/deploy-aws.md lacks {section!r}"


def test_every_checkov_skip_is_inline_with_a_reason():
    skips = []
    for tf in sorted(hcl.INFRA.rglob("*.tf")):
        for n, line in enumerate(tf.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                m = re.search(r"#\s*checkov:skip=(CKV2?_[A-Z]+_\d+)\s*:\s*(.+)$", line)
                assert m, f"{tf.relative_to(hcl.REPO)}:{n}: malformed skip: {line.strip()}"
                assert len(m.group(2).split()) >= 5, f"{tf.relative_to(hcl.REPO)}:{n}: {m.group(1)} needs a real reason"
                skips.append(m.group(1))
    assert skips, "expected some reasoned skips"
    script = (hcl.REPO / "scripts" / "check-infra.sh").read_text()
    assert "--skip-check" not in script and "--soft-fail" not in script, "skips belong inline, not on the command line"
