"""A steady, bounded load of writes and page views, recording what every request got.

Open loop: requests start at a fixed rate whatever the answers, as users arrive whatever the service
does, so a slow or failing instance shows up as failures and latency instead of as a slower test. A pool
of worker threads (each with its own keep-alive connection) sends them; the run is bounded both in
requests and in seconds, and stops by itself.

The mix, per 10 requests: 4 JSON writes (`POST /api/v1/submissions`, acknowledged by 201), 5 page views
(`GET /`), 1 form write (`POST /` with the page's CSRF token and cookie, acknowledged by 303). Every
write has a unique username (`<prefix><n>`) and a number, so the check afterwards can look each one up.
Nothing is retried: a failure is recorded exactly as a user would have seen it.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import re
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

CSRF_FIELD = re.compile(rb'name="csrf_token"\s+value="([^"]+)"')


@dataclass
class Outcome:
    kind: str  # "api_write" | "form_write" | "view"
    start: float  # time.monotonic() when it was due to start
    sent: float  # when a worker actually sent it
    end: float
    status: int  # HTTP status, 0 when no HTTP answer came (connection refused/reset, timeout)
    error: str  # exception class name for status 0, else ""
    server: str  # X-Stack-Server: which instance HAProxy sent it to ("" when not through HAProxy)
    username: str = ""
    number: str = ""
    retry_after: bool = False

    @property
    def ok(self) -> bool:
        expected = {"api_write": 201, "form_write": 303, "view": 200}[self.kind]
        return self.status == expected

    @property
    def is_write(self) -> bool:
        return self.kind != "view"


class Load:
    def __init__(
        self,
        base_url: str,
        *,
        prefix: str,
        headers: dict[str, str] | None = None,
        cafile: str | None = None,
        rate: float = 60.0,
        workers: int = 32,
        max_seconds: float = 120.0,
        timeout: float = 15.0,
    ):
        url = urllib.parse.urlsplit(base_url)
        self.https = url.scheme == "https"
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if self.https else 80)
        self.headers = headers or {}
        self.context = ssl.create_default_context(cafile=cafile) if self.https else None
        self.prefix = prefix
        self.rate = rate
        self.workers = workers
        self.max_seconds = max_seconds
        self.max_requests = int(rate * max_seconds)
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._random = random.Random(prefix)

    # --- control ----------------------------------------------------------------------------------------
    def start(self) -> "Load":
        self.started = time.monotonic()
        for _ in range(self.workers):
            t = threading.Thread(target=self._work, daemon=True)
            t.start()
            self._threads.append(t)
        scheduler = threading.Thread(target=self._schedule, daemon=True)
        scheduler.start()
        self._threads.append(scheduler)
        return self

    def stop(self) -> list[Outcome]:
        """Stops scheduling, waits for the requests in flight, returns every outcome."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout + 5)
        return sorted(self.outcomes, key=lambda o: o.start)

    def in_flight_at(self, t: float) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.sent <= t < o.end)

    def last_failure_end(self) -> float | None:
        with self._lock:
            ends = [o.end for o in self.outcomes if not o.ok]
        return max(ends) if ends else None

    # --- internals --------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        for i in range(self.max_requests):
            due = self.started + i / self.rate
            if self._stop.is_set() or due - self.started > self.max_seconds:
                break
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            self._jobs.put((i, due))
        for _ in range(self.workers):
            self._jobs.put(None)

    def _connection(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _work(self) -> None:
        conn = self._connection()
        cookie = ""
        token = ""
        while True:
            job = self._jobs.get()
            if job is None:
                break
            i, due = job
            slot = i % 10
            if slot in (0, 2, 4, 6):
                kind = "api_write"
            elif slot == 9 and token:
                kind = "form_write"
            else:
                kind = "view"
            username = f"{self.prefix}{i}" if kind != "view" else ""
            number = f"{self._random.randrange(10**8):08d}" if username else ""
            headers = dict(self.headers)
            if kind == "api_write":
                method, path = "POST", "/api/v1/submissions"
                body = json.dumps({"username": username, "number": number}).encode()
                headers["Content-Type"] = "application/json"
            elif kind == "form_write":
                method, path = "POST", "/"
                body = urllib.parse.urlencode({"username": username, "number": number, "csrf_token": token}).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                headers["Cookie"] = f"stratus_csrf={cookie}"
            else:
                method, path, body = "GET", "/", None
                if cookie:
                    headers["Cookie"] = f"stratus_csrf={cookie}"
            sent = time.monotonic()
            status, error, server, retry_after, page = 0, "", "", False, b""
            try:
                conn.request(method, path, body=body, headers=headers)
                reply = conn.getresponse()
                page = reply.read()
                status = reply.status
                server = reply.getheader("X-Stack-Server", "")
                retry_after = reply.getheader("Retry-After") is not None
                if reply.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as err:
                error = type(err).__name__
                conn.close()
                conn = self._connection()
            end = time.monotonic()
            if kind == "view" and status == 200:
                if m := CSRF_FIELD.search(page):
                    token = m.group(1).decode()
                # The page's token is the cookie's value (double submit); it is set on the first view.
                cookie = cookie or token
            outcome = Outcome(kind, due, sent, end, status, error, server, username, number, retry_after)
            with self._lock:
                self.outcomes.append(outcome)
        conn.close()


def summarize(outcomes: list[Outcome], stored: set[tuple[str, str]]) -> dict:
    """What the report needs: counts, and the writes that were acknowledged but are not stored."""
    writes = [o for o in outcomes if o.is_write]
    acked = [o for o in writes if o.ok]
    lost = [o for o in acked if (o.username, o.number) not in stored]
    failed_writes = [o for o in writes if not o.ok]
    failed_but_stored = [o for o in failed_writes if (o.username, o.number) in stored]
    views = [o for o in outcomes if o.kind == "view"]
    failed = [o for o in outcomes if not o.ok]
    by_status: dict[str, int] = {}
    for o in failed:
        key = str(o.status) if o.status else o.error
        by_status[key] = by_status.get(key, 0) + 1
    return {
        "sent": len(outcomes),
        "failed": len(failed),
        "failed_by_status": by_status,
        "writes": len(writes),
        "acknowledged_writes": len(acked),
        "lost_writes": len(lost),
        "lost_examples": [o.username for o in lost[:5]],
        "failed_writes": len(failed_writes),
        "failed_writes_stored": len(failed_but_stored),
        "views_ok": sum(1 for o in views if o.ok),
        "views_failed": sum(1 for o in views if not o.ok),
        "max_latency_s": round(max((o.end - o.sent for o in outcomes), default=0.0), 3),
    }
