"""The phases beyond the board (issue 26), called by bench/drive.py; see docs/performance.md.

- `plain`: Stratus against bench/peers/plain_axum (the board as a good Rust engineer writes it in a day),
  on SQLite and on PostgreSQL, both servers up at once and driven alternately, route by route.
- `files`: a large file's download and upload throughput and peak RSS against nginx (sendfile; a WebDAV
  PUT to disk) on the same disk, and 64 KiB downloads at 64 connections.
- `idle`: 10,000 idle keep-alive connections held open, then a 64-connection `GET /` load beside them.
- `stack`: the whole topology of scripts/stack (HAProxy, three instances, PostgreSQL) against the Flask
  peer deployed the same way (three gunicorn instances behind the same HAProxy configuration), and p99
  during a rolling restart of the three instances.
- `dynamo`: DynamoDB calls per request type on the DynamoDB board (moto, counted at a proxy), and the
  visit counter's write rate under load.

Every load is bounded in time (wrk's duration and a subprocess timeout) and every server listens on
127.0.0.1 only. The cost per request is computed from these figures by bench/report.py.
"""

import http.client as httpclient
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import drive
from drive import (CLK_TCK, ROOT, ROUTES, Sampler, Server, cpu_ticks, csrf_pair, freeport, http, log,
                   measure_point, rss_bytes, run_wrk)


def stratus_server(args, name, database_url, log_path, **extra_env):
    port = freeport()
    env = drive.stratus_env(port, database_url, args.work / f"files-{name}")
    env.update({k: str(v) for k, v in extra_env.items()})
    return Server(name, [str(args.stratus), "serve"], env, port, "/health", log_path)


def start_plain(args, name, database_url, log_path):
    port = freeport()
    env = {"PLAIN_LISTEN": f"127.0.0.1:{port}", "DATABASE_URL": database_url, "RUST_LOG": "info"}
    return Server(name, [str(args.plain)], env, port, "/health", log_path)


def med(points, key):
    vals = [p[key] for p in points if p.get(key) is not None]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------------------------------------- plain


