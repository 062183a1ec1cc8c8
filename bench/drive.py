#!/usr/bin/env python3
"""Drives the benchmark servers with wrk, one after the other, and writes bench/results/.

Called by bench/run (which builds and installs everything first); see docs/performance.md. Every load
run is bounded twice: wrk's own duration, and a subprocess timeout. Only loopback addresses are used.
"""

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Each route: (label, method kind for the wrk script, path). "form" is POST / with the CSRF token,
# "json" is POST /api/v1/submissions. Stratus also serves the routes of STRATUS_ONLY_ROUTES (the peers do not).
ROUTES = [
    ("GET /", "get", "/"),
    ("POST /", "form", "/"),
    ("POST /api/v1/submissions", "json", "/api/v1/submissions"),
    ("GET /api/v1/submissions/latest", "get", "/api/v1/submissions/latest"),
    ("GET /api/v1/users/{u}/submissions", "get", "/api/v1/users/bench1/submissions?limit=10"),
    ("GET /api/v1/visits", "get", "/api/v1/visits"),
    ("GET /health", "get", "/health"),
]
# Stratus's own read routes: the blog's list (its posts table, rendered) and a 64 KiB file download
# (metadata lookup, then the bytes streamed from the local object store). The file is uploaded before the
# run; its path is filled in then.
STRATUS_ONLY_ROUTES = [
    ("GET /blog", "get", "/blog"),
    ("GET /api/v1/files/{id}/content", "get", None),
]
READ_ROUTES = [
    "GET /",
    "GET /api/v1/submissions/latest",
    "GET /api/v1/users/{u}/submissions",
    "GET /api/v1/visits",
    "GET /health",
    "GET /blog",
    "GET /api/v1/files/{id}/content",
]

WRK_REPORT = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
"""

# POST bodies: a per-thread counter makes each number different ("unique enough": the board does not
# require unique numbers, but identical bodies could flatter a cache). Username bench<thread>.
WRK_POST = r"""
local counter = 0
local tid = 0
local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
function init(args)
  mode = args[1]
  token = args[2]
  cookie = args[3]
  if mode == "form" then
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.headers["Cookie"] = cookie
  else
    wrk.headers["Content-Type"] = "application/json"
  end
end
function request()
  counter = counter + 1
  local number = string.format("%08d", (tid * 7919 + counter * 104729) % 100000000)
  local user = "bench" .. tid
  local body
  if mode == "form" then
    body = "csrf_token=" .. token .. "&username=" .. user .. "&number=" .. number
  else
    body = '{"username":"' .. user .. '","number":"' .. number .. '"}'
  end
  return wrk.format("POST", nil, nil, body)
end
"""


def log(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


def freeport():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None, headers=None, timeout=5.0):
    """One request; returns (status, headers, body). Never raises for an HTTP status."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# ---------------------------------------------------------------------------------------------- /proc


