"""A fault-injecting HTTP proxy in front of the Kinesis emulator (real HTTP, real botocore).

It forwards every request to the upstream emulator, except that a seeded share of ``GetRecords``
calls is answered with ``ProvisionedThroughputExceededException`` or ``ExpiredIteratorException``
exactly as Kinesis would, a seeded share of ``GetShardIterator`` and ``GetRecords`` calls is held
for ``delay`` seconds before it is forwarded (longer than the client's read timeout: a slow call),
and an unreachable upstream (emulator restarting) becomes a 503.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from local.stack.process import free_port

_JSON = "application/x-amz-json-1.1"


class FaultyKinesisProxy:
    def __init__(
        self,
        upstream: str,
        *,
        seed: int,
        throttle: float = 0.0,
        expire: float = 0.0,
        slow: float = 0.0,
        delay: float = 0.0,
        slow_first_iterators: int = 0,
    ) -> None:
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rng = random.Random(seed)
        self.throttle = throttle
        self.expire = expire
        self.slow = slow
        self.delay = delay
        self.slow_first_iterators = slow_first_iterators  # the first N GetShardIterator calls are slow
        self.injected: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultyKinesisProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _delay_for(self, target: str) -> float:
        operation = target.rsplit(".", 1)[-1]
        if operation not in ("GetShardIterator", "GetRecords") or not (self.slow or self.slow_first_iterators):
            return 0.0
        with self.lock:
            first = operation == "GetShardIterator" and self.slow_first_iterators > 0
            if first:
                self.slow_first_iterators -= 1
            elif self.rng.random() >= self.slow:
                return 0.0
            self.injected[f"slow_{operation}"] += 1
            return self.delay

    def _fault_for(self, target: str) -> str | None:
        if not target.endswith(".GetRecords"):
            return None
        with self.lock:
            roll = self.rng.random()
            if roll < self.throttle:
                fault = "ProvisionedThroughputExceededException"
            elif roll < self.throttle + self.expire:
                fault = "ExpiredIteratorException"
            else:
                return None
            self.injected[fault] += 1
            return fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                delay = proxy._delay_for(target)
                if delay:
                    time.sleep(delay)  # the client has given up by now; its retry is a new request
                fault = proxy._fault_for(target)
                if fault:
                    err = json.dumps({"__type": fault, "message": f"injected {fault}"}).encode()
                    self._reply(400, err, {"Content-Type": _JSON})
                    return
                try:
                    conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    conn.request("POST", self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    keep = {k: v for k, v in resp.getheaders() if k.lower() in ("content-type", "x-amzn-requestid")}
                    conn.close()
                except OSError:
                    with proxy.lock:
                        proxy.injected["upstream_unavailable"] += 1
                    self._reply(503, b'{"__type":"ServiceUnavailable"}', {"Content-Type": _JSON})
                    return
                with contextlib.suppress(OSError):  # a client that timed out has closed the connection
                    self._reply(resp.status, data, keep)

        return Handler
