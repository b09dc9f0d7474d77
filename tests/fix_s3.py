"""A real S3 (and RDS) endpoint for tests: moto's server on 127.0.0.1, reached through boto3.

- ``moto_endpoint``: one ThreadedMotoServer per session on a random port.
- ``s3``: dummy AWS credentials in the environment and a fresh bucket per test.
- ``s3_proxy``: the same bucket through ``tests/fault_proxy.FaultProxy``, which injects 5xx
  answers, connections cut mid-body and truncated bodies into chosen requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.fault_proxy import FaultProxy

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


@pytest.fixture
def s3_proxy(s3: S3Bucket) -> Iterator[tuple[S3Bucket, FaultProxy]]:
    """The test's bucket reached through a :class:`FaultProxy` (no faults until the test adds some)."""
    with FaultProxy(upstream=s3.endpoint) as proxy:
        yield S3Bucket(proxy.endpoint, s3.bucket), proxy
