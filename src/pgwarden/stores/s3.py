"""``s3://bucket/prefix``: backups in S3 or any S3-compatible service (``backup.endpoint_url``).

Uploads stream: bytes are cut into parts and sent with a multipart upload while pg_dump is
still writing, so a custom-format dump never needs local disk. An object only appears when
the upload completes; ``abort`` (or a crash) leaves no object. Server-side encryption
(``AES256`` or ``aws:kms`` with ``kms_key_id``) applies to every object. Throttling, 5xx and
connection errors are retried with exponential backoff, both by botocore and around each part.
Downloads resume: a body cut mid-way is read on from where it stopped (a ``Range`` request
pinned to the object's ETag), a bounded number of times, then a clear OperationFailed.
"""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, IncompleteReadError
from urllib3.exceptions import HTTPError as URLLib3Error

from pgwarden.config import BackupConfig
from pgwarden.errors import OperationFailed
from pgwarden.redact import redact

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_SIZE = 16 * 1024 * 1024
MAX_IN_FLIGHT = 3
#: Our retries around each call (on top of botocore's own, BOTO_ATTEMPTS per call).
ATTEMPTS = 4
BACKOFF_S = 1.0
BOTO_ATTEMPTS = 3
#: A download cut mid-body is resumed at most this many times in all ...
MAX_RESUMES = 10
#: ... and gives up sooner when this many attempts in a row brought no new byte.
ATTEMPTS_WITHOUT_PROGRESS = ATTEMPTS
#: What a body cut mid-way raises while it is read (botocore wraps most of urllib3's).
CUT_ERRORS = (BotoCoreError, URLLib3Error, http.client.HTTPException, OSError)
MISSING_CODES = ("NoSuchKey", "404")
PAST_THE_END = "pgwarden-past-the-end"
T = TypeVar("T")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return redact(str(exc))


def _describe_cut(exc: Exception) -> str:
    if isinstance(exc, IncompleteReadError):
        return "the connection closed before the end of the body"
    return _describe(exc)