def proc_tree(pid):
    """pid and all its descendants (gunicorn: master + workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_SIZE
        except OSError:
            pass
    return total


class Sampler:
    """Peak RSS of a process tree, sampled every 100 ms while a load runs."""

    def __init__(self, pids):
        self.pids, self.peak, self._stop = pids, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pids))
            self._stop.wait(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pids))


# ---------------------------------------------------------------------------------------------- servers


class Server:
    """A server process we started: its address, pid tree and how to stop it."""

    def __init__(self, name, argv, env, port, ready_path, log_path, cwd=None):
        self.name, self.port, self.ready_path = name, port, ready_path
        self.base = f"http://127.0.0.1:{port}"
        self.log_file = open(log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, env=full_env, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=cwd,
            start_new_session=True,
        )
        self.ready_s = self.wait_ready()

    def wait_ready(self, limit_s=30.0):
        deadline = self.started + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(f"GET {self.ready_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    head = s.recv(64)
                if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"):
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError(f"{self.name} was not ready within {limit_s} s")

    def pids(self):
        return proc_tree(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log_file.close()


def stratus_env(port, database_url, files_dir):
    return {
        "STRATUS_LISTEN": f"127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "STRATUS_FILES_URL": f"file://{files_dir}",
        "STRATUS_INSTANCE_METADATA": "hostname",
        "STRATUS_DRAIN_SECONDS": "0",
        "RUST_LOG": "info",
    }


def start_stratus(args, name, database_url, log_path):
    port = freeport()
    files_dir = args.work / f"files-{name}"
    return Server(name, [str(args.stratus), "serve"], stratus_env(port, database_url, files_dir), port, "/health",
                  log_path)


def start_baseline(args, log_path):
    port = freeport()
    return Server("baseline", [str(args.baseline)], {"BASELINE_LISTEN": f"127.0.0.1:{port}"}, port, "/", log_path)


def fresh_sqlite_url(db):
    """A `sqlite://` URL for `db`, after removing what an earlier run left there (the file, its WAL and
    shared memory, and the serving lock)."""
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return f"sqlite://{db}"


def store_bench_submission(base):
    """One stored submission, so that latest and history have something to return."""
    http(base + "/api/v1/submissions", json.dumps({"username": "bench1", "number": "01234567"}).encode(),
         {"Content-Type": "application/json"})


def upload_bench_file(base, name):
    """Uploads the 64 KiB file the download route fetches; returns its id."""
    boundary = "stratus-bench-boundary"
    payload = bytes(i % 251 for i in range(64 * 1024))
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.bin\"\r\n\r\n".encode()
            + payload + f"\r\n--{boundary}--\r\n".encode())
    status, _, answer = http(base + "/api/v1/files", body,
                             {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if status != 201:
        raise SystemExit(f"{name}: uploading the benchmark file answered {status}: {answer[:200]!r}")
    return json.loads(answer)["id"]


def stratus_routes(server):
    """ROUTES plus Stratus's own read routes, after uploading the file the download route fetches."""
    file_id = upload_bench_file(server.base, server.name)
    own = [(label, kind, path or f"/api/v1/files/{file_id}/content") for label, kind, path in STRATUS_ONLY_ROUTES]
    return ROUTES + own


# ---------------------------------------------------------------------------------------------- wrk


