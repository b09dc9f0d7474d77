"""A fault-injecting HTTP proxy for an S3 endpoint (moto on 127.0.0.1), for store tests.

Every request is forwarded to the upstream unchanged, unless a :class:`Fault` matches it:

- ``status``: answer with an S3 error document and that status (500 InternalError, 503 SlowDown)
  instead of forwarding;
- ``cut``: forward, send the upstream's status and headers (its true Content-Length) and the
  first ``after`` bytes of the body, then drop the connection, as a broken network does;
- ``truncate``: forward, then send a consistent but short response (Content-Length = ``after``),
  as a middlebox that loses the end of a body would;
- ``corrupt``: forward, with the body's byte at offset ``after`` flipped (a damaged transfer).

A fault matches a method (``GET``, ``PUT|POST``...) and a substring of the request path, skips
the first ``skip`` matching requests and hits the next ``times`` (None: all of them). Every request
is logged (method, path, Range header, what was done), so a test can assert what the client sent.
``on_request`` (optional) runs before each request is answered: a test uses it to change the
world at that moment (replace the object being read, fill a disk). Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

ERROR_CODES = {500: "InternalError", 503: "SlowDown"}


@dataclass
class Fault:
    kind: str  # "status" | "cut" | "truncate" | "corrupt"
    method: str = "GET"
    path: str = ""
    skip: int = 0
    times: int | None = 1
    status: int = 503
    after: int = 0
    seen: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        assert self.kind in ("status", "cut", "truncate", "corrupt"), self.kind

    def take(self, method: str, path: str) -> bool:
        """Whether this request gets the fault (called under the proxy's lock)."""
        if method not in self.method.split("|") or self.path not in path:
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.hits >= self.times):
            return False
        self.hits += 1
        return True


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    action: str  # "forwarded", or the fault's kind


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[Request] = field(default_factory=list)
    on_request: Callable[[Request], None] | None = None
    endpoint: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def add(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()
            self.on_request = None

    def requests(self, method: str, path: str = "") -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.method == method and path in r.path]

    def _decide(self, method: str, path: str, range_header: str | None) -> Fault | None:
        with self.lock:
            fault = next((f for f in self.faults if f.take(method, path)), None)
            request = Request(method, path, range_header, fault.kind if fault else "forwarded")
            self.log.append(request)
            hook = self.on_request
        if hook is not None:
            hook(request)
        return fault

    def __enter__(self) -> FaultProxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy._decide(self.command, self.path, self.headers.get("Range"))
            if fault is not None and fault.kind == "status":
                self._send_error(fault.status)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status, upstream_headers = response.status, response.getheaders()
            finally:
                conn.close()
            declared = len(data)
            if fault is not None and fault.kind == "corrupt":
                if len(data) > fault.after:
                    data = data[: fault.after] + bytes([data[fault.after] ^ 0xFF]) + data[fault.after + 1:]
            elif fault is not None:
                data = data[: fault.after]
                if fault.kind == "truncate":
                    declared = len(data)
            self.send_response(status)
            for key, value in upstream_headers:
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(declared))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            if fault is not None and fault.kind == "cut":
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def _send_error(self, status: int) -> None:
            code = ERROR_CODES.get(status, "InternalError")
            payload = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                       f"<Message>injected {status}</Message></Error>").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler
