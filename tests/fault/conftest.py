"""The fault suite's fixtures: one stack for the whole session, and a place for each test's measurements.

`scripts/fault-tests.sh` runs this suite; `tests/fault/report.py` turns what it records into
docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from stackctl import ROOT, Stack

OUTPUT = Path(os.environ.get("FAULT_OUTPUT_DIR", ROOT / "test-output" / "fault"))

# The instances' settings for the whole suite. The short request timeout and low concurrency limit make
# fault 6 (a slow database) show timeouts and shedding within seconds; the limit (48) stays above the load
# client's 32 workers, so only fault 6's burst of 96 can reach it, never the steady load (a limit of 16
# shed the burst that HAProxy redispatches when an instance dies, and a cold instance's first requests); the statement timeout must stay
# below the request timeout (the service refuses to start otherwise), and the connect timeout (also the
# pool's acquire timeout) above it, so requests queued for a connection meet the request timeout.
# The statement timeout is 3 s, not shorter: on a loaded 2-core machine PostgreSQL (fsync on) was seen to
# stall every commit for ~1.5 s during the rolling restart, and a 1.5 s statement timeout turned that stall
# into a failed page view in a fault that must have none.
APP_ENV = {
    "STRATUS_REQUEST_TIMEOUT": "4s",
    "DATABASE_STATEMENT_TIMEOUT": "3s",
    "DATABASE_CONNECT_TIMEOUT": "5s",
    "STRATUS_MAX_CONCURRENT_REQUESTS": "48",
    "STRATUS_DRAIN_SECONDS": "5",
    "STRATUS_SHUTDOWN_TIMEOUT": "25",
    "STACK_CHECK_INTER": "1s",
    "STACK_CHECK_RISE": "2",
    "STACK_CHECK_FALL": "3",
}


@pytest.fixture(scope="session")
def stack():
    if not os.environ.get("STRATUS_BIN"):
        pytest.fail("STRATUS_BIN is not set: scripts/fault-tests.sh sets it (the binary is never built here)")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="stratus-fault-stack."))
    the_stack = Stack(state, APP_ENV)
    started = time.monotonic()
    (OUTPUT / "stack-up.txt").write_text(the_stack.up())
    (OUTPUT / "stack-up-seconds.txt").write_text(f"{time.monotonic() - started:.1f}\n")
    try:
        yield the_stack
    finally:
        logs = state / "logs"
        if logs.is_dir():
            shutil.rmtree(OUTPUT / "logs", ignore_errors=True)
            shutil.copytree(logs, OUTPUT / "logs")
        the_stack.down()
        shutil.rmtree(state, ignore_errors=True)


FAILED_BEFORE: list[str] = []


@pytest.fixture
def healthy_stack(stack, request):
    """The stack, every part healthy, before a test starts. A failed test must not poison the next: an
    instance still unhealthy after 10 s is restarted, and that is written down (restarts.txt), because
    an instance that needs a restart to recover is itself a finding."""
    parts = stack.status()
    if parts.get("postgres", ("",))[0] != "healthy":
        stack.run("start", "postgres")
    for name in ("app1", "app2", "app3"):
        if parts.get(name, ("",))[0] != "healthy" and not (stack.state_dir / f"{name}.pid").exists():
            stack.run("start", name)
    try:
        stack.wait_all_healthy(timeout=10)
        # After a failed fault an instance can look healthy and still be damaged (fault 6 leaves pools
        # that leak connections): start the next fault from fresh instances.
        stuck = list(("app1", "app2", "app3")) if FAILED_BEFORE else []
        reason = "a previous fault failed"
    except Exception:
        stuck = [a for a in ("app1", "app2", "app3") if stack.app_health(a) != 200]
        reason = "unhealthy 10 s after the previous test"
    if stuck:
        with open(OUTPUT / "restarts.txt", "a") as f:
            f.write(f"before {request.node.name}: restarted {' '.join(stuck)} ({reason})\n")
        for name in stuck:
            stack.run("stop", name, "--signal", "KILL", check=False)
            stack.run("start", name)
        stack.wait_all_healthy(timeout=30)
        FAILED_BEFORE.clear()
    return stack


@pytest.fixture
def record():
    """record(fault_id, dict): the measurements of one fault, written where report.py reads them."""

    def write(fault_id: str, data: dict) -> None:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / f"fault-{fault_id}.json").write_text(json.dumps(data, indent=2, sort_keys=True))

    return write


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        FAILED_BEFORE.append(item.name)
    if report.when == "call" or (report.when == "setup" and report.failed):
        path = OUTPUT / "outcomes.json"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        results = json.loads(path.read_text()) if path.exists() else {}
        results[item.name] = {
            "passed": report.passed,
            "seconds": round(report.duration, 1),
            "message": str(report.longrepr.reprcrash.message)[:600] if report.failed and hasattr(report.longrepr, "reprcrash") else "",
        }
        path.write_text(json.dumps(results, indent=2, sort_keys=True))
