#!/usr/bin/env python3
"""A/B of two Stratus binaries on SQLite, interleaved so the machine's changing load hits both alike.

    bench/.venv/bin/python bench/ab.py OLD_BINARY NEW_BINARY [--rounds 3] [--seconds 3] [--conns 16,64]
        [--routes "GET /,latest"] [--old-db URL --new-db URL]

`--routes` keeps the routes whose label contains one of the comma-separated words (`=GET /`: that label
exactly). `--old-db`/`--new-db`
run each server on that database instead of a fresh SQLite file (e.g. two empty PostgreSQL databases from
scripts/test-services.sh: the same server for both, so the A/B compares the binaries, not the databases).

Both servers run at once (each on its own fresh SQLite file) and are driven alternately, one wrk point at
a time: for each round, for each route and connection count, A then B (B then A on odd rounds). Prints, and
writes to bench/results/ab.json, the median over rounds of requests/s, p99 and server CPU per request
(the steadiest figure on a shared machine) for each, and NEW/OLD.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import drive  # noqa: E402

ROUTES = [r for r in drive.ROUTES + drive.STRATUS_ONLY_ROUTES if r[0] != "GET /api/v1/visits"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--conns", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    p.add_argument("--routes", default="", help="comma-separated substrings of route labels to keep")
    p.add_argument("--old-db", default=None, help="database URL for OLD (default: a fresh SQLite file)")
    p.add_argument("--new-db", default=None, help="database URL for NEW (default: a fresh SQLite file)")
    p.add_argument("--work", type=Path, default=drive.BENCH / "work" / "ab")
    p.add_argument("--out", type=Path, default=drive.BENCH / "results" / "ab.json")
    args = p.parse_args()
    wanted = [w.strip() for w in args.routes.split(",") if w.strip()]
    routes = [r for r in ROUTES if not wanted
              or any(r[0] == w[1:] if w.startswith("=") else w in r[0] for w in wanted)]
    args.work.mkdir(parents=True, exist_ok=True)
    servers = {}
    try:
        for tag, binary in (("old", args.old), ("new", args.new)):
            ns = argparse.Namespace(stratus=binary, work=args.work)
            url = getattr(args, f"{tag}_db") or drive.fresh_sqlite_url(args.work / f"{tag}.db")
            s = drive.start_stratus(ns, tag, url, args.work / f"{tag}.log")
            drive.store_bench_submission(s.base)
            drive.run_wrk(ns, s.base, "get", "/", 16, 1)
            # Each server's own paths (the download's file id differs).
            paths = {label: path for label, _, path in drive.stratus_routes(s)}
            servers[tag] = (s, ns, drive.csrf_pair(s.base), paths)
        points = {}
        for rnd in range(args.rounds):
            order = ["old", "new"] if rnd % 2 == 0 else ["new", "old"]
            for route, kind, _ in routes:
                for c in args.conns:
                    for tag in order:
                        s, ns, csrf, paths = servers[tag]
                        r = drive.measure_point(ns, s, route, kind, paths[route], c, args.seconds, csrf)
                        points.setdefault(route, {}).setdefault(str(c), {}).setdefault(tag, []).append(r)
            drive.log(f"round {rnd + 1}/{args.rounds} done")
        summary = {}
        print(f"{'route':36} {'c':>3} {'old req/s':>10} {'new req/s':>10} {'new/old':>8} {'old p99':>9} {'new p99':>9} "
              f"{'old CPU us/req':>15} {'new CPU us/req':>15}")
        for route, by_c in points.items():
            for c, by_tag in by_c.items():
                med = {t: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req")}
                       for t, rs in by_tag.items()}
                errors = {t: sum(r["errors"] for r in rs) for t, rs in by_tag.items()}
                ratio = med["new"]["rps"] / med["old"]["rps"] if med["old"]["rps"] else None
                summary.setdefault(route, {})[c] = {"old": med["old"], "new": med["new"], "rps_new_over_old": ratio,
                                                    "errors": errors}
                print(f"{route:36} {c:>3} {med['old']['rps']:10.0f} {med['new']['rps']:10.0f} {ratio:8.2f} "
                      f"{med['old']['p99_ms']:9.2f} {med['new']['p99_ms']:9.2f} "
                      f"{med['old']['server_cpu_us_per_req']:15.1f} {med['new']['server_cpu_us_per_req']:15.1f}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"old": str(args.old), "new": str(args.new), "rounds": args.rounds,
                                        "seconds": args.seconds, "old_db": args.old_db, "new_db": args.new_db, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                        "summary": summary}, indent=1))
    finally:
        for s, *_ in servers.values():
            s.stop()


if __name__ == "__main__":
    main()