def run_wrk(args, base, kind, path, conns, seconds, extra=(), headers=()):
    """One wrk point. `headers`: extra `Name: value` request headers (the topology's origin secret)."""
    script = args.work / f"wrk-{kind}.lua"
    if not script.exists():
        script.write_text((WRK_POST if kind in ("form", "json") else "") + WRK_REPORT)
    threads = 1 if conns == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script)]
    for h in headers:
        argv += ["-H", h]
    argv.append(base + path)
    if kind in ("form", "json"):
        argv += ["--", kind, *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    match = re.search(r"^WRKJSON (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk gave no result: {out} {err}")
    r = json.loads(match.group(1))
    secs = r["duration_us"] / 1e6
    errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
    return {
        "requests": r["requests"],
        "ok": r["requests"] - r["err_status"],
        "errors": errors,
        "error_detail": {k[4:]: r[k] for k in r if k.startswith("err_") and r[k]},
        "rps": (r["requests"] - r["err_status"]) / secs if secs else 0.0,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "p999_ms": r["p999_us"] / 1000,
        "mean_ms": r["mean_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "seconds": secs,
    }


def csrf_pair(base):
    """GET / once: the form's token and the cookie that must come with it."""
    status, headers, body = http(base + "/")
    if status != 200:
        raise RuntimeError(f"GET / answered {status}")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
    cookies = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or []]
    return token, "; ".join(cookies)


def visit_count(base):
    status, _, body = http(base + "/api/v1/visits")
    return json.loads(body)["count"] if status == 200 else None


def served_get_root(base):
    """Stratus's own count of GET / answered 200, from /metrics (None for servers without it)."""
    status, _, body = http(base + "/metrics")
    if status != 200:
        return None
    m = re.search(rb'^http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="/")(?=[^}]*status="200")[^}]*\} (\d+)',
                  body, re.M)
    return int(m.group(1)) if m else 0


def visit_check_passes(delta, wrk_ok, server_200s, conns):
    """The counter must have counted every view wrk saw succeed and every 200 the server sent (Stratus's
    own count, from /metrics). It may exceed them only by views cut off when wrk stopped at its deadline:
    at most one in flight per connection, already committed (the count is durable before the page is
    written) but never answered, so neither wrk nor the server's metrics saw them end."""
    within = lambda seen: seen is None or 0 <= delta - seen <= conns  # noqa: E731
    return within(wrk_ok) and within(server_200s)


def measure_point(args, server, route, kind, path, conns, seconds, csrf=None, headers=()):
    pids = server.pids()
    before_visits = visit_count(server.base) if route == "GET /" and server.name != "baseline" else None
    before_served = served_get_root(server.base) if before_visits is not None else None
    ticks0, t0 = cpu_ticks(pids), time.monotonic()
    with Sampler(pids) as sampler:
        result = run_wrk(args, server.base, kind, path, conns, seconds, csrf or (), headers)
    wall = time.monotonic() - t0
    cpu_s = (cpu_ticks(pids) - ticks0) / CLK_TCK
    result["server_cpu_pct"] = 100.0 * cpu_s / wall
    # CPU per request moves far less than req/s when other work shares the machine: the steadier figure
    # for before/after comparisons.
    result["server_cpu_us_per_req"] = 1e6 * cpu_s / result["requests"] if result["requests"] else None
    result["server_rss_mb"] = sampler.peak / 2**20
    if before_visits is not None:
        time.sleep(0.3)
        delta = visit_count(server.base) - before_visits
        served = served_get_root(server.base)
        served_delta = None if served is None or before_served is None else served - before_served
        result["visit_check"] = {
            "counter_delta": delta,
            "wrk_ok": result["ok"],
            "server_200s": served_delta,
            "pass": visit_check_passes(delta, result["ok"], served_delta, conns),
        }
    return result


def exact_visit_check(server, threads=16, per_thread=100):
    """A count that no deadline cuts: `threads` keep-alive clients each make exactly `per_thread` GET /
    and read every answer. The counter must rise by exactly the number of 200s, and (Stratus) the server's
    own count of GET / 200s too."""
    import http.client

    before_visits, before_served = visit_count(server.base), served_get_root(server.base)
    statuses = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine = []
        for _ in range(per_thread):
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            mine.append(resp.status)
        conn.close()
        statuses.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    time.sleep(0.2)
    ok = sum(1 for st in statuses if st == 200)
    delta = visit_count(server.base) - before_visits
    served = served_get_root(server.base)
    served_delta = None if served is None or before_served is None else served - before_served
    return {"requests": threads * per_thread, "ok": ok, "counter_delta": delta, "server_200s": served_delta,
            "pass": delta == ok == threads * per_thread and served_delta in (None, ok)}


# ---------------------------------------------------------------------------------------------- phases


def bench_server(args, server, routes, results):
    # The previous server's writes (its database, its request log) may still be waiting for writeback,
    # which would then land on this server's fsyncs. Every server starts on a written-out disk instead.
    t = time.monotonic()
    os.sync()
    log(f"{server.name}: ready in {server.ready_s * 1000:.0f} ms; disk written out in "
        f"{time.monotonic() - t:.1f} s; driving {len(routes)} routes")
    # Warm-up: connections, caches, pools. Not reported.
    run_wrk(args, server.base, "get", routes[0][2], 16, 1)
    csrf = csrf_pair(server.base) if any(kind == "form" for _, kind, _ in routes) else None
    if server.name != "baseline":
        store_bench_submission(server.base)
    entry = results.setdefault(server.name, {})
    for route, kind, path in routes:
        for conns in args.conns:
            r = measure_point(args, server, route, kind, path, conns, args.duration, csrf)
            entry.setdefault(route, {})[str(conns)] = r
            check = r.get("visit_check")
            log(f"{server.name:16} {route:36} c={conns:<3} {r['rps']:9.0f} req/s p50 {r['p50_ms']:7.2f} "
                f"p99 {r['p99_ms']:7.2f} ms err {r['errors']} cpu {r['server_cpu_pct']:5.0f}% "
                f"rss {r['server_rss_mb']:6.1f} MB" + (f" visits {'ok' if check['pass'] else 'MISMATCH'} {check}" if check else ""))
    if server.name != "baseline":
        entry["_exact_visit_check"] = exact = exact_visit_check(server)
        log(f"{server.name}: exact visit check {'ok' if exact['pass'] else 'MISMATCH'} {exact}")
    entry["_idle_rss_after_mb"] = rss_bytes(server.pids()) / 2**20


PAIRED_ROUTES = [r for r in ROUTES if r[0] in ("GET /", "GET /api/v1/submissions/latest")]


def paired(args, work, rounds=3):
    """The two SQLite targets that are ratios to the baseline, measured with the baseline next to them in
    time. The main passes measure the baseline minutes before and after Stratus (their drift has reached
    1.3 on this shared machine); here the baseline and a fresh Stratus on SQLite run side by side, idle
    but for the one being driven, and the points alternate: baseline, `GET /`, latest, baseline, ... with a
    baseline pass before and after every round. Each Stratus point's ratio is to the mean of the two
    baseline passes around it; the target is the median of the rounds' ratios."""
    hi = args.conns[-1]
    base = start_baseline(args, args.logs / "baseline-paired.log")
    stratus = None
    try:
        stratus = start_stratus(args, "stratus-sqlite-paired", fresh_sqlite_url(work / "paired.db"),
                                args.logs / "stratus-paired.log")
        os.sync()
        store_bench_submission(stratus.base)
        for server, path in ((base, "/"), (stratus, "/"), (stratus, PAIRED_ROUTES[1][2])):
            run_wrk(args, server.base, "get", path, 16, 1)  # warm-up, not reported
        baselines = [measure_point(args, base, "GET /", "get", "/", hi, args.duration)]
        out = {"conns": hi, "rounds": []}
        for i in range(rounds):
            points = {route: measure_point(args, stratus, route, kind, path, hi, args.duration)
                      for route, kind, path in PAIRED_ROUTES}
            baselines.append(measure_point(args, base, "GET /", "get", "/", hi, args.duration))
            b = (baselines[-2]["rps"] + baselines[-1]["rps"]) / 2
            entry = {"baseline_rps": b, "baseline_before_after": [baselines[-2]["rps"], baselines[-1]["rps"]]}
            for route, r in points.items():
                entry[route] = {"rps": r["rps"], "ratio": r["rps"] / b, "p99_ms": r["p99_ms"],
                                "errors": r["errors"], "server_cpu_us_per_req": r["server_cpu_us_per_req"],
                                "visit_check": r.get("visit_check")}
            out["rounds"].append(entry)
            log(f"paired round {i + 1}/{rounds}: baseline {b:.0f} req/s; " + "; ".join(
                f"{route} {r['rps']:.0f} req/s = {100 * entry[route]['ratio']:.1f} %" for route, r in points.items()))
        out["median_ratio"] = {route: statistics.median(e[route]["ratio"] for e in out["rounds"])
                               for route, _, _ in PAIRED_ROUTES}
        return out
    finally:
        if stratus:
            stratus.stop()
        base.stop()


def startup_and_idle(args, work):
    """Start to ready (process start to /health 200) and idle RSS, on a fresh SQLite file: median of 5."""
    readies, rss = [], []
    for i in range(5):
        db = work / f"startup-{i}.db"
        s = start_stratus(args, "startup", f"sqlite://{db}", args.logs / "startup.log")
        try:
            readies.append(s.ready_s * 1000)
            time.sleep(1.0)
            rss.append(rss_bytes(s.pids()) / 2**20)
        finally:
            s.stop()
    return {"start_to_ready_ms": statistics.median(readies), "start_to_ready_all_ms": readies,
            "idle_rss_mb": statistics.median(rss), "idle_rss_all_mb": rss}


def bulk_load(db_path, rows):
    """Fills a migrated Stratus SQLite file with `rows` submissions, generated inside SQLite (1M rows in a
    few seconds). User u0000 owns rows 0, 1000, 2000, ... and, at 10 rows or fewer, all of them: its
    history page of 10 is always full."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    # Secondary indexes are dropped and made again afterwards, exactly as the migration made them: one sort
    # instead of a million scattered B-tree inserts.
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'submission' "
                           "AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.execute(
        """WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :rows)
        INSERT INTO submission (submission_id, username, number, created_at)
        SELECT printf('01900000-0000-7000-8000-%012x', i),
               CASE WHEN :rows <= 10 THEN 'u0000' ELSE printf('u%04d', i % 1000) END,
               printf('%08d', i % 100000000),
               strftime('%Y-%m-%dT%H:%M:%S', 1767225600 + i / 1000, 'unixepoch') || printf('.%06dZ', (i % 1000) * 1000)
        FROM n""",
        {"rows": rows},
    )
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


SCALE_ROUTES = [("latest", "/api/v1/submissions/latest"),
                ("history", "/api/v1/users/u0000/submissions?limit=10"),
                ("visits", "/api/v1/visits")]


def scaling(args, work):
    """One server per size, all started before measuring; then rounds of 1 s per (size, route), sizes
    interleaved, so that a change in the machine's load hits every size alike. Median over rounds."""
    out, servers = {}, {}
    try:
        for rows in args.scale_rows:
            db = work / f"scale-{rows}.db"
            subprocess.run([str(args.stratus), "migrate"], env={**os.environ, "DATABASE_URL": f"sqlite://{db}"},
                           check=True, stdout=subprocess.DEVNULL, timeout=60)
            t0 = time.monotonic()
            bulk_load(db, rows)
            out[str(rows)] = {"bulk_load_s": time.monotonic() - t0}
            s = start_stratus(args, f"scale-{rows}", f"sqlite://{db}", args.logs / f"scale-{rows}.log")
            servers[rows] = s
            out[str(rows)]["ready_ms"] = s.ready_s * 1000
            run_wrk(args, s.base, "get", "/api/v1/submissions/latest", 1, 1)
            log(f"scale {rows:>8} rows loaded in {out[str(rows)]['bulk_load_s']:.1f} s")
        rounds = {}
        for _ in range(args.scale_seconds):
            for rows, s in servers.items():
                for label, path in SCALE_ROUTES:
                    rounds.setdefault((rows, label), []).append(run_wrk(args, s.base, "get", path, 1, 1))
        for (rows, label), pts in rounds.items():
            out[str(rows)][label] = {
                "p50_ms": statistics.median(p["p50_ms"] for p in pts),
                "p99_ms": statistics.median(p["p99_ms"] for p in pts),
                "rps": statistics.median(p["rps"] for p in pts),
                "errors": sum(p["errors"] for p in pts),
                "rounds": len(pts),
            }
        for rows in servers:
            point = out[str(rows)]
            log(f"scale {rows:>8} rows: " + ", ".join(f"{k} p50 {point[k]['p50_ms']:.3f} ms" for k, _ in SCALE_ROUTES))
    finally:
        for s in servers.values():
            s.stop()
    lo, hi = str(min(args.scale_rows)), str(max(args.scale_rows))
    out["ratio_hi_lo"] = {k: out[hi][k]["p50_ms"] / out[lo][k]["p50_ms"] for k, _ in SCALE_ROUTES}
    out["ratio_rows"] = f"{hi}/{lo}"
    return out