class S3Writer:
    """A streaming multipart upload of one key."""

    def __init__(self, objects: S3Objects, key: str) -> None:
        self.objects = objects
        self.key = key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[Future[dict[str, Any]]] = []
        self.pool: ThreadPoolExecutor | None = None

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= PART_SIZE:
            chunk = bytes(self.buffer[:PART_SIZE])
            del self.buffer[:PART_SIZE]
            self._send_part(chunk)
        return len(data)

    def _send_part(self, chunk: bytes) -> None:
        if self.upload_id is None:
            response = self.objects.call(
                "start the upload of " + self.key,
                lambda: self.objects.client.create_multipart_upload(
                    Bucket=self.objects.bucket, Key=self.objects.full_key(self.key), **self.objects.sse_args()
                ),
            )
            self.upload_id = response["UploadId"]
            self.pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="s3-part")
        assert self.pool is not None
        # Bounded memory: wait for the oldest part when too many are in flight.
        pending = [f for f in self.parts if not f.done()]
        if len(pending) >= MAX_IN_FLIGHT:
            pending[0].result()
        number = len(self.parts) + 1
        upload_id = self.upload_id
        self.parts.append(self.pool.submit(self._upload_part, number, upload_id, chunk))

    def _upload_part(self, number: int, upload_id: str, chunk: bytes) -> dict[str, Any]:
        response = self.objects.call(
            f"upload part {number} of {self.key}",
            lambda: self.objects.client.upload_part(
                Bucket=self.objects.bucket,
                Key=self.objects.full_key(self.key),
                UploadId=upload_id,
                PartNumber=number,
                Body=chunk,
            ),
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def commit(self) -> None:
        if self.upload_id is None:
            body = bytes(self.buffer)
            self.objects.put_bytes(self.key, body)
            return
        if self.buffer:
            self._send_part(bytes(self.buffer))
            self.buffer.clear()
        try:
            parts = [f.result() for f in self.parts]
        except BaseException:
            self.abort()
            raise
        upload_id = self.upload_id
        self.objects.call(
            "complete the upload of " + self.key,
            lambda: self.objects.client.complete_multipart_upload(
                Bucket=self.objects.bucket,
                Key=self.objects.full_key(self.key),
                UploadId=upload_id,
                MultipartUpload={"Parts": cast(Any, parts)},
            ),
        )
        self._shutdown()

    def abort(self) -> None:
        self.buffer.clear()
        for future in self.parts:
            future.cancel()
        self._shutdown()
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            try:
                self.objects.client.abort_multipart_upload(
                    Bucket=self.objects.bucket, Key=self.objects.full_key(self.key), UploadId=upload_id
                )
            except (BotoCoreError, ClientError):
                # Best effort: an unfinished multipart upload is invisible to readers anyway,
                # and a bucket lifecycle rule (AbortIncompleteMultipartUpload) reclaims it.
                pass

    def _shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class S3Reader(io.RawIOBase):
    """One object's bytes; a body cut mid-way is resumed with a Range request, not restarted.

    The resumed request carries ``If-Match`` with the first response's ETag, so the bytes that
    follow are the same object's (a replaced object fails with a clear message instead).
    """

    def __init__(self, objects: S3Objects, key: str, response: dict[str, Any]) -> None:
        super().__init__()
        self.objects = objects
        self.key = key
        self.body = response["Body"]
        self.etag: str | None = response.get("ETag")
        self.size = int(response.get("ContentLength") or 0)
        self.position = 0
        self.resumes = 0
        self._stalled = 0
        self._progress_at_cut = -1

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while True:
            try:
                chunk: bytes = self.body.read(None if size is None or size < 0 else size)
            except CUT_ERRORS as exc:
                self._resume(exc)
                continue
            self.position += len(chunk)
            return chunk

    def _resume(self, exc: Exception) -> None:
        self._stalled = self._stalled + 1 if self.position == self._progress_at_cut else 1
        self._progress_at_cut = self.position
        self.resumes += 1
        where = f"S3 download of {self.key} from {self.objects.uri} was cut"
        if self.resumes > MAX_RESUMES or self._stalled >= ATTEMPTS_WITHOUT_PROGRESS:
            raise OperationFailed(
                f"{where} {self.resumes} times (last at byte {self.position} of {self.size}): {_describe_cut(exc)}",
                hint="check the network path to the S3 endpoint (proxy, timeouts) and run the command again",
            ) from None
        time.sleep(BACKOFF_S * 2 ** (self._stalled - 1))
        self._close_body()
        args = {"Bucket": self.objects.bucket, "Key": self.objects.full_key(self.key),
                "Range": f"bytes={self.position}-"}
        if self.etag:
            args["IfMatch"] = self.etag
        response = self.objects.call(f"read {self.key} on from byte {self.position}", lambda: self._get_rest(args))
        if response is None:
            raise OperationFailed(f"{where} and the object was deleted before it could be read on")
        if response.get(PAST_THE_END):
            # Every byte had arrived and botocore still objected (its CRC check): the bytes
            # were damaged on the way; what the store holds is likely fine.
            raise OperationFailed(
                f"S3 download of {self.key} from {self.objects.uri} arrived damaged: {_describe_cut(exc)}",
                hint="the stored file is likely fine (the transfer was corrupted); run the command again",
            )
        expected = f"bytes {self.position}-"
        if not str(response.get("ContentRange", "")).startswith(expected):
            response["Body"].close()
            raise OperationFailed(f"{where}, and the endpoint did not resume it from byte {self.position} "
                                  f"(Content-Range {response.get('ContentRange')!r})")
        self.body = response["Body"]

    def _get_rest(self, args: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.objects.client.get_object(**args))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in MISSING_CODES:
                return None
            if code == "InvalidRange":
                return {PAST_THE_END: True}
            raise

    def _close_body(self) -> None:
        try:
            self.body.close()
        except CUT_ERRORS:
            pass

    def close(self) -> None:
        if not self.closed:
            self._close_body()
        super().close()


class S3Objects:
    def __init__(self, uri: str, bucket: str, prefix: str, config: BackupConfig) -> None:
        self.uri = uri
        self.bucket = bucket
        self.prefix = prefix
        self.config = config
        session = boto3.session.Session()
        self.client: S3Client = session.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            config=Config(retries={"max_attempts": BOTO_ATTEMPTS, "mode": "standard"}, connect_timeout=10,
                          read_timeout=120),
        )

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def sse_args(self) -> Any:
        args: dict[str, str] = {}
        if self.config.sse:
            args["ServerSideEncryption"] = self.config.sse
            if self.config.sse == "aws:kms" and self.config.kms_key_id:
                args["SSEKMSKeyId"] = self.config.kms_key_id
        return args

    def call(self, what: str, operation: Callable[[], T]) -> T:
        """Run one S3 call, retrying transient failures with exponential backoff."""
        delay = BACKOFF_S
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return operation()
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                code = exc.response.get("Error", {}).get("Code", "")
                transient = status >= 500 or status == 429 or code in ("SlowDown", "RequestTimeout")
                if code == "PreconditionFailed":
                    raise OperationFailed(
                        f"S3 could not {what} in {self.uri}: the object was replaced while it was being read",
                        hint="something else writes to this store's keys; check, then run the command again",
                    ) from None
                if not transient or attempt == ATTEMPTS:
                    raise OperationFailed(f"S3 could not {what} in {self.uri}: {_describe(exc)}") from None
            except BotoCoreError as exc:
                if attempt == ATTEMPTS:
                    raise OperationFailed(
                        f"S3 could not {what} in {self.uri}: {_describe(exc)}",
                        hint="check the credentials (AWS_* variables or role), backup.region and "
                        "backup.endpoint_url",
                    ) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def open_writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

    def get_object(self, what: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """One GetObject (retried like every call); None when the key does not exist."""

        def get() -> dict[str, Any] | None:
            try:
                return cast(dict[str, Any], self.client.get_object(**args))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in MISSING_CODES:
                    return None
                raise

        return self.call(what, get)

    def _reader(self, key: str) -> S3Reader | None:
        response = self.get_object("read " + key, {"Bucket": self.bucket, "Key": self.full_key(key)})
        return None if response is None else S3Reader(self, key, response)

    def open_reader(self, key: str) -> BinaryIO:
        reader = self._reader(key)
        if reader is None:
            raise OperationFailed(f"{key} is missing from {self.uri}")
        return cast(BinaryIO, reader)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.call(
            "write " + key,
            lambda: self.client.put_object(Bucket=self.bucket, Key=self.full_key(key), Body=data,
                                           **self.sse_args()),
        )

    def get_bytes(self, key: str) -> bytes | None:
        reader = self._reader(key)
        if reader is None:
            return None
        with reader:
            return reader.readall()

    def _paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        return self.call("list the backups", lambda: [cast(dict[str, Any], page) for page in
                                                      paginator.paginate(Bucket=self.bucket, **kwargs)])

    def list_dirs(self) -> list[str]:
        base = self.full_key("")
        names: set[str] = set()
        for page in self._paginate(Prefix=base, Delimiter="/"):
            for entry in page.get("CommonPrefixes", []):
                names.add(entry["Prefix"][len(base):].strip("/"))
        return sorted(n for n in names if n)

    def list_keys(self, prefix: str) -> list[tuple[str, int]]:
        base = self.full_key("")
        keys: list[tuple[str, int]] = []
        for page in self._paginate(Prefix=self.full_key(prefix.rstrip("/") + "/")):
            for entry in page.get("Contents", []):
                keys.append((entry["Key"][len(base):], int(entry["Size"])))
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> None:
        keys = [k for k, _ in self.list_keys(prefix)]
        exact = self.full_key(prefix)
        if not keys:
            self.call("delete " + prefix, lambda: self.client.delete_object(Bucket=self.bucket, Key=exact))
            return
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self.full_key(k)} for k in keys[start:start + 1000]]
            self.call(
                "delete " + prefix,
                lambda batch=batch: self.client.delete_objects(  # type: ignore[misc]
                    Bucket=self.bucket, Delete={"Objects": cast(Any, batch), "Quiet": True}
                ),
            )

    def local_path(self, key: str) -> Path | None:
        return None
