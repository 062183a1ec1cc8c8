"""Driving `scripts/stack` from the tests, and watching what the stack does.

Everything here talks only to loopback addresses that `scripts/stack env` prints. Every wait is bounded.
"""

from __future__ import annotations

import csv
import io
import os
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack"
APPS = ("app1", "app2", "app3")


class StackError(RuntimeError):
    pass


def http_get(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> tuple[int, float, bytes]:
    """(status, seconds, body); status 0 when no HTTP answer came."""
    started = time.monotonic()
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read()
            return reply.status, time.monotonic() - started, body
    except urllib.error.HTTPError as err:
        return err.code, time.monotonic() - started, err.read()
    except OSError:
        return 0, time.monotonic() - started, b""


class Stack:
    """One running `scripts/stack`, in its own state directory."""

    def __init__(self, state_dir: Path, app_env: dict[str, str]):
        self.state_dir = state_dir
        self.env = {**os.environ, **app_env, "STRATUS_STACK_DIR": str(state_dir)}
        self.urls: dict[str, str] = {}

    # --- the script -------------------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(STACK), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise StackError(f"scripts/stack {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def up(self) -> str:
        out = self.run("up", timeout=300).stdout
        for line in self.run("env").stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            self.urls[name] = shlex.split(value)[0] if value else ""
        return out

    def down(self) -> None:
        self.run("down", timeout=120)

    def status(self) -> dict[str, tuple[str, str, str]]:
        out = self.run("status", check=False).stdout
        parts = {}
        for line in out.splitlines():
            name, state, url, pid = line.split()
            parts[name] = (state, url, pid)
        return parts

    def pid(self, name: str) -> int:
        path = self.state_dir / f"{name}.pid"
        return int(path.read_text().strip())

    def app_url(self, name: str) -> str:
        return self.urls[f"STACK_{name.upper()}_URL"]

    @property
    def alb(self) -> str:
        return self.urls["STACK_ALB_URL"]

    @property
    def cdn(self) -> str:
        return self.urls["STACK_CDN_URL"]

    @property
    def origin_headers(self) -> dict[str, str]:
        return {"X-Origin-Verify": self.urls["STACK_ORIGIN_SECRET"]}

    # --- the database -----------------------------------------------------------------------------------
    def sql(self, statement: str, timeout: float = 30) -> str:
        return self.run("psql", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", statement, timeout=timeout).stdout

    def visit_count(self) -> int:
        return int(self.sql("SELECT visit_count FROM visit_counter WHERE visit_counter_id = 1").strip())

    def stored_writes(self, prefix: str) -> set[tuple[str, str]]:
        # The prefix is ours (letters, digits, '-'): safe to inline.
        assert prefix.replace("-", "").isalnum(), prefix
        rows = self.sql(f"SELECT username, number FROM submission WHERE username LIKE '{prefix}%'")
        return {tuple(line.split("\t")) for line in rows.splitlines() if line}

    # --- health -----------------------------------------------------------------------------------------
    def haproxy_states(self) -> dict[str, str]:
        """app1..app3 -> UP / DOWN / 'UP 1/2' ... as HAProxy's health checks see them."""
        status, _, body = http_get(self.urls["STACK_ALB_STATS_URL"], timeout=2)
        if status != 200:
            return {}
        rows = csv.reader(io.StringIO(body.decode().lstrip("# ")))
        header = next(rows)
        at = {name: i for i, name in enumerate(header)}
        return {r[at["svname"]]: r[at["status"]] for r in rows if r and r[at["pxname"]] == "app" and r[at["svname"]] in APPS}

    def app_health(self, name: str, timeout: float = 2.0) -> int:
        return http_get(self.app_url(name) + "/health", timeout=timeout)[0]

    def wait_until(self, predicate, timeout: float, step: float = 0.05) -> float | None:
        """Seconds until predicate() held, or None when it did not within `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if predicate():
                return time.monotonic() - started
            time.sleep(step)
        return None

    def all_up_in_haproxy(self) -> bool:
        states = self.haproxy_states()
        return len(states) == 3 and all(s == "UP" for s in states.values())

    def wait_all_healthy(self, timeout: float = 30) -> float:
        took = self.wait_until(
            lambda: all(self.app_health(a) == 200 for a in APPS) and self.all_up_in_haproxy(), timeout, step=0.1
        )
        if took is None:
            raise StackError(f"the stack was not healthy within {timeout} s: {self.status()} {self.haproxy_states()}")
        return took

    def metric_total(self, name: str, metric: str, labels: str = "") -> float:
        """Sum of a Prometheus counter on one instance (lines starting with `metric{...labels...`)."""
        status, _, body = http_get(self.app_url(name) + "/metrics", timeout=2)
        if status != 200:
            raise StackError(f"/metrics of {name} answered {status}")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(metric) and labels in line and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


@dataclass
class Monitor:
    """Polls HAProxy's view of the instances (every 50 ms) and, optionally, each instance's /health."""

    stack: Stack
    probe_health: bool = False
    haproxy: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    health: list[tuple[float, str, int, float]] = field(default_factory=list)  # (t, app, status, seconds)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "Monitor":
        self._threads.append(threading.Thread(target=self._watch_haproxy, daemon=True))
        if self.probe_health:
            self._threads.append(threading.Thread(target=self._watch_health, daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def _watch_haproxy(self) -> None:
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            states = self.stack.haproxy_states()
            if states:
                self.haproxy.append((time.monotonic(), states))
            time.sleep(0.05)

    def _watch_health(self) -> None:
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            for app in APPS:
                started = time.monotonic()
                status, seconds, _ = http_get(self.stack.app_url(app) + "/health", timeout=3)
                self.health.append((started, app, status, seconds))
            time.sleep(0.2)

    def first_time(self, server: str, state_prefix: str, after: float) -> float | None:
        for t, states in self.haproxy:
            if t >= after and states.get(server, "").startswith(state_prefix):
                return t
        return None

    def first_time_all_up(self, after: float) -> float | None:
        for t, states in self.haproxy:
            if t >= after and len(states) == 3 and all(s == "UP" for s in states.values()):
                return t
        return None
