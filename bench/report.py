#!/usr/bin/env python3
"""Turns bench/drive.py's raw.json into bench/results/{results.json,results.md} (bench/plot draws results.svg).

Every speed figure is also given as a ratio: to the baseline measured in the same run (mean of its pass at
the start and at the end), and Stratus on PostgreSQL to the Flask peer on the same PostgreSQL.
"""

import json
import sys
from pathlib import Path

SERVERS = ["baseline", "stratus-sqlite", "stratus-postgres", "flask-postgres"]
READ_ROUTES = [
    "GET /",
    "GET /api/v1/submissions/latest",
    "GET /api/v1/users/{u}/submissions",
    "GET /api/v1/visits",
    "GET /health",
    "GET /blog",
    "GET /api/v1/files/{id}/content",
]


def f(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def main(out_dir):
    out_dir = Path(out_dir)
    raw = json.loads((out_dir / "raw.json").read_text())
    servers = raw["servers"]
    conns = [str(c) for c in raw["conns"]]
    hi = conns[-1]

    # The baseline: mean of the passes at the start and at the end, per connection count.
    base_passes = [servers[k]["GET /"] for k in ("baseline", "baseline-end") if k in servers]
    baseline = {}
    for c in conns:
        pts = [p[c] for p in base_passes if c in p]
        if pts:
            baseline[c] = {k: sum(p.get(k) or 0 for p in pts) / len(pts)
                           for k in ("rps", "p50_ms", "p99_ms", "server_cpu_pct", "server_cpu_us_per_req", "server_rss_mb")}
    drift = None
    if len(base_passes) == 2:
        drift = {c: ratio(base_passes[1][c]["rps"], base_passes[0][c]["rps"]) for c in conns}
    derived = {"baseline": baseline, "baseline_drift_end_over_start": drift, "ratios": {}}

    for name in ("stratus-sqlite", "stratus-postgres", "flask-postgres"):
        for route, pts in servers.get(name, {}).items():
            if route.startswith("_"):
                continue
            for c, r in pts.items():
                b = baseline.get(c)
                rr = {
                    "rps_x_baseline": ratio(r["rps"], b and b["rps"]),
                    "p99_x_baseline": ratio(r["p99_ms"], b and b["p99_ms"]),
                    "cpu_x_baseline": ratio(r["server_cpu_pct"], b and b["server_cpu_pct"]),
                    "cpu_per_req_x_baseline": ratio(r.get("server_cpu_us_per_req"), b and b["server_cpu_us_per_req"]),
                    "rss_x_baseline": ratio(r["server_rss_mb"], b and b["server_rss_mb"]),
                }
                if name.startswith("stratus"):
                    fl = servers.get("flask-postgres", {}).get(route, {}).get(c)
                    rr["rps_x_flask"] = ratio(r["rps"], fl and fl["rps"])
                    rr["p99_flask_over_stratus"] = ratio(fl and fl["p99_ms"], r["p99_ms"])
                derived["ratios"].setdefault(name, {}).setdefault(route, {})[c] = rr

    def rps(name, route, c=hi):
        return servers.get(name, {}).get(route, {}).get(c, {}).get("rps")

    def pt(name, route, c=hi):
        return servers.get(name, {}).get(route, {}).get(c)

    b_hi = baseline.get(hi, {}).get("rps")
    targets = []

    def target(what, value, limit, ok, shown):
        targets.append({"target": what, "value": value, "limit": limit,
                        "pass": None if value is None else ok, "shown": shown})

    # The two ratio-to-baseline targets are decided by the paired phase when it ran (the baseline measured
    # next to each point: drive.py's `paired`), else by the main pass against the mean baseline.
    paired = raw.get("paired")
    for route, share, words in (("GET /", 0.30, "30 % of baseline req/s"),
                                ("GET /api/v1/submissions/latest", 0.50, "50 % of baseline")):
        main_pass = ratio(rps("stratus-sqlite", route), b_hi)
        if paired:
            v = paired["median_ratio"][route]
            shown = (f"{f(v * 100, 1)} % (median of {len(paired['rounds'])} paired rounds: "
                     + ", ".join(f(e[route]["ratio"] * 100, 1) for e in paired["rounds"])
                     + f"; main pass {f(main_pass and main_pass * 100, 1)} %)")
        else:
            v, shown = main_pass, f"{f(main_pass and main_pass * 100, 1)} %"
        target(f"{route} on SQLite >= {words} at {hi} conns", v, share, v is not None and v >= share, shown)
    for route in ("GET /", "POST /"):
        v = ratio(rps("stratus-postgres", route), rps("flask-postgres", route))
        target(f"{route} on PostgreSQL >= 10x Flask at {hi} conns", v, 10, v is not None and v >= 10, f"{f(v, 1)}x")
    for route in READ_ROUTES:
        p = pt("stratus-sqlite", route)
        v = p and p["p99_ms"]
        target(f"p99 < 10 ms at {hi} conns, SQLite, {route}", v, 10, v is not None and v < 10, f"{f(v, 2)} ms")
    sc = raw.get("scaling")
    if sc:
        for k in ("latest", "history", "visits"):
            v = sc["ratio_hi_lo"][k]
            target(f"{sc['ratio_rows']} rows p50 latency ratio <= 1.2, {k}", v, 1.2, v <= 1.2, f"{f(v, 2)}")
    st = raw.get("startup")
    if st:
        target("idle RSS <= 20 MB", st["idle_rss_mb"], 20, st["idle_rss_mb"] <= 20, f"{f(st['idle_rss_mb'], 1)} MB")
        target("start to ready <= 100 ms on SQLite", st["start_to_ready_ms"], 100, st["start_to_ready_ms"] <= 100,
               f"{f(st['start_to_ready_ms'], 1)} ms")
    beyond_targets(raw, target)
    derived["targets"] = targets
    derived["cost"] = cost = cost_per_request(raw)

    # ------------------------------------------------------------------ Markdown
    meta = raw.get("meta", {})
    md = [f"# Benchmark results ({raw['started_at']})", ""]
    md.append(f"Machine: {meta.get('machine', '?')}. Commit {meta.get('commit', '?')}. wrk {raw['duration_s']} s per "
              f"point, 1 thread at 1 connection, 2 threads otherwise; load generator and server share the machine. "
              f"{raw['logging']}. Bench phase took {raw['bench_seconds']:.0f} s.")
    if drift:
        md.append("")
        md.append("Baseline drift (end pass / start pass, req/s): " + ", ".join(f"c={c}: {f(d, 2)}" for c, d in drift.items())
                  + ". Ratios below use the mean of both passes; a drift far from 1.00 means the machine's load changed during the run.")
    md += ["", "## Targets", "", "| target | value | pass |", "| --- | --- | --- |"]
    for t in targets:
        md.append(f"| {t['target']} | {t['shown']} | {'PASS' if t['pass'] else ('–' if t['pass'] is None else 'FAIL')} |")

    if paired:
        md += ["", f"## Paired rounds (SQLite, {paired['conns']} connections)", "",
               "The baseline and a fresh Stratus on SQLite side by side; a baseline pass before and after each "
               "round, each Stratus point divided by the mean of the two around it.", "",
               "| round | baseline req/s (before, after) | GET / req/s | GET / ratio | latest req/s | latest ratio |",
               "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for i, e in enumerate(paired["rounds"], 1):
            g, la = e["GET /"], e["GET /api/v1/submissions/latest"]
            md.append(f"| {i} | {f(e['baseline_rps'])} ({f(e['baseline_before_after'][0])}, "
                      f"{f(e['baseline_before_after'][1])}) | {f(g['rps'])} | {f(g['ratio'] * 100, 1)} % | "
                      f"{f(la['rps'])} | {f(la['ratio'] * 100, 1)} % |")
        checks = [e["GET /"]["visit_check"] for e in paired["rounds"] if e["GET /"].get("visit_check")]
        if checks:
            md += ["", "Visit counter after each paired `GET /` point: "
                   + ", ".join("ok" if c["pass"] else f"MISMATCH {c}" for c in checks) + "."]

    md += ["", f"## Requests/s (successful responses) and ratios at {hi} connections", "",
           "| server | route | " + " | ".join(f"c={c}" for c in conns) + f" | ×baseline @{hi} | ×Flask @{hi} |",
           "| --- | --- | " + " | ".join("---:" for _ in conns) + " | ---: | ---: |"]
    md.append("| baseline (mean) | GET / (fixed 2 KB page) | " + " | ".join(f(baseline.get(c, {}).get("rps")) for c in conns) + " | 1.00 | |")
    for name in SERVERS[1:]:
        for route, pts in servers.get(name, {}).items():
            if route.startswith("_"):
                continue
            rr = derived["ratios"][name][route].get(hi, {})
            md.append(f"| {name} | {route} | " + " | ".join(f(pts.get(c, {}).get("rps")) for c in conns)
                      + f" | {f(rr.get('rps_x_baseline'), 3)} | {f(rr.get('rps_x_flask'), 1) if 'rps_x_flask' in rr else ''} |")

    md += ["", f"## Latency, errors, server CPU and RSS at {hi} connections", "",
           "Server CPU: % of one core over the point; CPU µs/req: server CPU time per answered request (steadier "
           "than req/s on a shared machine).", "",
           "| server | route | p50 ms | p99 ms | p99.9 ms | errors | server CPU % | CPU µs/req | peak RSS MB | p99 ×baseline | CPU/req ×baseline |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in SERVERS:
        keys = [name] if name != "baseline" else [k for k in ("baseline", "baseline-end") if k in servers]
        for key in keys:
            for route, pts in servers.get(key, {}).items():
                if route.startswith("_") or hi not in pts:
                    continue
                r = pts[hi]
                rr = derived["ratios"].get(name, {}).get(route, {}).get(hi, {})
                md.append(f"| {key} | {route} | {f(r['p50_ms'], 2)} | {f(r['p99_ms'], 2)} | {f(r['p999_ms'], 2)} | {r['errors']} | "
                          f"{f(r['server_cpu_pct'])} | {f(r.get('server_cpu_us_per_req'), 1)} | {f(r['server_rss_mb'], 1)} | "
                          f"{f(rr.get('p99_x_baseline'), 1)} | {f(rr.get('cpu_per_req_x_baseline'), 1)} |")

    md += ["", "## Latency at 1 connection (no queueing: the cost of one request)", "",
           "| server | route | p50 ms | p99 ms | p99.9 ms | req/s |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    lo = conns[0]
    for name in SERVERS:
        key = name
        for route, pts in servers.get(key, {}).items():
            if route.startswith("_") or lo not in pts:
                continue
            r = pts[lo]
            md.append(f"| {key} | {route} | {f(r['p50_ms'], 3)} | {f(r['p99_ms'], 3)} | {f(r['p999_ms'], 3)} | {f(r['rps'])} |")

    md += ["", "## Visit counter after each GET / run", "",
           "The counter's increase must cover every success wrk saw and every 200 the server sent (Stratus: "
           "`http_requests_total` from /metrics), and exceed them by no more than the views cut off when wrk stopped "
           "at its deadline: at most one per connection, committed (a view is counted durably before its page is "
           "written) but never answered.", "",
           "| server | conns | counter delta | wrk successes | server 200s | cut off at stop | pass |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name in SERVERS[1:]:
        for c, r in servers.get(name, {}).get("GET /", {}).items():
            vc = r.get("visit_check")
            if vc:
                seen = vc["server_200s"] if vc["server_200s"] is not None else vc["wrk_ok"]
                ok = all(s is None or 0 <= vc["counter_delta"] - s <= int(c) for s in (vc["wrk_ok"], vc["server_200s"]))
                vc["pass"] = ok
                md.append(f"| {name} | {c} | {vc['counter_delta']} | {vc['wrk_ok']} | {f(vc['server_200s'])} | "
                          f"{vc['counter_delta'] - seen} | {'PASS' if ok else 'FAIL'} |")

    md += ["", "And a count that no deadline cuts: 16 keep-alive clients each make exactly 100 `GET /` and read every "
           "answer; the counter must rise by exactly the number of 200s (and, for Stratus, so must its own count).", "",
           "| server | requests | 200s | counter delta | server 200s | pass |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name in SERVERS[1:]:
        ev = servers.get(name, {}).get("_exact_visit_check")
        if ev:
            md.append(f"| {name} | {ev['requests']} | {ev['ok']} | {ev['counter_delta']} | {f(ev['server_200s'])} | "
                      f"{'PASS' if ev['pass'] else 'FAIL'} |")

    if sc:
        rows = [k for k in sc if k.isdigit()]
        md += ["", "## Scaling (Stratus on SQLite, 1 connection)", "",
               "| stored submissions | bulk load s | latest p50 / p99 ms | history p50 / p99 ms | visits p50 / p99 ms |",
               "| ---: | ---: | ---: | ---: | ---: |"]
        for n in rows:
            s = sc[n]
            md.append(f"| {int(n):,} | {f(s['bulk_load_s'], 1)} | " + " | ".join(
                f"{f(s[k]['p50_ms'], 3)} / {f(s[k]['p99_ms'], 3)}" for k in ("latest", "history", "visits")) + " |")
        md.append(f"| ratio {sc['ratio_rows']} (p50) | | " + " | ".join(f(sc['ratio_hi_lo'][k], 2) for k in ("latest", "history", "visits")) + " |")

    md += beyond_markdown(raw, cost)
    md += ["", "## Process", ""]
    if st:
        md.append(f"- Start to ready (process start to `/health` 200, fresh SQLite file, median of 5): "
                  f"{f(st['start_to_ready_ms'], 1)} ms (all: {', '.join(f(x, 1) for x in st['start_to_ready_all_ms'])})")
        md.append(f"- Idle RSS 1 s after ready: {f(st['idle_rss_mb'], 1)} MB")
    for name in SERVERS[1:]:
        if "_idle_rss_after_mb" in servers.get(name, {}):
            md.append(f"- RSS of {name} after its load runs: {f(servers[name]['_idle_rss_after_mb'], 1)} MB")
    for k, label in (("binary_bytes", "Release binary size"), ("binary_stripped_bytes", "stripped")):
        if k in meta:
            md.append(f"- {label}: {meta[k] / 2**20:.1f} MiB")
    if "build_seconds" in meta:
        md.append(f"- `cargo build --release` in this run: {meta['build_seconds']:.0f} s ({meta.get('build_kind', '')})")
    if "clean_build" in meta:
        md.append(f"- Clean release build: {meta['clean_build']}")
    md.append("")
    md.append("Peak RSS during a 1 GiB upload: the files phase above (sampled every 100 ms), and "
              "`tests/api/files.rs`; see docs/performance.md. The plot: `results.svg` (bench/plot, plotters).")
    md.append("")

    (out_dir / "results.md").write_text("\n".join(md) + "\n")
    full = {"raw": raw, "derived": derived}
    (out_dir / "results.json").write_text(json.dumps(full, indent=1))

    # The plot (results.svg) is drawn from results.json by bench/plot (plotters), run by bench/run.


# ---------------------------------------------------------------------------------------------- issue 26

# Fargate list price, us-east-1 (Linux/x86): per vCPU-hour and per GB-hour. The task: 0.25 vCPU, 0.5 GB (the
# smallest memory a 0.25 vCPU task may have; Stratus peaks near 30 MB, the Flask peer's 4 workers near 190 MB).
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
TASK_VCPU = 0.25
TASK_GB = 0.5
CPU_TARGET = 0.60


def cost_per_request(raw):
    """Requests/s one 0.25 vCPU task serves at 60 % CPU, from the server CPU per request measured at the
    highest connection count, and dollars per million requests. Stratus and the Flask peer on PostgreSQL
    (the production shape: the database's own CPU is RDS's, not the task's); the plain peer too when its
    phase ran."""
    servers = raw["servers"]
    hi = str(raw["conns"][-1])
    task_hour = TASK_VCPU * FARGATE_VCPU_HOUR + TASK_GB * FARGATE_GB_HOUR
    rows = {}

    def add(who, route, cpu_us):
        if not cpu_us:
            return
        rps = TASK_VCPU * CPU_TARGET / (cpu_us * 1e-6)
        rows.setdefault(route, {})[who] = {"cpu_us_per_req": cpu_us, "rps_per_task": rps,
                                           "usd_per_million": task_hour / (rps * 3600) * 1e6}

    for who, name in (("stratus", "stratus-postgres"), ("flask", "flask-postgres")):
        for route, pts in servers.get(name, {}).items():
            if not route.startswith("_") and hi in pts:
                add(who, route, pts[hi].get("server_cpu_us_per_req"))
    plain = (raw.get("plain") or {}).get("postgres", {}).get("routes", {})
    for route, by_c in plain.items():
        point = by_c.get(hi) or by_c.get(max(by_c, key=int))
        add("plain", route, point["plain"]["server_cpu_us_per_req"])
    return {"task": f"{TASK_VCPU} vCPU, {TASK_GB} GB", "task_usd_per_hour": task_hour, "cpu_target": CPU_TARGET,
            "prices": {"vcpu_hour": FARGATE_VCPU_HOUR, "gb_hour": FARGATE_GB_HOUR}, "routes": rows}


def beyond_targets(raw, target):
    fl = raw.get("files")
    if fl and "download_ratio" in fl:
        v = fl["download_ratio"]
        target(f"{fl['size_mib']} MiB download >= 0.8x nginx (sendfile)", v, 0.8, v >= 0.8,
               f"{f(v, 2)}x ({f(fl['stratus']['download']['mib_per_s'])} vs {f(fl['nginx']['download']['mib_per_s'])} MiB/s)")
        v = fl["upload_ratio"]
        target(f"{fl['size_mib']} MiB upload (SHA-256 + metadata) >= 0.5x nginx (PUT to disk)", v, 0.5, v >= 0.5,
               f"{f(v, 2)}x ({f(fl['stratus']['upload']['mib_per_s'])} vs {f(fl['nginx']['upload']['mib_per_s'])} MiB/s)")
    co = raw.get("idle")
    if co and "stratus" in co:
        st = co["stratus"]
        v = st["rss_per_idle_conn_kb"]
        target(f"RSS per idle keep-alive connection <= 10 KB ({st['opened']:,} held)", v, 10, v <= 10, f"{f(v, 1)} KB")
        v = st["load"]["p99_ms"]
        target(f"GET / p99 < 10 ms at 64 conns beside {co['idle_connections']:,} idle connections", v, 10, v < 10,
               f"{f(v, 2)} ms ({f(st['load']['rps'])} req/s)")
        refused = (co["idle_connections"] - st["opened"]) + st["load"]["errors"] + (st["opened"] - st["still_open_after"])
        target(f"nothing refused or dropped ({co['idle_connections']:,} idle + 64 active)", refused, 0, refused == 0,
               f"{refused} (not opened {co['idle_connections'] - st['opened']}, load errors {st['load']['errors']}, "
               f"idle closed {st['opened'] - st['still_open_after']})")
    dy = raw.get("dynamo")
    if dy and "load" in dy:
        v = max(p["update_item_per_s"] for p in dy["load"].values())
        target("visit counter item: UpdateItem/s of one instance <= 1,000 at every load", v, 1000, v <= 1000,
               f"{f(v)} /s at most (1, 16, 64 connections)")


def beyond_markdown(raw, cost):
    md = []
    pl = raw.get("plain")
    if pl:
        md += ["", "## Stratus against a plain axum service (bench/peers/plain_axum)", "",
               "Both up at once on the same engine, driven alternately route by route "
               f"({next(iter(pl.values()))['rounds']} round(s) × {next(iter(pl.values()))['seconds']} s per point); "
               "medians over rounds. Ratio = Stratus / plain (req/s); CPU ratio = Stratus / plain (CPU µs per request, "
               "lower is better for Stratus).", "",
               "| engine | route | conns | Stratus req/s | plain req/s | ratio | per-round ratios | Stratus p99 ms | plain p99 ms | "
               "Stratus CPU µs/req | plain CPU µs/req | CPU ratio | errors (S / p) |",
               "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for engine, e in pl.items():
            if not isinstance(e, dict) or "routes" not in e:
                continue
            for route, by_c in e["routes"].items():
                for c, r in by_c.items():
                    md.append(f"| {engine} | {route} | {c} | {f(r['stratus']['rps'])} | {f(r['plain']['rps'])} | "
                              f"{f(r['rps_ratio'], 2)} | {', '.join(f(x, 2) for x in r['rounds_rps_ratio'])} | "
                              f"{f(r['stratus']['p99_ms'], 2)} | {f(r['plain']['p99_ms'], 2)} | "
                              f"{f(r['stratus']['server_cpu_us_per_req'], 1)} | {f(r['plain']['server_cpu_us_per_req'], 1)} | "
                              f"{f(r['cpu_per_req_ratio'], 2)} | {r['stratus']['errors']} / {r['plain']['errors']} |")
            md.append(f"\n{engine}: load average at the end {', '.join(f(x, 2) for x in e['load_average'])}.\n")
    fl = raw.get("files")
    if fl and "rounds" in fl:
        md += ["", f"## File transfer against nginx ({fl['size_mib']} MiB, same file, same disk)", "",
               "Stratus: multipart upload to `/api/v1/files` (SHA-256, metadata row on SQLite, local object store), "
               "download from `/api/v1/files/{id}/content`. nginx: WebDAV `PUT` to disk, `sendfile on` download of "
               "the very object Stratus stored. curl as the client; medians over rounds.", "",
               "| | Stratus MiB/s | nginx MiB/s | ratio | per-round ratios | Stratus CPU s/GiB | nginx CPU s/GiB | "
               "Stratus peak RSS MB (growth) | nginx peak RSS MB (growth) |", "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
        for way in ("download", "upload"):
            s_, n_ = fl["stratus"][way], fl["nginx"][way]
            md.append(f"| {way} | {f(s_['mib_per_s'])} | {f(n_['mib_per_s'])} | {f(fl[way + '_ratio'], 2)} | "
                      + ", ".join(f(e[way + '_ratio'], 2) for e in fl["rounds"])
                      + f" | {f(s_['server_cpu_s_per_gib'], 2)} | {f(n_['server_cpu_s_per_gib'], 2)} | "
                      f"{f(s_['peak_rss_mb'], 1)} (+{f(s_['peak_rss_growth_mb'], 1)}) | {f(n_['peak_rss_mb'], 1)} (+{f(n_['peak_rss_growth_mb'], 1)}) |")
        sm = fl["small"]
        md += ["", "64 KiB file at 64 connections (wrk): "
               f"Stratus {f(sm['stratus']['rps'])} req/s (p99 {f(sm['stratus']['p99_ms'], 2)} ms, "
               f"{f(sm['stratus']['server_cpu_us_per_req'], 1)} µs CPU/req), nginx {f(sm['nginx']['rps'])} req/s "
               f"(p99 {f(sm['nginx']['p99_ms'], 2)} ms, {f(sm['nginx']['server_cpu_us_per_req'], 1)} µs CPU/req): "
               f"**{f(sm['rps_ratio'], 2)}x** (rounds: {', '.join(f(x, 2) for x in sm['rounds_rps_ratio'])}). "
               f"Load average {', '.join(f(x, 2) for x in fl['load_average_end'])}."]
    co = raw.get("idle")
    if co:
        md += ["", f"## {co['idle_connections']:,} idle keep-alive connections", ""]
        if "skipped" in co:
            md.append(f"Skipped: {co['skipped']}.")
        else:
            md += ["Each connection made one request (as a balancer's pooled connection has) and then sat idle. "
                   f"File-descriptor limit: client {co['client_fd_limit']:,}, server as started "
                   f"{co['stratus']['server_fd_limit']:,} (bench/run raises the soft limit to the hard one).", "",
                   "| server | opened | failures | RSS before MB | RSS with them idle MB | per idle connection KB |",
                   "| --- | ---: | --- | ---: | ---: | ---: |"]
            for name in ("baseline", "stratus"):
                e = co.get(name)
                if e:
                    md.append(f"| {name} | {e['opened']:,} | {e['failures'] or 'none'} | {f(e['rss_before_mb'], 1)} | "
                              f"{f(e['rss_idle_mb'], 1)} | {f(e['rss_per_idle_conn_kb'], 1)} |")
            ld = co["stratus"]["load"]
            ctl = co["stratus"].get("load_without_idle")
            md += ["", f"Beside them, `GET /` at 64 connections: {f(ld['rps'])} req/s, p50 {f(ld['p50_ms'], 2)} ms, "
                   f"p99 {f(ld['p99_ms'], 2)} ms, errors {ld['errors']}"
                   + (f" (the same load just before the idle connections were opened: {f(ctl['rps'])} req/s, "
                      f"p99 {f(ctl['p99_ms'], 2)} ms)" if ctl else "") + f"; {co['stratus']['still_open_after']:,} of the idle "
                   f"connections answered a second request afterwards; RSS after the load "
                   f"{f(co['stratus']['rss_after_load_mb'], 1)} MB."]
    stk = raw.get("stack")
    if stk and "GET /" in stk:
        md += ["", "## The whole topology (scripts/stack: HAProxy, three instances, PostgreSQL)", "",
               "Against the Flask peer deployed the same way: three gunicorn instances (4 sync workers each) behind "
               "HAProxy with the same configuration (deploy/local/haproxy.cfg.template), on the stack's PostgreSQL. "
               "64 connections to the balancer, the two alternately; CPU µs/req: the three instances' process trees.", "",
               "| route | Stratus req/s | Flask req/s | ratio | per-round | Stratus p99 ms | Flask p99 ms | Stratus CPU µs/req | Flask CPU µs/req | errors (S / F) |",
               "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
        for route in ("GET /", "POST /"):
            e = stk[route]
            md.append(f"| {route} | {f(e['stratus']['rps'])} | {f(e['flask']['rps'])} | {f(e['rps_ratio'], 1)} | "
                      f"{', '.join(f(x, 1) for x in e['rounds_rps_ratio'])} | {f(e['stratus']['p99_ms'], 2)} | "
                      f"{f(e['flask']['p99_ms'], 2)} | {f(e['stratus']['server_cpu_us_per_req'], 1)} | "
                      f"{f(e['flask']['server_cpu_us_per_req'], 1)} | {e['stratus']['errors']} / {e['flask']['errors']} |")
        rr = stk["rolling_restart"]
        md += ["", f"Rolling restart (SIGTERM, exit, start, back UP in HAProxy; app1, app2, app3 in turn, taking "
               f"{f(rr['restart_seconds'], 1)} s of a {rr['load_seconds']} s `GET /` load at 64 connections): "
               f"{f(rr['rps'])} req/s, p50 {f(rr['p50_ms'], 2)} ms, **p99 {f(rr['p99_ms'], 2)} ms**, max {f(rr['max_ms'], 1)} ms, "
               f"errors {rr['errors']} {rr['error_detail'] or ''}. Per instance: "
               + "; ".join(f"{t['instance']} stop {t['stop_s']} s, start to UP {t['start_to_up_s']} s" for t in rr["timeline"]) + "."]
    if cost["routes"]:
        md += ["", "## Cost per request (Fargate, us-east-1 list price)", "",
               f"Server CPU per request at the highest connection count (PostgreSQL, main passes) → requests/s one "
               f"{cost['task']} task serves at {int(cost['cpu_target'] * 100)} % CPU → dollars per million requests "
               f"(task ${cost['task_usd_per_hour']:.5f}/h: ${cost['prices']['vcpu_hour']}/vCPU-h, ${cost['prices']['gb_hour']}/GB-h).", "",
               "| route | Stratus CPU µs/req | Stratus req/s per task | Stratus $/M | Flask CPU µs/req | Flask req/s per task | Flask $/M | Flask / Stratus |",
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for route, r in cost["routes"].items():
            s_, fl_ = r.get("stratus"), r.get("flask")
            if not s_:
                continue
            md.append(f"| {route} | {f(s_['cpu_us_per_req'], 1)} | {f(s_['rps_per_task'])} | {s_['usd_per_million']:.5f} | "
                      + (f"{f(fl_['cpu_us_per_req'], 1)} | {f(fl_['rps_per_task'])} | {fl_['usd_per_million']:.5f} | "
                         f"{f(fl_['usd_per_million'] / s_['usd_per_million'], 1)}x |" if fl_ else "– | – | – | – |"))
    dy = raw.get("dynamo")
    if dy:
        md += ["", "## DynamoDB calls per request (the DynamoDB board on moto, counted at a proxy)", ""]
        if "skipped" in dy:
            md.append(f"Skipped: {dy['skipped']}.")
        else:
            md += [f"{dy['requests_each']} requests of each type, one at a time; background calls in 2 s idle: "
                   f"{dy['background_calls_2s'] or 'none'}.", "", "| request | DynamoDB calls per request |", "| --- | --- |"]
            for label, calls in dy["per_request"].items():
                md.append(f"| {label} | {', '.join(f'{k} {v:.2f}' for k, v in calls.items()) or 'none'} |")
            md += ["", "The visit counter under `GET /` load (one instance):", "",
                   "| conns | views/s | UpdateItem/s on the counter | views per UpdateItem | UpdateItem round trip ms | p99 ms | visit check |",
                   "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
            for c, p in dy["load"].items():
                vc = p.get("visit_check")
                md.append(f"| {c} | {f(p['views_per_s'])} | {f(p['update_item_per_s'])} | {f(p['views_per_update'], 1)} | "
                          f"{f(p['update_item_mean_ms'], 2)} | {f(p['p99_ms'], 2)} | {'ok' if vc and vc['pass'] else vc} |")
    return md


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
