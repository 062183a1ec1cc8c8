"""The Stratus binary's own contracts, asked from $STRATUS_BIN.

Called inside test bodies (not fixtures) so that a missing binary makes those tests FAIL, with a
message saying what to do, instead of erroring or skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest


def path() -> str:
    value = os.environ.get("STRATUS_BIN", "")
    if not value:
        pytest.fail(
            "STRATUS_BIN is not set: this check compares the HCL with what the binary itself reports. "
            "Build it (cargo build --release --locked) and run "
            "STRATUS_BIN=$PWD/target/release/stratus scripts/check-infra.sh",
            pytrace=False,
        )
    if not (Path(value).is_file() and os.access(value, os.X_OK)):
        pytest.fail(f"STRATUS_BIN={value} is not an executable file", pytrace=False)
    return value


@lru_cache(maxsize=None)
def _run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([path(), *args], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def run(*args: str) -> str:
    code, out, err = _run(*args)
    if code != 0:
        pytest.fail(f"$STRATUS_BIN {' '.join(args)} exited {code}: {err.strip()}", pytrace=False)
    return out


def env_names() -> set[str]:
    """Every environment variable name the binary reads (`stratus config --list-env`)."""
    names = {line.strip() for line in run("config", "--list-env").splitlines() if line.strip()}
    if not names:
        pytest.fail("`stratus config --list-env` printed nothing", pytrace=False)
    return names


def dynamodb_schemas() -> list[dict]:
    """The DynamoDB tables the binary expects (`stratus config --dynamodb-schemas`)."""
    out = run("config", "--dynamodb-schemas")
    try:
        schemas = json.loads(out)
    except json.JSONDecodeError as e:
        pytest.fail(f"`stratus config --dynamodb-schemas` did not print JSON: {e}", pytrace=False)
    if not isinstance(schemas, list) or not schemas:
        pytest.fail("`stratus config --dynamodb-schemas` printed no tables", pytrace=False)
    return schemas
