"""An HTTP proxy in front of moto that makes DynamoDB and S3 fail the ways AWS does, on the test's say.

The instance's AWS_ENDPOINT_URL points here; every request is forwarded to moto unless a fault takes it:
- `throttle`: this share of DynamoDB calls is answered 400 `ProvisionedThroughputExceededException`, and of
  S3 calls 503 `SlowDown`, without reaching moto (AWS refused the call: retrying it is safe);
- `lost_answer`: this share of DynamoDB calls reaches moto (the write is made) and is then answered 500
  `InternalServerError`: the answer is lost, so a blind retry of `UpdateItem ADD` would count twice;
- `error_500`: this share of S3 calls is answered 500 `InternalError` without reaching moto;
- `reset_upload`: this share of S3 uploads (PutObject, UploadPart) is cut mid-body: the proxy reads part of
  the bytes, then resets the connection;
- `latency`: seconds added before each request is forwarded;
- `block`: operations (`TransactWriteItems`, `DeleteObjects`, ...) answered 500 every time, without reaching moto.
What it did is counted in `counts` ((service, operation, outcome) -> n), and the increments of `ADD`
calls whose answer was lost are summed in `lost_add` (they were counted by moto, their caller got an error),
those that moto was slow to apply in `slow_add` (their caller may have timed out first).
"""

from __future__ import annotations

import http.client
import http.server
import json
import random
import socket
import struct
import threading
import time
from collections import Counter


class FaultyAws:
    def __init__(self, upstream_port: int, seed: int = 20261207):
        self.upstream_port = upstream_port
        self.throttle = 0.0
        self.lost_answer = 0.0
        self.error_500 = 0.0
        self.reset_upload = 0.0
        self.latency = 0.0
        self.block: set[str] = set()
        self.counts: Counter = Counter()
        self.lost_add = 0
        # An ADD that moto took longer than this to apply may have outlived its SDK attempt's timeout (the
        # caller then answered its views 503 although they were counted): summed in `slow_add`.
        self.slow_after = 1.0
        self.slow_add = 0
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                proxy.handle(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._local = threading.local()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FaultyAws":
        self._thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def faults(self, **settings) -> None:
        for name in ("throttle", "lost_answer", "error_500", "reset_upload", "latency"):
            setattr(self, name, float(settings.get(name, 0.0)))

    def _roll(self, share: float) -> bool:
        with self.lock:
            return share > 0 and self.random.random() < share

    def _count(self, key) -> None:
        with self.lock:
            self.counts[key] += 1

    # --- one request --------------------------------------------------------------------------------------
    def handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        target = h.headers.get("X-Amz-Target", "")
        service = "dynamodb" if target.startswith("DynamoDB_") else "s3"
        if service == "dynamodb":
            op = target.split(".", 1)[1]
        else:
            query = h.path.partition("?")[2]
            if h.command == "PUT" and "partNumber=" in query:
                op = "UploadPart"
            elif h.command == "PUT":
                op = "PutObject"
            elif h.command == "DELETE":
                op = "AbortMultipartUpload" if "uploadId=" in query else "DeleteObject"
            elif h.command == "POST" and query.startswith("delete"):
                op = "DeleteObjects"
            elif h.command == "POST" and query.startswith("uploads"):
                op = "CreateMultipartUpload"
            elif h.command == "POST" and "uploadId=" in query:
                op = "CompleteMultipartUpload"
            else:
                op = f"{h.command} {'?' + query.split('=')[0] if query else ''}".strip()
        length = int(h.headers.get("Content-Length") or 0)
        upload = service == "s3" and op in ("PutObject", "UploadPart") and length > 0
        if upload and self._roll(self.reset_upload):
            # Half the body, then a reset (RST, not FIN): the client sees its upload cut.
            h.rfile.read(max(1, length // 2))
            self._count((service, op, "reset"))
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            h.connection.close()
            return
        body = h.rfile.read(length) if length else b""
        if op in self.block:
            self._count((service, op, "blocked"))
            if service == "dynamodb":
                self._reply(h, 500, "application/x-amz-json-1.0", json.dumps({
                    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "Internal server error"}).encode())
            else:
                self._reply(h, 500, "application/xml", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
                            b"InternalError</Code><Message>We encountered an internal error.</Message></Error>")
            return
        if self.latency:
            time.sleep(self.latency)
        if self._roll(self.throttle):
            self._count((service, op, "throttled"))
            if service == "dynamodb":
                self._reply(h, 400, "application/x-amz-json-1.0", json.dumps({
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput for the table was exceeded."}).encode())
            else:
                self._reply(h, 503, "application/xml", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown"
                            b"</Code><Message>Please reduce your request rate.</Message></Error>")
            return
        if service == "s3" and self._roll(self.error_500):
            self._count((service, op, "500"))
            self._reply(h, 500, "application/xml", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError"
                        b"</Code><Message>We encountered an internal error. Please try again.</Message></Error>")
            return
        lose = service == "dynamodb" and self._roll(self.lost_answer)
        forwarded = time.monotonic()
        try:
            status, headers, payload = self._forward(h, body)
        except (OSError, http.client.HTTPException):
            self._count((service, op, "upstream-failed"))
            self._reply(h, 502, "text/plain", b"moto did not answer")
            return
        slow = time.monotonic() - forwarded > self.slow_after
        if op == "UpdateItem" and b"ADD" in body and (lose or slow):
            try:
                values = json.loads(body).get("ExpressionAttributeValues", {})
                added = sum(int(v["N"]) for v in values.values() if "N" in v)
            except (ValueError, KeyError, TypeError):
                added = 0
            with self.lock:
                if lose:
                    self.lost_add += added
                else:
                    self.slow_add += added
        if lose:
            self._count((service, op, "answer-lost"))
            self._reply(h, 500, "application/x-amz-json-1.0", json.dumps({
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "Internal server error"}).encode())
            return
        self._count((service, op, str(status)))
        h.send_response(status)
        for name, value in headers:
            if name.lower() not in ("connection", "transfer-encoding", "keep-alive", "content-length", "server", "date"):
                h.send_header(name, value)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(payload)

    def _forward(self, h, body: bytes):
        conn = getattr(self._local, "conn", None)
        for attempt in (1, 2):
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
                self._local.conn = conn
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "keep-alive")}
            try:
                conn.request(h.command, h.path, body=body, headers=headers)
                reply = conn.getresponse()
                payload = reply.read()
                return reply.status, reply.getheaders(), payload
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = None
                self._local.conn = None
                if attempt == 2:
                    raise
        raise OSError("unreachable")

    @staticmethod
    def _reply(h, status: int, content_type: str, payload: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