def versus_plain(args, engine, stratus_url, plain_url):
    """Stratus and the plain axum peer on the same engine, both up, driven alternately: for each round, for
    each route and connection count, one then the other (the order swapped every round). The ratio of each
    route is Stratus / plain of the medians over rounds; each round's own ratio is kept to show the spread."""
    servers = []
    try:
        s = stratus_server(args, f"stratus-{engine}-vs-plain", stratus_url, args.logs / f"stratus-{engine}-vs.log")
        servers.append(s)
        p = start_plain(args, f"plain-{engine}", plain_url, args.logs / f"plain-{engine}.log")
        servers.append(p)
        os.sync()
        csrf = {}
        for srv in servers:
            drive.store_bench_submission(srv.base)
            run_wrk(args, srv.base, "get", "/", 16, 1)  # warm-up, not reported
            csrf[srv.name] = csrf_pair(srv.base)
        points = {}
        for rnd in range(args.pair_rounds):
            order = servers if rnd % 2 == 0 else servers[::-1]
            for route, kind, path in ROUTES:
                for c in args.pair_conns:
                    for srv in order:
                        r = measure_point(args, srv, route, kind, path, c, args.pair_seconds, csrf[srv.name])
                        role = "stratus" if srv is s else "plain"
                        points.setdefault(route, {}).setdefault(str(c), {}).setdefault(role, []).append(r)
                        log(f"vs plain {engine} round {rnd + 1} {role:7} {route:36} c={c:<3} {r['rps']:9.0f} req/s "
                            f"p99 {r['p99_ms']:7.2f} ms err {r['errors']} cpu/req {r['server_cpu_us_per_req'] or 0:6.1f} us")
        out = {}
        for route, by_c in points.items():
            for c, by_role in by_c.items():
                st, pl = by_role["stratus"], by_role["plain"]
                entry = {role: {k: med(pts, k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req", "server_rss_mb")}
                         | {"errors": sum(x["errors"] for x in pts)} for role, pts in by_role.items()}
                entry["rounds_rps_ratio"] = [a["rps"] / b["rps"] if b["rps"] else None for a, b in zip(st, pl)]
                entry["rps_ratio"] = entry["stratus"]["rps"] / entry["plain"]["rps"] if entry["plain"]["rps"] else None
                sc, pc = entry["stratus"]["server_cpu_us_per_req"], entry["plain"]["server_cpu_us_per_req"]
                entry["cpu_per_req_ratio"] = sc / pc if sc and pc else None
                out.setdefault(route, {})[c] = entry
        return {"rounds": args.pair_rounds, "seconds": args.pair_seconds, "routes": out,
                "load_average": os.getloadavg()}
    finally:
        for srv in servers:
            srv.stop()


# ---------------------------------------------------------------------------------------------- files

NGINX_CONF = """
{user}daemon off;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {logs}/nginx-access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location /objects/ {{ alias {objects}/; }}
        location /put/ {{
            root {dir};
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }}
        location = /health {{ return 200 "ok"; }}
    }}
}}
"""


def start_nginx(args, objects_dir, work):
    work.mkdir(parents=True, exist_ok=True)
    port = freeport()
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user="user root;\n" if os.getuid() == 0 else "", dir=work, logs=args.logs,
                                      port=port, objects=objects_dir))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return Server("nginx", [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")], {}, port,
                  "/health", work / "nginx.log")


def curl_transfer(argv, timeout):
    """Runs curl with -w timing; returns (status, bytes, seconds, body of the answer). A download (no -T/-F)
    goes to /dev/null, not through this process."""
    sink = "-" if any(a in ("-T", "-F") for a in argv) else "/dev/null"
    out = subprocess.run(["curl", "-sS", "-o", sink, "-w", "\n%{http_code} %{size_download} %{size_upload} %{time_total}",
                          "--max-time", str(timeout), *argv], capture_output=True, timeout=timeout + 10)
    body, _, tail = out.stdout.rpartition(b"\n")
    code, down, up, secs = tail.decode().split()
    return int(code), int(float(down)), int(float(up)), float(secs), body


def transfer_point(server, argv, size, timeout):
    """One transfer through `server`: throughput (MiB/s of `size`), server CPU seconds, peak RSS."""
    pids = server.pids()
    rss0 = rss_bytes(pids)
    ticks0 = cpu_ticks(pids)
    with Sampler(pids) as sampler:
        code, down, up, secs, body = curl_transfer(argv, timeout)
    cpu_s = (cpu_ticks(pids) - ticks0) / CLK_TCK
    return {"status": code, "seconds": secs, "mib_per_s": size / 2**20 / secs if secs else None,
            "server_cpu_s": cpu_s, "server_cpu_s_per_gib": cpu_s * 2**30 / size,
            "peak_rss_mb": sampler.peak / 2**20, "rss_before_mb": rss0 / 2**20,
            "peak_rss_growth_mb": (sampler.peak - rss0) / 2**20, "body": body[:300].decode(errors="replace"),
            "bytes": down or up}


def make_big_file(path, size):
    block = os.urandom(8 * 2**20)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def file_transfer(args):
    """A large file (1 GiB; --quick: 128 MiB) through Stratus (SQLite metadata, local object store) and
    through nginx, from the same directory on the same disk, alternately; then 64 KiB downloads at 64
    connections. Both read the file from the page cache (it was just written); what is compared is the
    servers' own path, not the disk."""
    size = args.big_file_mib * 2**20
    work = args.work / "files-phase"
    work.mkdir(parents=True, exist_ok=True)
    src = work / "big.bin"
    make_big_file(src, size)
    objects = work / "objects"
    stratus = nginx = None
    out = {"size_mib": args.big_file_mib, "rounds": [], "load_average_start": os.getloadavg()}
    try:
        stratus = stratus_server(args, "stratus-files", drive.fresh_sqlite_url(work / "files.db"),
                                 args.logs / "stratus-files.log", STRATUS_FILES_URL=f"file://{objects}",
                                 STRATUS_MAX_UPLOAD_BYTES=2 * size + 2**20, STRATUS_UPLOAD_TIMEOUT="10m")
        nginx = start_nginx(args, objects, work / "nginx")
        os.sync()
        timeout = max(60, args.big_file_mib // 4)
        first_id = None
        for rnd in range(args.file_rounds):
            entry = {}
            order = ("stratus", "nginx") if rnd % 2 == 0 else ("nginx", "stratus")
            for who in order:
                if who == "stratus":
                    up = transfer_point(stratus, ["-F", f"file=@{src};type=application/octet-stream",
                                                  stratus.base + "/api/v1/files"], size, timeout)
                    if up["status"] != 201:
                        raise RuntimeError(f"Stratus upload answered {up['status']}: {up['body']}")
                    file_id = json.loads(up["body"])["id"]
                    first_id = first_id or file_id
                    down = transfer_point(stratus, [f"{stratus.base}/api/v1/files/{file_id}/content"], size, timeout)
                else:
                    up = transfer_point(nginx, ["-T", str(src), f"{nginx.base}/put/upload-{rnd}.bin"], size, timeout)
                    down = transfer_point(nginx, [f"{nginx.base}/objects/{first_id}"], size, timeout) if first_id else None
                    (work / "nginx" / "put" / f"upload-{rnd}.bin").unlink(missing_ok=True)
                for point in (up, down):
                    if point:
                        point.pop("body", None)
                entry[who] = {"upload": up, "download": down}
            if entry["nginx"]["download"] is None:  # nginx went first in round 1: the object exists now
                entry["nginx"]["download"] = transfer_point(nginx, [f"{nginx.base}/objects/{first_id}"], size, timeout)
                entry["nginx"]["download"].pop("body", None)
            for way in ("upload", "download"):
                entry[f"{way}_ratio"] = entry["stratus"][way]["mib_per_s"] / entry["nginx"][way]["mib_per_s"]
            out["rounds"].append(entry)
            log(f"files round {rnd + 1}: " + "; ".join(
                f"{who} up {entry[who]['upload']['mib_per_s']:.0f} MiB/s (peak RSS +{entry[who]['upload']['peak_rss_growth_mb']:.1f} MB), "
                f"down {entry[who]['download']['mib_per_s']:.0f} MiB/s (+{entry[who]['download']['peak_rss_growth_mb']:.1f} MB)"
                for who in ("stratus", "nginx")))
        for way in ("upload", "download"):
            out[f"{way}_ratio"] = statistics.median(e[f"{way}_ratio"] for e in out["rounds"])
            for who in ("stratus", "nginx"):
                pts = [e[who][way] for e in out["rounds"]]
                out.setdefault(who, {})[way] = {k: med(pts, k) for k in
                                                ("mib_per_s", "server_cpu_s_per_gib", "peak_rss_mb", "peak_rss_growth_mb")}
        # Small files: 64 KiB, 64 connections, wrk, alternately.
        small_id = drive.upload_bench_file(stratus.base, stratus.name)
        paths = {"stratus": (stratus, f"/api/v1/files/{small_id}/content"), "nginx": (nginx, f"/objects/{small_id}")}
        for srv, path in paths.values():
            run_wrk(args, srv.base, "get", path, 16, 1)  # warm-up
        small = {}
        for rnd in range(args.pair_rounds):
            for who in (("stratus", "nginx") if rnd % 2 == 0 else ("nginx", "stratus")):
                srv, path = paths[who]
                r = measure_point(args, srv, "GET 64 KiB file", "get", path, 64, args.pair_seconds)
                small.setdefault(who, []).append(r)
        out["small"] = {who: {k: med(pts, k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req", "server_rss_mb")}
                        | {"errors": sum(p["errors"] for p in pts)} for who, pts in small.items()}
        out["small"]["rounds_rps_ratio"] = [a["rps"] / b["rps"] for a, b in zip(small["stratus"], small["nginx"])]
        out["small"]["rps_ratio"] = out["small"]["stratus"]["rps"] / out["small"]["nginx"]["rps"]
        log(f"64 KiB files at 64 conns: Stratus {out['small']['stratus']['rps']:.0f} req/s, nginx "
            f"{out['small']['nginx']['rps']:.0f} req/s ({out['small']['rps_ratio']:.2f}x)")
        out["load_average_end"] = os.getloadavg()
        return out
    finally:
        for srv in (stratus, nginx):
            if srv:
                srv.stop()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- conns


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def fd_limit_of(pid):
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return None


def open_idle(port, n, path="/health/live"):
    """n keep-alive connections, each having made one request (as a balancer's pooled connection has).
    Returns (sockets, failures)."""
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    socks, failures = [], {}
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(request)
            head = s.recv(65536)
            if not head.startswith(b"HTTP/1.1 200"):
                raise OSError(f"answered {head[:20]!r}")
            socks.append(s)
        except OSError as err:
            failures[type(err).__name__] = failures.get(type(err).__name__, 0) + 1
            s.close()
    return socks, failures


def still_open(socks, path="/health/live"):
    """How many of the idle connections still answer a second request."""
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    ok = 0
    for s in socks:
        try:
            s.sendall(request)
            if s.recv(65536).startswith(b"HTTP/1.1 200"):
                ok += 1
        except OSError:
            pass
    return ok


def idle_connections(args):
    """RSS per idle keep-alive connection, then a 64-connection GET / load beside them (Stratus on
    SQLite); the same idle measurement on bench/baseline (bare hyper) for the floor."""
    soft, hard = raise_fd_limit()
    n = args.idle_conns
    out = {"idle_connections": n, "client_fd_limit": soft}
    if soft < n + 1000:
        out["skipped"] = f"the file-descriptor limit ({soft}) is below {n + 1000}: raise `ulimit -n`"
        log(f"conns: {out['skipped']}")
        return out
    for name in ("baseline", "stratus"):
        if name == "stratus":
            srv = stratus_server(args, "stratus-conns", drive.fresh_sqlite_url(args.work / "conns.db"),
                                 args.logs / "stratus-conns.log")
        else:
            srv = drive.start_baseline(args, args.logs / "baseline-conns.log")
        socks = []
        try:
            os.sync()
            if name == "stratus":
                drive.store_bench_submission(srv.base)
            run_wrk(args, srv.base, "get", "/", 64, 1)  # warm-up: threads, pools, buffers
            control = None
            if name == "stratus":
                # The same load without the idle connections, just before them: on a shared machine GET /'s
                # p99 follows the disk's fsync latency, so the figure beside the idle connections means
                # something only next to this one.
                control = measure_point(args, srv, "GET /", "get", "/", 64, args.duration)
            time.sleep(1.0)
            rss0 = rss_bytes(srv.pids())
            t0 = time.monotonic()
            socks, failures = open_idle(srv.port, n, "/health/live" if name == "stratus" else "/")
            opened_s = time.monotonic() - t0
            time.sleep(1.0)
            rss1 = rss_bytes(srv.pids())
            entry = {"server_fd_limit": fd_limit_of(srv.proc.pid), "opened": len(socks), "failures": failures,
                     "open_seconds": opened_s, "rss_before_mb": rss0 / 2**20, "rss_idle_mb": rss1 / 2**20,
                     "rss_per_idle_conn_kb": (rss1 - rss0) / max(1, len(socks)) / 1000}
            if name == "stratus":
                load = measure_point(args, srv, "GET /", "get", "/", 64, args.duration)
                entry["load"] = load
                entry["load_without_idle"] = control
                entry["still_open_after"] = still_open(socks)
                entry["rss_after_load_mb"] = rss_bytes(srv.pids()) / 2**20
            out[name] = entry
            log(f"conns {name}: {len(socks)} idle open ({failures or 'no failures'}), "
                f"{entry['rss_per_idle_conn_kb']:.1f} KB each"
                + (f"; GET / beside them {entry['load']['rps']:.0f} req/s p99 {entry['load']['p99_ms']:.2f} ms, "
                   f"errors {entry['load']['errors']}, still open {entry['still_open_after']}" if "load" in entry else ""))
        finally:
            for s in socks:
                s.close()
            srv.stop()
    out["load_average"] = os.getloadavg()
    return out


# ---------------------------------------------------------------------------------------------- stack


def stack_cmd(env, *argv, timeout=240):
    return subprocess.run([str(ROOT / "scripts/stack"), *argv], env=env, capture_output=True, text=True,
                          timeout=timeout, check=True).stdout


def parse_env(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("export "):
            k, _, v = line[7:].partition("=")
            out[k] = v.strip("'")
    return out


def stack_point(args, base, kind, path, conns, seconds, pids, headers, csrf=None):
    ticks0, t0 = cpu_ticks(pids), time.monotonic()
    r = run_wrk(args, base, kind, path, conns, seconds, csrf or (), headers)
    wall = time.monotonic() - t0
    cpu_s = (cpu_ticks(pids) - ticks0) / CLK_TCK
    r["server_cpu_pct"] = 100 * cpu_s / wall
    r["server_cpu_us_per_req"] = 1e6 * cpu_s / r["requests"] if r["requests"] else None
    return r


def csrf_via(base, headers):
    status, hdrs, body = http(base + "/", headers=headers)
    if status != 200:
        raise RuntimeError(f"GET / through the balancer answered {status}")
    import re
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
    return token, "; ".join(c.split(";", 1)[0] for c in hdrs.get_all("Set-Cookie") or [])


def haproxy_up(stats_url):
    with urllib.request.urlopen(stats_url, timeout=2) as resp:
        rows = [line.split(",") for line in resp.read().decode().splitlines() if line.startswith("app,app")]
    return {r[1]: r[17] for r in rows}


def topology(args):
    """scripts/stack's topology against the Flask peer behind the same HAProxy configuration."""
    stack_dir = args.work / "stack"
    env = {**os.environ, "STRATUS_BIN": str(args.stratus), "STRATUS_STACK_DIR": str(stack_dir), "RUST_LOG": "info"}
    flask_dir = args.work / "flask-stack"
    gunicorns, haproxy, out = [], None, {}
    try:
        stack_cmd(env, "up")
        st = parse_env(stack_cmd(env, "env"))
        pg_port = st["STACK_PG_PORT"]
        secret_header = f"x-origin-verify: {st['STACK_ORIGIN_SECRET']}"
        app_pids = lambda: [p for i in (1, 2, 3) for p in drive.proc_tree(int((stack_dir / f"app{i}.pid").read_text()))]  # noqa: E731
        # The Flask peer: three gunicorn instances (bench/peers/flask_board, 4 sync workers each) on the stack's
        # PostgreSQL, behind HAProxy with the stack's own template (deploy/local/render.sh).
        flask_dir.mkdir(parents=True, exist_ok=True)
        pw = Path(st["STACK_PG_PASSWORD_FILE"]).read_text().strip()
        dsn = f"host=127.0.0.1 port={pg_port} dbname=stratus user=stratus password={pw}"
        peer = drive.BENCH / "peers/flask_board"
        subprocess.run([str(args.venv / "bin/python"), "app.py"], cwd=peer, check=True, timeout=60,
                       env={**os.environ, "FLASK_BOARD_DSN": dsn}, stdout=subprocess.DEVNULL)
        ports = [freeport() for _ in range(3)]
        for i, port in enumerate(ports, 1):
            gunicorns.append(Server(f"flask{i}", [str(args.venv / "bin/gunicorn"), "-c", "gunicorn.conf.py", "-b",
                                                  f"127.0.0.1:{port}", "app:app"], {"FLASK_BOARD_DSN": dsn}, port,
                                    "/health", flask_dir / f"flask{i}.log", cwd=peer))
        alb_port, stats_port = freeport(), freeport()
        render_env = {**os.environ, **{f"APP{i}_ADDR": f"127.0.0.1:{p}" for i, p in enumerate(ports, 1)},
                      "ALB_BIND": f"127.0.0.1:{alb_port}", "ALB_ADDR": f"127.0.0.1:{alb_port}",
                      "STATS_BIND": f"127.0.0.1:{stats_port}", "CDN_HTTP_BIND": f"127.0.0.1:{freeport()}",
                      "CDN_HTTPS_BIND": f"127.0.0.1:{freeport()}", "CDN_HTTPS_PORT": "1",
                      "ORIGIN_SECRET": st["STACK_ORIGIN_SECRET"], "STATE_DIR": str(flask_dir),
                      "LOG_DIR": str(flask_dir), "CERT_DIR": str(flask_dir), "CHECK_INTER": "1s",
                      "CHECK_RISE": "2", "CHECK_FALL": "3"}
        subprocess.run([str(ROOT / "deploy/local/render.sh"), "config", str(flask_dir / "conf")], env=render_env,
                       check=True, timeout=30)
        haproxy_bin = shutil.which("haproxy") or "/usr/sbin/haproxy"
        # Not drive.Server: its readiness probe has no origin header, and this balancer answers 403 without one.
        haproxy = subprocess.Popen([haproxy_bin, "-db", "-f", str(flask_dir / "conf/haproxy.cfg")],
                                   stdout=open(flask_dir / "alb.log", "wb"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if list(haproxy_up(f"http://127.0.0.1:{stats_port}/stats;csv").values()).count("UP") == 3:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the Flask peer's HAProxy has not three instances UP after 20 s")
        fleets = {
            "stratus": {"base": st["STACK_ALB_URL"], "pids": app_pids},
            "flask": {"base": f"http://127.0.0.1:{alb_port}", "pids": lambda: [p for g in gunicorns for p in g.pids()]},
        }
        headers = [secret_header]
        hdr = {"x-origin-verify": st["STACK_ORIGIN_SECRET"]}
        for fleet in fleets.values():
            run_wrk(args, fleet["base"], "get", "/", 16, 1, (), headers)  # warm-up
            fleet["csrf"] = csrf_via(fleet["base"], hdr)
        os.sync()
        points = {}
        for rnd in range(args.pair_rounds):
            for who in (("stratus", "flask") if rnd % 2 == 0 else ("flask", "stratus")):
                fleet = fleets[who]
                for route, kind in (("GET /", "get"), ("POST /", "form")):
                    r = stack_point(args, fleet["base"], kind, "/", 64, args.pair_seconds, fleet["pids"](), headers,
                                    fleet["csrf"] if kind == "form" else None)
                    points.setdefault(route, {}).setdefault(who, []).append(r)
                    log(f"stack round {rnd + 1} {who:7} {route:7} {r['rps']:8.0f} req/s p99 {r['p99_ms']:7.2f} ms "
                        f"err {r['errors']} cpu/req {r['server_cpu_us_per_req'] or 0:7.1f} us")
        for route, by_who in points.items():
            e = {who: {k: med(pts, k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req")}
                 | {"errors": sum(p["errors"] for p in pts)} for who, pts in by_who.items()}
            e["rps_ratio"] = e["stratus"]["rps"] / e["flask"]["rps"] if e["flask"]["rps"] else None
            e["rounds_rps_ratio"] = [a["rps"] / b["rps"] for a, b in zip(by_who["stratus"], by_who["flask"])]
            out[route] = e
        out["rolling_restart"] = rolling_restart(args, env, fleets["stratus"]["base"], headers, st)
        out["load_average"] = os.getloadavg()
        return out
    finally:
        if haproxy:
            os.killpg(haproxy.pid, 15)
            haproxy.wait(timeout=10)
        for g in gunicorns:
            g.stop()
        try:
            stack_cmd(env, "down", timeout=120)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            log(f"stack down failed: {err}")


def rolling_restart(args, env, base, headers, st):
    """GET / at 64 connections through the balancer while app1, app2 and app3 are restarted one after the
    other (SIGTERM, wait for the exit, start, wait until HAProxy has it UP again), as a deploy does."""
    seconds = args.restart_seconds
    result, timeline = {}, []

    def load():
        result.update(run_wrk(args, base, "get", "/", 64, seconds, (), headers))

    t = threading.Thread(target=load)
    t0 = time.monotonic()
    t.start()
    time.sleep(2)
    for name in ("app1", "app2", "app3"):
        a = time.monotonic()
        stack_cmd(env, "stop", name, timeout=60)
        b = time.monotonic()
        stack_cmd(env, "start", name, timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if haproxy_up(st["STACK_ALB_STATS_URL"]).get(name) == "UP":
                    break
            except OSError:
                pass
            time.sleep(0.1)
        timeline.append({"instance": name, "stop_s": round(b - a, 2), "start_to_up_s": round(time.monotonic() - b, 2),
                         "at_s": round(a - t0, 2)})
    restart_done = time.monotonic() - t0
    t.join(timeout=seconds + 40)
    result["timeline"] = timeline
    result["restart_seconds"] = restart_done
    result["load_seconds"] = seconds
    log(f"rolling restart: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.1f} ms, "
        f"errors {result['errors']} {result['error_detail']}; restarts took {restart_done:.1f} s of {seconds} s")
    return result


# ---------------------------------------------------------------------------------------------- dynamo


class CountingProxy:
    """A forwarding HTTP proxy in front of moto that counts DynamoDB calls by X-Amz-Target (and times
    them), so that the service's calls per request can be read off."""

    def __init__(self, upstream_port):
        self.counts, self.seconds, self.lock = {}, {}, threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "").rpartition(".")[2] or f"{self.command} (non-DynamoDB)"
                conn = httpclient.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                t0 = time.monotonic()
                conn.request(self.command, self.path, body, {k: v for k, v in self.headers.items()})
                resp = conn.getresponse()
                data = resp.read()
                dt = time.monotonic() - t0
                conn.close()
                with proxy.lock:
                    proxy.counts[target] = proxy.counts.get(target, 0) + 1
                    proxy.seconds[target] = proxy.seconds.get(target, 0.0) + dt
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.port = freeport()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return dict(self.counts), dict(self.seconds)

    def close(self):
        self.server.shutdown()


def no_redirect(url, data, headers):
    """POST without following the 303 (following it would count a `GET /` too)."""
    opener = urllib.request.build_opener(drive.NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data, headers=headers), timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def diff(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}


def dynamo(args):
    """Calls per request type, one request at a time (N of each, background calls subtracted), then the visit
    counter's UpdateItem rate under GET / load at 1, 16 and 64 connections."""
    moto_bin = args.moto_venv / "bin/moto_server"
    if not moto_bin.exists():
        return {"skipped": f"no moto at {moto_bin}"}
    moto_port = freeport()
    moto = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    proxy = srv = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{moto_port}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        proxy = CountingProxy(moto_port)
        aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "STRATUS_CREATE_TABLES": "true",
               "STRATUS_BOARD_URL": "dynamodb://bench-board", "STRATUS_FILE_METADATA_URL": "dynamodb://bench-files"}
        srv = stratus_server(args, "stratus-dynamodb", drive.fresh_sqlite_url(args.work / "dynamo.db"),
                             args.logs / "stratus-dynamodb.log", **aws)
        drive.store_bench_submission(srv.base)
        file_id = drive.upload_bench_file(srv.base, srv.name)
        token, cookie = csrf_pair(srv.base)
        n = args.dynamo_requests
        form_body = lambda i: f"csrf_token={token}&username=dyn&number={i:08d}".encode()  # noqa: E731
        kinds = {
            "GET /": lambda i: http(srv.base + "/"),
            "POST /": lambda i: no_redirect(srv.base + "/", form_body(i),
                                            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}),
            "POST /api/v1/submissions": lambda i: http(srv.base + "/api/v1/submissions",
                                                       json.dumps({"username": "dyn", "number": f"{i:08d}"}).encode(),
                                                       {"Content-Type": "application/json"}),
            "GET /api/v1/submissions/latest": lambda i: http(srv.base + "/api/v1/submissions/latest"),
            "GET /api/v1/users/{u}/submissions": lambda i: http(srv.base + "/api/v1/users/dyn/submissions?limit=10"),
            "GET /api/v1/visits": lambda i: http(srv.base + "/api/v1/visits"),
            "POST /api/v1/files (64 KiB upload)": lambda i: drive.upload_bench_file(srv.base, srv.name),
            "GET /api/v1/files/{id}/content": lambda i: http(f"{srv.base}/api/v1/files/{file_id}/content"),
        }
        time.sleep(1)
        c0, _ = proxy.snapshot()
        time.sleep(2)
        background = diff(proxy.snapshot()[0], c0)  # calls nobody asked for (none expected)
        per_request = {}
        for label, call in kinds.items():
            before, _ = proxy.snapshot()
            for i in range(n):
                status = call(i)
                if isinstance(status, tuple) and status[0] not in (200, 201, 303):
                    raise RuntimeError(f"{label} answered {status[0]}: {status[2][:200]!r}")
            time.sleep(0.3)
            d = diff(proxy.snapshot()[0], before)
            per_request[label] = {k: v / n for k, v in sorted(d.items())}
            log(f"dynamodb {label:36} per request: " + (", ".join(f"{k} {v:.2f}" for k, v in per_request[label].items()) or "none"))
        load = {}
        for conns in (1, 16, 64):
            before, secs0 = proxy.snapshot()
            r = measure_point(args, srv, "GET /", "get", "/", conns, args.duration)
            time.sleep(0.3)
            after, secs1 = proxy.snapshot()
            d = diff(after, before)
            updates = d.get("UpdateItem", 0)
            update_s = secs1.get("UpdateItem", 0) - secs0.get("UpdateItem", 0)
            load[str(conns)] = {"views_per_s": r["rps"], "views": r["ok"], "update_item_calls": updates,
                                "update_item_per_s": updates / r["seconds"], "views_per_update": r["ok"] / updates if updates else None,
                                "update_item_mean_ms": 1000 * update_s / updates if updates else None,
                                "calls": d, "p99_ms": r["p99_ms"], "errors": r["errors"],
                                "visit_check": r.get("visit_check")}
            log(f"dynamodb GET / c={conns}: {r['rps']:.0f} views/s, {load[str(conns)]['update_item_per_s']:.0f} UpdateItem/s, "
                f"{load[str(conns)]['views_per_update'] or 0:.1f} views per write, UpdateItem {load[str(conns)]['update_item_mean_ms'] or 0:.2f} ms")
        return {"requests_each": n, "background_calls_2s": background, "per_request": per_request, "load": load,
                "load_average": os.getloadavg()}
    finally:
        if srv:
            srv.stop()
        if proxy:
            proxy.close()
        os.killpg(moto.pid, 15)
        moto.wait(timeout=10)
