#!/usr/bin/env python3
"""Regenerate the Inputs/Outputs tables between BEGIN_TF_DOCS/END_TF_DOCS in each module README.

A small stand-in for terraform-docs (not installable here). Run with the hcl2 venv:
    .venv/hcl2/bin/python infra/tools/tfdocs.py          # rewrite the tables
    .venv/hcl2/bin/python infra/tools/tfdocs.py --check  # exit 1 if any README is stale
infra/tests/test_structure.py checks that every input and output is documented.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import hcl  # noqa: E402

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def type_of(body: dict) -> str:
    t = body.get("type", "")
    return hcl.inner(t) or str(t)


def default_of(body: dict) -> str:
    if "default" not in body:
        return "n/a"
    d = body["default"]
    if d is None:
        return "`null`"
    if isinstance(d, str) and hcl.inner(d) is None:
        return f'`"{d}"`'
    return f"`{json.dumps(d)}`" if not isinstance(d, str) else f"`{d}`"


def table(module: hcl.Root) -> str:
    versions = module.files["versions.tf"]["terraform"][0]
    providers = versions.get("required_providers", [{}])[0]
    lines = [
        BEGIN,
        "## Requirements",
        "",
        "| Name | Version |",
        "|------|---------|",
        f"| terraform | `{versions['required_version']}` |",
    ]
    # A module that only computes values (app_env) requires no provider.
    lines += [f"| {name} | `{p['version']}` |" for name, p in providers.items() if not name.startswith("__")]
    lines += [
        "",
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for name, body in module.variables.items():
        required = "yes" if "default" not in body else "no"
        lines.append(
            f"| `{name}` | {cell(body.get('description', ''))} | `{cell(type_of(body))}` | {cell(default_of(body))} | {required} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for name, body in module.outputs.items():
        lines.append(f"| `{name}` | {cell(body.get('description', ''))} |")
    lines.append(END)
    return "\n".join(lines)


def render(readme: str, module: hcl.Root) -> str:
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + table(module) + tail
    return readme.rstrip("\n") + "\n\n" + table(module) + "\n"


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for name, module in sorted(hcl.modules().items()):
        path = hcl.MODULES_DIR / name / "README.md"
        current = path.read_text() if path.exists() else f"# {name}\n"
        wanted = render(current, module)
        if wanted != current:
            stale.append(str(path))
            if not check:
                path.write_text(wanted)
    if check and stale:
        print("stale README tables (run infra/tools/tfdocs.py):", *stale, sep="\n  ")
        return 1
    if not check:
        print("updated:", *stale, sep="\n  ") if stale else print("all README tables up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
