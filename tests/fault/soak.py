"""The soak (scripts/soak): mixed traffic through the local topology for a long while, one instance
restarted every minute, and what could leak sampled every 10 s and plotted.

    python tests/fault/soak.py OUT_DIR [--minutes 10] [--rate 60] [--restart-every 60] [--sample-every 10]

Samples, per instance: resident memory (VmRSS), open file descriptors; for the whole: connections to
PostgreSQL (pg_stat_activity), and the 99th percentile latency of the requests that finished in the last
interval. Writes OUT_DIR/samples.csv, OUT_DIR/soak.svg, OUT_DIR/summary.json and OUT_DIR/summary.md. Exits
1 when a bound in summary.md is broken (an acknowledged write lost, a failure outside a restart, or a
metric that grows from the first third of the run to the last by more than its allowance).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load import Load, summarize  # noqa: E402
from stackctl import APPS, Stack  # noqa: E402

# The fault suite's instance settings (conftest.APP_ENV), without importing pytest.
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


def proc_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--restart-every", type=float, default=60.0)
    parser.add_argument("--sample-every", type=float, default=10.0)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    duration = args.minutes * 60

    state = Path(tempfile.mkdtemp(prefix="stratus-soak."))
    stack = Stack(state, APP_ENV)
    print(f"soak: stack up in {state}", flush=True)
    stack.up()
    samples: list[dict] = []
    restarts: list[dict] = []
    prefix = f"soak{uuid.uuid4().hex[:6]}-"
    try:
        before = stack.visit_count()
        load = Load(stack.alb, prefix=prefix, headers=stack.origin_headers, rate=args.rate, workers=32,
                    max_seconds=duration + 5, timeout=15)
        load.start()
        t0 = load.started
        stop = threading.Event()

        def restarter():
            n = 0
            # On the minute (t0 + k x interval), whatever the previous restart took.
            while not stop.wait(max(0.0, t0 + (n + 1) * args.restart_every - time.monotonic())):
                if time.monotonic() - t0 > duration - args.restart_every / 2:
                    break
                app = APPS[n % len(APPS)]
                n += 1
                began = time.monotonic()
                stopped = stack.run("stop", app, check=False, timeout=60)
                stack.run("start", app, timeout=60)
                restarts.append({"t": round(began - t0, 1), "app": app, "exit": stopped.stdout.strip(),
                                 "seconds": round(time.monotonic() - began, 2)})
                print(f"soak: restarted {app} at {began - t0:.0f} s ({stopped.stdout.strip()})", flush=True)

        rt = threading.Thread(target=restarter, daemon=True)
        rt.start()
        next_sample = t0
        last_cut = t0
        while time.monotonic() - t0 < duration:
            next_sample += args.sample_every
            time.sleep(max(0.0, next_sample - time.monotonic()))
            now = time.monotonic()
            with load._lock:
                window = [o.end - o.sent for o in load.outcomes if last_cut <= o.end < now]
                window_failed = sum(1 for o in load.outcomes if last_cut <= o.end < now and not o.ok)
            last_cut = now
            row: dict = {"t": round(now - t0, 1), "requests": len(window), "failed": window_failed,
                         "p99_ms": None if not window else round(p99(window) * 1000, 1)}
            for app in APPS:
                try:
                    pid = stack.pid(app)
                except (OSError, ValueError):
                    pid = None
                row[f"{app}_rss_mib"] = None if pid is None or proc_rss_kib(pid) is None else round(proc_rss_kib(pid) / 1024, 1)
                row[f"{app}_fds"] = None if pid is None else proc_fds(pid)
            try:
                row["pg_connections"] = int(stack.sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'stratus' AND pid <> pg_backend_pid()").strip())
            except Exception:  # noqa: BLE001 - a sample is skipped, the soak goes on
                row["pg_connections"] = None
            samples.append(row)
            print("soak: " + " ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        stop.set()
        outcomes = load.stop()
        rt.join(timeout=90)
        after = stack.visit_count()
        stored = stack.stored_writes(prefix)
    finally:
        stack.down()

    summary = summarize(outcomes, stored)
    summary["counter_delta"] = after - before
    write_csv(out / "samples.csv", samples)
    (out / "soak.svg").write_text(svg(samples, restarts, args))
    verdict = judge(samples, summary, restarts, outcomes, t0)
    result = {"minutes": args.minutes, "rate": args.rate, "restart_every_s": args.restart_every,
              "sample_every_s": args.sample_every, "restarts": restarts, "load": summary, **verdict}
    (out / "summary.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    (out / "summary.md").write_text(markdown(result))
    print((out / "summary.md").read_text())
    return 0 if verdict["passed"] else 1


def write_csv(path: Path, samples: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(samples[0].keys()) if samples else ["t"])
        writer.writeheader()
        writer.writerows(samples)


def thirds(samples: list[dict], key) -> tuple[float | None, float | None, float | None]:
    """(mean of the first third, mean of the last third, max) of key(sample), skipping gaps."""
    values = [(s["t"], key(s)) for s in samples]
    values = [(t, v) for t, v in values if v is not None]
    if len(values) < 3:
        return None, None, None
    n = len(values) // 3
    first = sum(v for _, v in values[:n]) / n
    last = sum(v for _, v in values[-n:]) / n
    return round(first, 1), round(last, 1), round(max(v for _, v in values), 1)


def judge(samples, summary, restarts, outcomes, t0) -> dict:
    """Flat means: the last third's mean is within the allowance of the first third's."""
    def total_rss(s):
        vals = [s[f"{a}_rss_mib"] for a in APPS]
        return None if any(v is None for v in vals) else sum(vals)

    def total_fds(s):
        vals = [s[f"{a}_fds"] for a in APPS]
        return None if any(v is None for v in vals) else sum(vals)

    checks = []
    # (name, key, allowance: last third may exceed the first by this much, absolute or relative)
    for name, key, slack_abs, slack_rel in (
        ("resident memory, three instances (MiB)", total_rss, 30.0, 0.25),
        ("open file descriptors, three instances", total_fds, 20.0, 0.25),
        ("connections to PostgreSQL", lambda s: s["pg_connections"], 6.0, 0.0),
        ("p99 latency (ms)", lambda s: s["p99_ms"], 50.0, 1.0),
    ):
        first, last, peak = thirds(samples, key)
        bound = None if first is None else round(max(first + slack_abs, first * (1 + slack_rel)), 1)
        ok = first is not None and last <= bound
        checks.append({"name": name, "first_third_mean": first, "last_third_mean": last, "max": peak,
                       "bound": bound, "flat": ok})
    # Failures are allowed only around a restart: sent within 10 s of one starting.
    marks = [t0 + r["t"] for r in restarts]
    stray = [o for o in outcomes if not o.ok and not any(m - 1 <= o.sent <= m + 10 for m in marks)]
    lost = summary["lost_writes"]
    passed = all(c["flat"] for c in checks) and lost == 0 and not stray
    return {"checks": checks, "failures_outside_restarts": len(stray), "passed": passed}


def markdown(result: dict) -> str:
    load = result["load"]
    lines = [
        f"# Soak: {result['minutes']:g} minutes, one instance restarted every {result['restart_every_s']:g} s",
        "",
        f"Written by `scripts/soak` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"Verdict: **{'FLAT' if result['passed'] else 'NOT FLAT'}**. Plot: `soak.svg`; samples every "
        f"{result['sample_every_s']:g} s: `samples.csv`.",
        "",
        f"Load: {load['sent']} requests at {result['rate']:g}/s through HAProxy (tests/fault/load.py's mix), "
        f"{load['failed']} failed ({', '.join(f'{k}: {v}' for k, v in sorted(load['failed_by_status'].items())) or 'none'}), "
        f"{result['failures_outside_restarts']} "
        f"of them outside the 10 s after a restart began; {load['acknowledged_writes']} acknowledged writes, "
        f"{load['lost_writes']} lost; visit counter moved by {load['counter_delta']} for {load['views_ok']} "
        f"successful views; longest request {load['max_latency_s']} s; {len(result['restarts'])} restarts.",
        "",
        "| measure | first third (mean) | last third (mean) | max | bound | flat |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in result["checks"]:
        lines.append(f"| {c['name']} | {c['first_third_mean']} | {c['last_third_mean']} | {c['max']} | "
                     f"{c['bound']} | {'yes' if c['flat'] else 'NO'} |")
    lines.append("")
    return "\n".join(lines) + "\n"


def svg(samples: list[dict], restarts: list[dict], args) -> str:
    """Four stacked line charts (RSS and fds per instance, PostgreSQL connections, p99), restarts marked."""
    width, panel_h, left, right, top = 900, 170, 70, 20, 40
    panels = [
        ("Resident memory (MiB)", [(a, f"{a}_rss_mib") for a in APPS]),
        ("Open file descriptors", [(a, f"{a}_fds") for a in APPS]),
        ("Connections to PostgreSQL", [("all", "pg_connections")]),
        ("p99 latency per 10 s (ms)", [("all", "p99_ms")]),
    ]
    colors = {"app1": "#1f77b4", "app2": "#d62728", "app3": "#2ca02c", "all": "#333333"}
    height = top + len(panels) * (panel_h + 40) + 20
    t_max = max([s["t"] for s in samples] + [args.minutes * 60])
    plot_w = width - left - right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14">Soak: {args.minutes:g} min at {args.rate:g} req/s, one instance '
           f'restarted every {args.restart_every:g} s (dashed lines), sampled every {args.sample_every:g} s</text>']
    for i, (title, series) in enumerate(panels):
        y0 = top + i * (panel_h + 40) + 20
        values = [s[k] for _, k in series for s in samples if s.get(k) is not None]
        v_max = max(values + [1]) * 1.15
        out.append(f'<text x="{left}" y="{y0 - 6}" font-size="12">{title}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{panel_h}" fill="none" stroke="#999"/>')
        for frac in (0, 0.5, 1):
            y = y0 + panel_h - frac * panel_h
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v_max * frac:.0f}</text>')
        for minute in range(0, int(t_max // 60) + 1):
            x = left + minute * 60 / t_max * plot_w
            out.append(f'<text x="{x:.1f}" y="{y0 + panel_h + 13}" text-anchor="middle">{minute}m</text>')
        for r in restarts:
            x = left + r["t"] / t_max * plot_w
            out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + panel_h}" stroke="#bbb" '
                       f'stroke-dasharray="3,3"/>')
        for j, (label, key) in enumerate(series):
            points = []
            for s in samples:
                v = s.get(key)
                if v is None:
                    if len(points) > 1:
                        out.append(polyline(points, colors[label]))
                    points = []
                    continue
                points.append((left + s["t"] / t_max * plot_w, y0 + panel_h - v / v_max * panel_h))
            if len(points) > 1:
                out.append(polyline(points, colors[label]))
            if len(series) > 1:
                out.append(f'<text x="{width - right - 150 + j * 50}" y="{y0 - 6}" fill="{colors[label]}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def polyline(points, color) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.5"/>'


if __name__ == "__main__":
    sys.exit(main())
