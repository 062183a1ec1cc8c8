"""One `stratus serve` of its own, outside the stack, for the faults that need their own storage (a full
disk, a bad link to PostgreSQL, AWS behind a faulty proxy, a crash loop on SQLite).

Its environment is built from nothing but PATH and HOME plus what the test passes, so no setting of the
surrounding shell (scripts/test.sh exports DATABASE_URL and AWS_* for the other suites) leaks in. It listens
on a free loopback port; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from stackctl import http_get

# As the stack's instances (conftest.APP_ENV): a short request timeout, a statement timeout under it.
BASE_ENV = {
    "STRATUS_REQUEST_TIMEOUT": "4s",
    "DATABASE_STATEMENT_TIMEOUT": "3s",
    "DATABASE_CONNECT_TIMEOUT": "5s",
    "STRATUS_MAX_CONCURRENT_REQUESTS": "48",
    "STRATUS_DRAIN_SECONDS": "0",
    "STRATUS_SHUTDOWN_TIMEOUT": "10",
    "STRATUS_INSTANCE_METADATA": "hostname",
    "STRATUS_LOG_FLUSH": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Solo:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            **BASE_ENV,
            **env,
            "STRATUS_LISTEN": f"127.0.0.1:{self.port}",
        }
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: str = "/health/live", timeout: float = 30.0) -> float:
        """Starts the process; returns the seconds until `wait` answered 200."""
        started = time.monotonic()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.environ["STRATUS_BIN"], "serve"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            if http_get(self.url + wait, timeout=1)[0] == 200:
                return time.monotonic() - started
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: {wait} not 200 within {timeout} s; see {self.log_path}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int | None:
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def get_json(self, path: str, timeout: float = 3.0) -> tuple[int, dict]:
        status, _, body = http_get(self.url + path, timeout=timeout)
        try:
            return status, json.loads(body or b"{}")
        except ValueError:
            return status, {}

    def metric(self, metric: str, labels: str = "") -> float:
        status, _, body = http_get(self.url + "/metrics", timeout=3)
        if status != 200:
            return float("nan")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(metric) and labels in line and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


BOUNDARY = "stratus-fault-boundary-5f1c"


def upload(url: str, data: bytes, filename: str = "f.bin", timeout: float = 20.0) -> tuple[int, dict[str, str], dict]:
    """POST /api/v1/files with one `file` part: (status, headers, JSON body)."""
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    request = urllib.request.Request(url + "/api/v1/files", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return err.code, {k.lower(): v for k, v in err.headers.items()}, parsed
    except OSError as err:
        return 0, {}, {"error": type(err).__name__}


def post_json(url: str, path: str, payload: dict, timeout: float = 10.0) -> tuple[int, dict[str, str], dict]:
    request = urllib.request.Request(url + path, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            parsed = {}
        return err.code, {k.lower(): v for k, v in err.headers.items()}, parsed
    except OSError as err:
        return 0, {}, {"error": type(err).__name__}
