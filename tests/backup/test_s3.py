"""S3 store against a real moto server: streaming multipart upload, SSE, retries, cut uploads, truncation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgwarden.errors import OperationFailed, SafetyRefusal
from pgwarden.pg.connection import DatabaseTarget
from pgwarden.pipeline.backup import take_backup
from pgwarden.pipeline.restore import restore_backup
from pgwarden.stores import open_store
from tests.backup.helpers import create_rich, file_settings, fingerprint
from tests.fault_proxy import Fault


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pgwarden.stores.s3.BACKOFF_S", 0.01)
    monkeypatch.setattr("pgwarden.stores.s3.BOTO_ATTEMPTS", 1)  # count only our own retries
    monkeypatch.setattr("pgwarden.stores.s3.PART_SIZE", 5 * 1024 * 1024)


def _s3_settings(tmp_path: Path, endpoint: str, **extra: object):
    return file_settings(tmp_path, endpoint_url=endpoint, region="us-east-1", **extra)


def _fill(db, rows: int = 150_000) -> None:
    with db.connect() as conn:
        create_rich(conn)
        conn.execute(f"create table noise as select md5(i::text) || md5((i * 7)::text) as h "
                     f"from generate_series(1, {rows}) i")


def test_s3_round_trip_multipart_with_sse(db, tmp_path: Path, s3) -> None:
    _fill(db)
    settings = _s3_settings(tmp_path, s3.endpoint, sse="AES256")
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target, store_uri=s3.uri(), compress="none")
    assert manifest.verified and manifest.size_bytes > 5 * 1024 * 1024  # needed more than one part
    head = s3.client().head_object(Bucket=s3.bucket, Key=f"backups/{manifest.id}/{manifest.files[0].name}")
    assert head["ServerSideEncryption"] == "AES256"
    assert "-" in head["ETag"]  # a multipart ETag: streamed in parts
    store = open_store(s3.uri(), settings)
    assert [m.id for m in store.list_manifests()] == [manifest.id]
    assert store.latest_verified().id == manifest.id
    before = fingerprint(db.url)
    with db.connect() as conn:
        conn.execute("truncate billing.invoices cascade")
    result = restore_backup(settings, target, "latest", store_uri=s3.uri(), confirm=db.name)
    assert result.ok, result.to_json()
    assert fingerprint(db.url) == before


def test_truncated_s3_object_fails_restore_and_leaves_db(db, tmp_path: Path, s3) -> None:
    _fill(db, 2000)
    settings = _s3_settings(tmp_path, s3.endpoint)
    target = DatabaseTarget.from_url(db.url)
    manifest = take_backup(settings, target, store_uri=s3.uri())
    key = f"backups/{manifest.id}/{manifest.files[0].name}"
    client = s3.client()
    body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3.bucket, Key=key, Body=body[: len(body) // 2])
    with db.connect() as conn:
        conn.execute("delete from noise")
    before = fingerprint(db.url)
    with pytest.raises(OperationFailed, match="checksum mismatch") as info:
        restore_backup(settings, target, manifest.id, store_uri=s3.uri(), confirm=db.name)
    assert f"found {len(body) // 2} bytes" in str(info.value)
    assert fingerprint(db.url) == before
    assert db.scalar("select count(*) from noise") == 0


def test_s3_endpoint_failing_first_uploads_is_retried(db, tmp_path: Path, s3_proxy) -> None:
    bucket, proxy = s3_proxy
    failing = proxy.add(Fault("status", method="PUT|POST", status=500, times=2))
    _fill(db, 2000)
    settings = _s3_settings(tmp_path, bucket.endpoint)
    manifest = take_backup(settings, DatabaseTarget.from_url(db.url), store_uri=bucket.uri())
    assert manifest.verified
    assert failing.hits == 2


def test_upload_cut_leaves_no_backup(db, tmp_path: Path, s3_proxy) -> None:
    bucket, proxy = s3_proxy
    # the upload starts, then the endpoint keeps failing
    proxy.add(Fault("status", method="PUT|POST", status=500, skip=1, times=None))
    _fill(db)
    settings = _s3_settings(tmp_path, bucket.endpoint)
    target = DatabaseTarget.from_url(db.url)
    with pytest.raises(OperationFailed, match="S3 could not upload part"):
        take_backup(settings, target, store_uri=bucket.uri(), compress="none")
    store = open_store(bucket.uri(), settings)
    assert store.list_manifests() == []
    keys = bucket.client().list_objects_v2(Bucket=bucket.bucket).get("Contents", [])
    assert keys == []
    with pytest.raises(SafetyRefusal, match="no verified backup"):
        restore_backup(settings, target, "latest", store_uri=bucket.uri(), confirm=db.name)
