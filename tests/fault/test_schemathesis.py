"""schemathesis against /api/v1/openapi.json of one running instance of the stack (on PostgreSQL).

Runs after the faults (same session, same stack), so the fuzzer's requests do not disturb the load
client's counts. Every check runs (schemathesis's default is all of them); schemathesis.toml lists the
one narrowly scoped exception and why, schemathesis_hooks.py the one generator extension. No 5xx, every
response matches the schema, or this fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import OUTPUT

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = 50
SEED = 20261123


def test_api_fuzzing_finds_no_server_error_and_no_schema_mismatch(healthy_stack):
    stack = healthy_stack
    out = OUTPUT / "schemathesis.txt"
    cli = Path(sys.executable).parent / "schemathesis"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(HERE), "NO_COLOR": "1"}
    done = subprocess.run(
        [str(cli), "--config-file", str(HERE / "schemathesis.toml"), "run",
         stack.app_url("app1") + "/api/v1/openapi.json",
         "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--request-timeout", "10",
         "--report", "junit", "--report-junit-path", str(OUTPUT / "schemathesis-junit.xml")],
        cwd=OUTPUT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    text = done.stdout + done.stderr
    out.write_text(text)
    generated = re.search(r"(\d+) generated", text)
    summary = {
        "exit_code": done.returncode,
        "generated": int(generated.group(1)) if generated else None,
        "result_line": next((line.strip("= ").strip() for line in reversed(text.splitlines()) if line.startswith("=")), ""),
        "failures": re.findall(r"^\s*❌ (.+)$", text.split("SUMMARY")[-1], flags=re.M),
        "max_examples": MAX_EXAMPLES,
        "seed": SEED,
    }
    (OUTPUT / "schemathesis.json").write_text(json.dumps(summary, indent=2))
    assert done.returncode == 0, f"schemathesis found problems (see {out}):\n{text[-3000:]}"
