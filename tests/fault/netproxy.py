"""A TCP link the test controls, between an instance and PostgreSQL: clean, bad, or partitioned.

Network namespaces with `tc netem` would need PostgreSQL moved into a namespace of its own; a proxy on
loopback needs nothing but Python and behaves, for the client, like the link it imitates:
- `bad`: every chunk arrives `delay` seconds late in each direction (pipelined, as on a long link), and
  `stall_fraction` of the chunks wait `stall` seconds more, holding up everything behind them as a lost
  TCP segment does until it is retransmitted;
- `partition`: nothing is delivered either way and new connections get no answer (bytes sent meanwhile are
  held, as the kernel's retransmission queue holds them, and delivered when the link heals);
- `clean`: straight through.
Runs its own asyncio loop in a daemon thread; `close()` stops it and cuts every connection.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time


class LinkProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, delay: float = 0.1, stall: float = 0.5,
                 stall_fraction: float = 0.1, seed: int = 20261207):
        self.upstream = (upstream_host, upstream_port)
        self.mode = "clean"
        self.delay = delay
        self.stall = stall
        self.stall_fraction = stall_fraction
        self.random = random.Random(seed)
        self.port = 0
        self.connections = 0
        self.chunks = 0
        self.stalled = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> "LinkProxy":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the link proxy did not start")
        return self

    def set(self, mode: str) -> None:
        assert mode in ("clean", "bad", "partition"), mode
        self.mode = mode

    def close(self) -> None:
        async def shut():
            if self._server:
                self._server.close()
            for w in list(self._writers):
                w.close()
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    # --- internals --------------------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _wait_link(self) -> None:
        while self.mode == "partition":
            await asyncio.sleep(0.02)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(client_w)
        try:
            # A partitioned link answers no SYN: the connection is not opened until it heals.
            await self._wait_link()
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            self._writers.discard(client_w)
            return
        self._writers.add(upstream_w)
        up = asyncio.Queue()
        down = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._read(client_r, up)),
            asyncio.create_task(self._deliver(up, upstream_w)),
            asyncio.create_task(self._read(upstream_r, down)),
            asyncio.create_task(self._deliver(down, client_w)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # One side closed or failed: give queued bytes a moment, then cut both.
        await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        for w in (client_w, upstream_w):
            w.close()
            self._writers.discard(w)

    async def _read(self, reader: asyncio.StreamReader, queue: asyncio.Queue) -> None:
        while True:
            data = await reader.read(65536)
            await queue.put((time.monotonic(), data))
            if not data:
                return

    async def _deliver(self, queue: asyncio.Queue, writer: asyncio.StreamWriter) -> None:
        while True:
            arrived, data = await queue.get()
            await self._wait_link()
            if self.mode == "bad":
                self.chunks += 1
                due = arrived + self.delay
                if self.random.random() < self.stall_fraction:
                    self.stalled += 1
                    due += self.stall
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._wait_link()
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
