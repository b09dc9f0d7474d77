"""A real S3 (and RDS) endpoint for tests: moto's server on 127.0.0.1, reached through boto3.

- ``moto_endpoint``: one ThreadedMotoServer per session on a random port.
- ``s3``: dummy AWS credentials in the environment and a fresh bucket per test.
- ``flaky_s3``: a tiny HTTP proxy in front of moto that answers 500 to the first N upload
  requests (or to every upload after the first N), to test retries and cut uploads.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class S3Bucket:
    endpoint: str
    bucket: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def uri(self, prefix: str = "backups") -> str:
        return f"s3://{self.bucket}/{prefix}"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in DUMMY_AWS.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def s3(moto_endpoint: str, aws_env: None) -> S3Bucket:
    bucket = "pgw-" + uuid.uuid4().hex[:12]
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return S3Bucket(moto_endpoint, bucket)


@dataclass
class FlakyProxy:
    """Forwards to moto; answers 500 to upload requests according to the plan."""

    upstream: str
    fail_first: int = 0
    fail_after: int | None = None
    uploads_seen: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    endpoint: str = ""

    def should_fail(self, method: str) -> bool:
        if method not in ("PUT", "POST"):
            return False
        with self.lock:
            self.uploads_seen += 1
            n = self.uploads_seen
            fail = n <= self.fail_first or (self.fail_after is not None and n > self.fail_after)
            if fail:
                self.failures += 1
            return fail


def _handler(proxy: FlakyProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command in ("PUT", "POST") and not self.path.startswith("/?") and proxy.should_fail(self.command):
                payload = (b"<?xml version='1.0'?><Error><Code>InternalError</Code>"
                           b"<Message>injected failure</Message></Error>")
                self.send_response(500)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


@pytest.fixture
def flaky_s3(s3: S3Bucket) -> Iterator[tuple[S3Bucket, FlakyProxy]]:
    proxy = FlakyProxy(upstream=s3.endpoint)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield S3Bucket(proxy.endpoint, s3.bucket), proxy
    finally:
        server.shutdown()
        server.server_close()
