#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: repeatable whatever else the machine is doing.

    python3 bench/instructions.py BINARY [BINARY...] [--routes "/health,/api/v1/submissions/latest,/"]
        [--requests 4000] [--connections 4] [--keep DIR]

For each binary and route: starts the binary under `valgrind --tool=callgrind` on a fresh SQLite file
(loopback, a free port), stores one submission and one 64 KiB file, sends 200 warm-up requests, zeroes the
counters, sends `--requests` requests over `--connections` keep-alive connections, and dumps the counters.
Prints the instructions per request (every thread of the process, user space only: the kernel's share is
not counted) and the ratio of each binary to the first. `--keep DIR` keeps the callgrind files for
`callgrind_annotate --inclusive=yes FILE`.

`/files` in a route stands for the stored file's content (`/api/v1/files/ID/content`). Routes that write
(`GET /` counts a visit) are less repeatable: their batches depend on timing, which valgrind changes.
Every loop is bounded: a fixed number of requests, and each wait has a deadline.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import drive as bench  # noqa: E402


def drive(port, path, count, connections):
    """`count` GETs of `path`, spread over keep-alive connections; raises on anything but a full answer."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    errors = []

    def worker(n):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                reader = s.makefile("rb")
                for _ in range(n):
                    s.sendall(request)
                    status = reader.readline()
                    if not status.startswith(b"HTTP/1.1 2"):
                        raise RuntimeError(f"{path}: {status!r}")
                    length = 0
                    while (line := reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    reader.read(length)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    share = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
    threads = [threading.Thread(target=worker, args=(n,)) for n in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    if errors:
        raise errors[0]


def total_instructions(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def answers(url):
    """Whether `url` answers 200 (a server still starting refuses the connection)."""
    try:
        return bench.http(url, timeout=1.0)[0] == 200
    except OSError:
        return False


def measure(binary, route, args, keep):
    work = Path(tempfile.mkdtemp(prefix="stratus-instr-"))
    port = bench.freeport()
    out = work / "callgrind.out"
    env = dict(os.environ, STRATUS_LISTEN=f"127.0.0.1:{port}", DATABASE_URL=f"sqlite://{work}/db.sqlite",
               STRATUS_FILES_URL=f"file://{work}/files", STRATUS_INSTANCE_METADATA="hostname",
               STRATUS_DRAIN_SECONDS="0", RUST_LOG=os.environ.get("RUST_LOG", "info"))
    log = open(work / "server.log", "wb")
    server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary), "serve"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not answers(base + "/health/live"):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"{binary} did not start; see {work / 'server.log'}")
            time.sleep(0.2)
        bench.store_bench_submission(base)
        path = f"/api/v1/files/{bench.upload_bench_file(base, binary.name)}/content" if route == "/files" else route
        drive(port, path, 200, args.connections)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True, timeout=60)
        drive(port, path, args.requests, args.connections)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True, timeout=60)
        dump = Path(f"{out}.1")
        count = total_instructions(dump)
        if keep:
            name = f"{Path(binary).name}{route.replace('/', '_') or '_root'}.callgrind"
            shutil.copy(dump, keep / name)
        return count / args.requests
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", type=Path)
    parser.add_argument("--routes", default="/health,/api/v1/submissions/latest,/files")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench/instructions.py needs valgrind (Debian: apt-get install valgrind)")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    print(f"{'route':34} " + " ".join(f"{b.name[:14]:>14}" for b in args.binaries) + "   ratio to the first")
    for route in routes:
        counts = [measure(b.resolve(), route, args, args.keep) for b in args.binaries]
        ratios = " ".join(f"{c / counts[0]:.3f}" for c in counts[1:])
        print(f"{route:34} " + " ".join(f"{c:14,.0f}" for c in counts) + f"   {ratios}", flush=True)


if __name__ == "__main__":
    main()