# ---------------------------------------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stratus", type=Path, required=True)
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--venv", type=Path, required=True)
    p.add_argument("--pg-url", required=True, help="postgres URL of the Stratus database")
    p.add_argument("--flask-dsn", required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--logs", type=Path, help="directory for the servers' logs (default: --work)")
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--conns", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    p.add_argument("--scale-rows", type=lambda s: [int(x) for x in s.split(",")], default=[10, 10_000, 1_000_000])
    p.add_argument("--scale-seconds", type=int, default=3)
    p.add_argument("--only", default="baseline,sqlite,postgres,flask,scaling,startup,plain,files,idle,stack,dynamo")
    p.add_argument("--meta", type=Path, help="JSON from bench/run (build times, versions)")
    # The phases beyond the board (bench/beyond.py, issue 26).
    p.add_argument("--plain", type=Path, help="the plain axum peer's binary (bench/peers/plain_axum)")
    p.add_argument("--plain-pg-url", help="postgres URL of the plain peer's database")
    p.add_argument("--moto-venv", type=Path, default=ROOT / ".venv/moto")
    p.add_argument("--pair-rounds", type=int, default=3, help="rounds of the interleaved comparisons")
    p.add_argument("--pair-seconds", type=int, default=3, help="seconds per point of the interleaved comparisons")
    p.add_argument("--pair-conns", type=lambda s: [int(x) for x in s.split(",")], default=[64])
    p.add_argument("--big-file-mib", type=int, default=1024)
    p.add_argument("--file-rounds", type=int, default=3)
    p.add_argument("--idle-conns", type=int, default=10_000)
    p.add_argument("--restart-seconds", type=int, default=40, help="length of the load during the rolling restart")
    p.add_argument("--dynamo-requests", type=int, default=20, help="requests of each type when counting DynamoDB calls")
    args = p.parse_args()
    only = set(args.only.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    args.logs = args.logs or args.work
    args.logs.mkdir(parents=True, exist_ok=True)
    on_tmpfs = str(args.logs).startswith("/dev/shm")
    results = {"servers": {}, "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "duration_s": args.duration, "conns": args.conns,
               "logging": "Stratus request logs (JSON, RUST_LOG=info) written to a file "
                          + ("on tmpfs (/dev/shm), apart from the databases' disk" if on_tmpfs else "in the work dir")}
    if args.meta and args.meta.exists():
        results["meta"] = json.loads(args.meta.read_text())
    servers = results["servers"]
    t_start = time.monotonic()

    def baseline_pass(tag):
        s = start_baseline(args, args.logs / "baseline.log")
        try:
            tmp = {}
            bench_server(args, s, [ROUTES[0]], tmp)
            servers[f"baseline{tag}"] = tmp["baseline"]
        finally:
            s.stop()

    if "baseline" in only:
        baseline_pass("")
    if "startup" in only:
        results["startup"] = startup_and_idle(args, args.work)
        log(f"start to ready {results['startup']['start_to_ready_ms']:.1f} ms, idle RSS "
            f"{results['startup']['idle_rss_mb']:.1f} MB")
    if "sqlite" in only:
        s = start_stratus(args, "stratus-sqlite", fresh_sqlite_url(args.work / "bench.db"),
                          args.logs / "stratus-sqlite.log")
        try:
            bench_server(args, s, stratus_routes(s), servers)
        finally:
            s.stop()
    if "postgres" in only:
        s = start_stratus(args, "stratus-postgres", args.pg_url, args.logs / "stratus-postgres.log")
        try:
            bench_server(args, s, stratus_routes(s), servers)
        finally:
            s.stop()
    if "flask" in only:
        subprocess.run([str(args.venv / "bin/python"), "app.py"], cwd=BENCH / "peers/flask_board", check=True,
                       env={**os.environ, "FLASK_BOARD_DSN": args.flask_dsn}, timeout=60, stdout=subprocess.DEVNULL)
        port = freeport()
        s = Server("flask-postgres", [str(args.venv / "bin/gunicorn"), "-c", "gunicorn.conf.py", "-b",
                                      f"127.0.0.1:{port}", "app:app"],
                   {"FLASK_BOARD_DSN": args.flask_dsn}, port, "/health", args.logs / "flask.log",
                   cwd=BENCH / "peers/flask_board")
        try:
            bench_server(args, s, ROUTES, servers)
        finally:
            s.stop()
    if "scaling" in only:
        results["scaling"] = scaling(args, args.work)
    if "paired" in only:
        results["paired"] = paired(args, args.work)
    import beyond  # the phases of issue 26

    def phase(name, run):
        if name in only:
            t = time.monotonic()
            results[name] = run()
            results[name]["phase_seconds"] = time.monotonic() - t
            log(f"phase {name} took {results[name]['phase_seconds']:.0f} s; load average {os.getloadavg()}")

    phase("plain", lambda: {
        "sqlite": beyond.versus_plain(args, "sqlite", fresh_sqlite_url(args.work / "vs-stratus.db"),
                                      fresh_sqlite_url(args.work / "vs-plain.db")),
        "postgres": beyond.versus_plain(args, "postgres", args.pg_url, args.plain_pg_url),
    })
    phase("files", lambda: beyond.file_transfer(args))
    phase("idle", lambda: beyond.idle_connections(args))
    phase("stack", lambda: beyond.topology(args))
    phase("dynamo", lambda: beyond.dynamo(args))
    if "baseline" in only:
        # Measured again at the end: the machine is shared, and the drift between the two passes says how
        # far any ratio can be trusted. Ratios use the mean of both.
        baseline_pass("-end")
    results["bench_seconds"] = time.monotonic() - t_start
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / "raw.json"
    raw.write_text(json.dumps(results, indent=1))
    log(f"raw results in {raw}")


if __name__ == "__main__":
    main()
