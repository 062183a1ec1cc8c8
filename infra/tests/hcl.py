"""Load every Terraform file under infra/ with python-hcl2 and answer questions about it.

There is no Terraform binary on the machines that run these tests, so this module does the small
part of Terraform's job the checks need: find blocks, and resolve simple expressions
(`var.x`, `local.x`, `tostring(...)`, literals) through a module call into a module's defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import hcl2

INFRA = Path(__file__).resolve().parent.parent
REPO = INFRA.parent
MODULES_DIR = INFRA / "modules"
ENVS_DIR = INFRA / "envs"

EXPECTED_MODULES = (
    "app_env",
    "network",
    "security",
    "alb",
    "ecs_service",
    "asg_service",
    "data",
    "cdn",
    "observability",
    "ci",
)
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")

_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
_WHOLE_EXPR = re.compile(r"^\$\{(.*)\}$", re.S)
_UNRESOLVED = object()
# Arguments of a `module` block that are Terraform's, not the module's variables.
_CALL_META_ARGS = ("source", "count", "for_each", "providers", "depends_on")


class Unresolved(Exception):
    """An expression this small evaluator cannot reduce to a value."""


@dataclass
class Root:
    """One Terraform module directory (a reusable module or an environment root)."""

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def blocks(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Top-level blocks of one kind, with the file they came from."""
        found = []
        for fname, doc in self.files.items():
            for block in doc.get(kind, []):
                found.append((fname, block))
        return found

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        return {name: body for _, b in self.blocks("variable") for name, body in b.items()}

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {name: body for _, b in self.blocks("output") for name, body in b.items()}

    @property
    def locals(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for _, b in self.blocks("locals"):
            merged.update({k: v for k, v in b.items() if not k.startswith("__")})
        return merged

    @property
    def module_calls(self) -> dict[str, dict[str, Any]]:
        return {name: body for _, b in self.blocks("module") for name, body in b.items()}

    def resources(self, rtype: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, name, body) of every resource, optionally of one type."""
        out = []
        for _, b in self.blocks("resource"):
            for t, named in b.items():
                if rtype is None or t == rtype:
                    for n, body in named.items():
                        out.append((t, n, body))
        return out

    def data_sources(self, dtype: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        out = []
        for _, b in self.blocks("data"):
            for t, named in b.items():
                if dtype is None or t == dtype:
                    for n, body in named.items():
                        out.append((t, n, body))
        return out

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        for t, n, body in self.resources(rtype):
            if n == name:
                return body
        raise KeyError(f"{self.path}: no resource {rtype}.{name}")

    def text(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.path.glob("*.tf")))


def load_root(path: Path) -> Root:
    root = Root(path=path)
    for tf in sorted(path.glob("*.tf")):
        root.files[tf.name] = hcl2.loads(tf.read_text(), serialization_options=_OPTIONS)
    return root


@lru_cache(maxsize=None)
def modules() -> dict[str, Root]:
    return {p.name: load_root(p) for p in sorted(MODULES_DIR.iterdir()) if p.is_dir()}


@lru_cache(maxsize=None)
def envs() -> dict[str, Root]:
    return {p.name: load_root(p) for p in sorted(ENVS_DIR.iterdir()) if p.is_dir()}


def all_roots() -> list[Root]:
    return list(modules().values()) + list(envs().values())


def source_module(call: dict[str, Any]) -> Root:
    """The module a `module` block's local `source` points at."""
    source = call["source"]
    if not source.startswith("../../modules/"):
        raise AssertionError(f"module source {source!r} is not one of ours (registry modules are not allowed)")
    return modules()[source.rsplit("/", 1)[-1]]


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------


def inner(expr: Any) -> str | None:
    """The expression inside "${...}" when the whole value is one interpolation, else None."""
    if isinstance(expr, str):
        m = _WHOLE_EXPR.match(expr.strip())
        if m and "${" not in m.group(1):
            return m.group(1).strip()
    return None


def interpolations(value: Any) -> list[str]:
    """Every "${...}" expression text inside a (nested) value."""
    found: list[str] = []
    if isinstance(value, str):
        depth, start = 0, None
        i = 0
        while i < len(value):
            if value.startswith("${", i):
                if depth == 0:
                    start = i + 2
                depth += 1
                i += 2
                continue
            if value[i] == "{" and depth > 0:
                depth += 1
            elif value[i] == "}" and depth > 0:
                depth -= 1
                if depth == 0 and start is not None:
                    found.append(value[start:i])
            i += 1
    elif isinstance(value, dict):
        for k, v in value.items():
            if not str(k).startswith("__"):
                found.extend(interpolations(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(interpolations(v))
    return found


@dataclass
class Scope:
    """Where names resolve: a module (its locals and variables) called with some arguments."""

    module: Root
    args: dict[str, Any]
    parent: "Scope | None" = None

    def var(self, name: str) -> Any:
        if name in self.args:
            value = self.args[name]
            return resolve(value, self.parent) if self.parent else value
        variables = self.module.variables
        if name not in variables:
            raise Unresolved(f"{self.module.name}: no variable {name}")
        if "default" not in variables[name]:
            raise Unresolved(f"{self.module.name}: variable {name} has no default and no argument")
        return variables[name]["default"]

    def local(self, name: str) -> Any:
        locals_ = self.module.locals
        if name not in locals_:
            raise Unresolved(f"{self.module.name}: no local {name}")
        return resolve(locals_[name], self)


def resolve(value: Any, scope: Scope | None) -> Any:
    """Reduce a value to a Python literal, following var./local. through the scope chain. A string
    template ("stratus-${var.environment}") has each of its interpolations resolved."""
    expr = inner(value)
    if expr is None:
        if isinstance(value, str) and "${" in value and scope is not None:
            for e in interpolations(value):
                value = value.replace("${" + e + "}", str(_eval(e, scope)), 1)
        return value
    return _eval(expr, scope)


def _eval(expr: str, scope: Scope | None) -> Any:
    expr = expr.strip()
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    if expr in ("true", "false"):
        return expr == "true"
    if scope is None:
        raise Unresolved(expr)
    m = re.fullmatch(r"(tostring|tonumber)\((.*)\)", expr, re.S)
    if m:
        v = _eval(m.group(2), scope)
        return str(v) if m.group(1) == "tostring" else int(v)
    m = re.fullmatch(r"var\.([a-z0-9_]+)", expr)
    if m:
        return scope.var(m.group(1))
    m = re.fullmatch(r"local\.([a-z0-9_]+)", expr)
    if m:
        return scope.local(m.group(1))
    m = re.fullmatch(r'"([^"$]*)"', expr)
    if m:
        return m.group(1)
    raise Unresolved(expr)


def env_scope(env: Root, module_name: str) -> Scope:
    """The scope of `module "<module_name>"` as called by an environment root."""
    call = env.module_calls[module_name]
    args = {k: v for k, v in call.items() if k not in _CALL_META_ARGS}
    return Scope(module=source_module(call), args=args, parent=Scope(module=env, args={}))


def default_scope(module_name: str) -> Scope:
    """A module called with no arguments beyond its required ones (defaults only)."""
    return Scope(module=modules()[module_name], args={})


def child_scope(parent: Scope, call_name: str) -> Scope:
    """The scope of `module "<call_name>"` as called inside the module of `parent`."""
    call = parent.module.module_calls[call_name]
    args = {k: v for k, v in call.items() if k not in _CALL_META_ARGS}
    return Scope(module=source_module(call), args=args, parent=parent)


def json_of(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
