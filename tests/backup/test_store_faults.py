"""Stores under real faults: S3 bodies cut mid-way (a proxy in front of moto) and full disks (tmpfs).

Each test drives the CLI and checks what a user would: the exit code, the message, no traceback,
the database exactly as it was (or exactly the backup), and the store's backups intact.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgwarden.stores import s3 as s3_store
from tests.backup.helpers import create_rich, fingerprint, make_shims
from tests.fault_proxy import Fault, FaultProxy, Request
from tests.fix_project import cli_backup

CUT_AT = 20_000


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pgwarden.stores.s3.BACKOFF_S", 0.01)
    monkeypatch.setattr("pgwarden.stores.s3.BOTO_ATTEMPTS", 1)  # count only our own retries


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``small_disk("8m")``: a real tmpfs of that size (root only), unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("a full disk is simulated with a small tmpfs, which needs root (mount -t tmpfs)")
        point = tmp_path / f"disk-{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(point)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Write zeros into ``folder`` until its filesystem is full (a real ENOSPC for everyone), then
    give back ``leave`` bytes; returns the filler file."""
    filler = folder / f"filler-{uuid.uuid4().hex[:6]}"
    with open(filler, "wb", buffering=0) as out:
        for block in (b"\0" * 65536, b"\0" * 512):
            try:
                while True:
                    out.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _s3_project(tmp_path: Path, endpoint: str, bucket: str) -> Path:
    (tmp_path / "pgwarden.yml").write_text(
        f"backup:\n  store: s3://{bucket}/backups\n  endpoint_url: {endpoint}\n  region: us-east-1\n"
    )
    return tmp_path


def _s3_backup(db, tmp_path: Path, cli, bucket) -> tuple[Path, dict]:
    """The rich test data in ``db``, backed up (through the proxy) into an S3 project in ``tmp_path``."""
    with db.connect() as conn:
        create_rich(conn)
    project = _s3_project(tmp_path, bucket.endpoint, bucket.bucket)
    return project, cli_backup(cli, project, db.url)


def _restore(cli, project: Path, manifest: dict, db):
    return cli("restore", "--backup-id", manifest["id"], "--confirm", db.name, cwd=project,
               env={"DATABASE_URL": db.url})


def _archive_gets(proxy: FaultProxy, manifest: dict) -> list[Request]:
    return proxy.requests("GET", manifest["files"][0]["name"])


def test_restore_resumes_a_download_cut_mid_body(db, tmp_path: Path, cli, s3_proxy) -> None:
    bucket, proxy = s3_proxy
    project, manifest = _s3_backup(db, tmp_path, cli, bucket)
    expected = fingerprint(db.url)
    assert manifest["size_bytes"] > 3 * CUT_AT
    with db.connect() as conn:
        conn.execute("delete from billing.invoices where id > 100")
    proxy.clear()
    proxy.add(Fault("cut", path=manifest["files"][0]["name"], after=CUT_AT, times=2))

    result = _restore(cli, project, manifest, db)

    assert result.code == 0, result.output
    assert fingerprint(db.url) == expected
    # read on from where each cut stopped, not from the start
    assert [r.range for r in _archive_gets(proxy, manifest)] == [None, f"bytes={CUT_AT}-", f"bytes={2 * CUT_AT}-"]


@pytest.mark.parametrize("after", [0, 2_000], ids=["no-byte-each-time", "some-bytes-each-time"])
def test_restore_gives_up_on_a_download_that_keeps_being_cut(db, tmp_path: Path, cli, s3_proxy, after: int) -> None:
    bucket, proxy = s3_proxy
    project, manifest = _s3_backup(db, tmp_path, cli, bucket)
    assert manifest["size_bytes"] > (s3_store.MAX_RESUMES + 1) * after
    with db.connect() as conn:
        conn.execute("delete from billing.invoices where id > 100")
    before = fingerprint(db.url)
    proxy.clear()
    proxy.add(Fault("cut", path=manifest["files"][0]["name"], after=after, times=None))

    result = _restore(cli, project, manifest, db)

    assert result.code == 1, result.output
    assert "Traceback" not in result.output and "IncompleteRead" not in result.output
    assert f"S3 download of {manifest['id']}/{manifest['files'][0]['name']} from s3://" in result.stderr
    assert "was cut" in result.stderr and "check the network path" in result.stderr
    assert fingerprint(db.url) == before
    gets = len(_archive_gets(proxy, manifest))
    # bounded: a few tries without progress, or MAX_RESUMES resumes that each got somewhere
    assert gets == (s3_store.ATTEMPTS_WITHOUT_PROGRESS if after == 0 else s3_store.MAX_RESUMES + 1)


def test_backup_verification_resumes_a_cut_download_and_reports_one_that_stays_cut(
    db, tmp_path: Path, cli, s3_proxy
) -> None:
    bucket, proxy = s3_proxy
    with db.connect() as conn:
        create_rich(conn)
    project = _s3_project(tmp_path, bucket.endpoint, bucket.bucket)
    proxy.add(Fault("cut", path=".dump", after=CUT_AT, times=1))
    first = cli_backup(cli, project, db.url)
    assert first["verified"]
    assert [r.range for r in proxy.requests("GET", ".dump")] == [None, f"bytes={CUT_AT}-"]

    proxy.clear()
    proxy.add(Fault("cut", path=".dump", after=0, times=None))
    made = cli("backup", cwd=project, env={"DATABASE_URL": db.url})
    assert made.code == 1, made.output
    assert "Traceback" not in made.output
    assert "did not verify and is marked unverified" in made.stderr and "was cut" in made.stderr

    proxy.clear()
    listed = json.loads(cli("backups", "list", "--format", "json", cwd=project).stdout)
    assert [(b["id"] == first["id"], b["verified"]) for b in listed["backups"]] == [(False, False), (True, True)]
    assert listed["latest_verified"] == first["id"]


def test_listing_survives_503s_and_a_cut_manifest(db, tmp_path: Path, cli, s3_proxy) -> None:
    bucket, proxy = s3_proxy
    with db.connect() as conn:
        conn.execute("create table t as select 1 as x")
    project = _s3_project(tmp_path, bucket.endpoint, bucket.bucket)
    manifest = cli_backup(cli, project, db.url)
    proxy.clear()
    throttled = proxy.add(Fault("status", path="list-type=2", status=503, times=2))
    cut = proxy.add(Fault("cut", path="manifest.json", after=10, times=1))

    listed = cli("backups", "list", "--format", "json", cwd=project)

    assert listed.code == 0, listed.output
    assert [b["id"] for b in json.loads(listed.stdout)["backups"]] == [manifest["id"]]
    assert throttled.hits == 2 and cut.hits == 1


def test_body_cut_short_in_transit_is_not_called_a_damaged_backup(db, tmp_path: Path, cli, s3_proxy) -> None:
    bucket, proxy = s3_proxy
    project, manifest = _s3_backup(db, tmp_path, cli, bucket)
    with db.connect() as conn:
        conn.execute("delete from billing.invoices where id > 100")
    before = fingerprint(db.url)
    proxy.clear()
    # a consistent but short answer (Content-Length included): nothing in HTTP tells it from the object
    proxy.add(Fault("truncate", path=manifest["files"][0]["name"], after=CUT_AT, times=None))

    result = _restore(cli, project, manifest, db)

    assert result.code == 1, result.output
    assert "Traceback" not in result.output and "damaged" not in result.stderr
    # botocore's CRC check finds the first answer short and pgwarden reads on once, getting short again
    assert f"came up short: {2 * CUT_AT} of its {manifest['files'][0]['size']} bytes arrived" in result.stderr
    assert "run the command again" in result.stderr
    assert fingerprint(db.url) == before


def test_body_damaged_in_transit_is_not_called_a_damaged_backup(db, tmp_path: Path, cli, s3_proxy) -> None:
    bucket, proxy = s3_proxy
    project, manifest = _s3_backup(db, tmp_path, cli, bucket)
    before = fingerprint(db.url)
    proxy.clear()
    proxy.add(Fault("corrupt", path=manifest["files"][0]["name"], after=CUT_AT, times=None))

    result = _restore(cli, project, manifest, db)

    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert "arrived damaged" in result.stderr and "the stored file is likely fine" in result.stderr
    assert fingerprint(db.url) == before


def test_object_replaced_between_two_pieces_of_a_download_is_refused(db, tmp_path: Path, cli, s3_proxy) -> None:
    bucket, proxy = s3_proxy
    project, manifest = _s3_backup(db, tmp_path, cli, bucket)
    before = fingerprint(db.url)
    key = f"backups/{manifest['id']}/{manifest['files'][0]['name']}"
    proxy.clear()
    proxy.add(Fault("cut", path=manifest["files"][0]["name"], after=CUT_AT, times=1))
    client = bucket.client()

    def replace_before_resume(request: Request) -> None:
        if request.range is not None:
            body = client.get_object(Bucket=bucket.bucket, Key=key)["Body"].read()
            client.put_object(Bucket=bucket.bucket, Key=key, Body=body[:CUT_AT] + b"x" + body[CUT_AT + 1:])

    proxy.on_request = replace_before_resume
    result = _restore(cli, project, manifest, db)

    assert result.code == 1, result.output
    assert "replaced while it was being read" in result.stderr and "Traceback" not in result.output
    assert fingerprint(db.url) == before


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_disk_full_exactly_at_the_manifest(db, tmp_path: Path, cli, small_disk) -> None:
    with db.connect() as conn:
        create_rich(conn)
    disk = small_disk("16m")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pgwarden.yml").write_text(f"backup:\n  store: file://{disk}/backups\n")
    first = cli_backup(cli, project, db.url)
    # pg_restore --list runs while the backup verifies: after the archive is stored, before the
    # manifest is written; the shim fills the disk at that moment.
    shims = make_shims(tmp_path / "bin", tmp_path / "argv.log",
                       {"pg_restore": f'dd if=/dev/zero of="{disk}/filler" bs=64k 2>/dev/null\nexec "$REAL" "$@"'})

    made = cli("backup", cwd=project, env={"DATABASE_URL": db.url, "PGWARDEN_PG_BIN": str(shims)})

    assert made.code == 1, made.output
    assert "Traceback" not in made.output
    assert "was not completed" in made.stderr and "No space left on device" in made.stderr
    assert list(disk.rglob("*.part")) == []
    (disk / "filler").unlink()
    listed = json.loads(cli("backups", "list", "--format", "json", cwd=project).stdout)
    assert [b["id"] for b in listed["backups"]] == [first["id"]] and listed["latest_verified"] == first["id"]
    (incomplete,) = listed["incomplete"]
    assert not (disk / "backups" / incomplete / "manifest.json").exists()
    for file in first["files"]:
        assert _sha256(disk / "backups" / first["id"] / file["name"]) == file["sha256"]


def test_disk_full_in_the_middle_of_the_archive(db, tmp_path: Path, cli, small_disk) -> None:
    with db.connect() as conn:
        create_rich(conn)
    disk = small_disk("16m")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pgwarden.yml").write_text(f"backup:\n  store: file://{disk}/backups\n")
    first = cli_backup(cli, project, db.url)
    fill(disk, leave=first["size_bytes"] // 2)  # room for half an archive

    made = cli("backup", cwd=project, env={"DATABASE_URL": db.url})

    assert made.code == 1, made.output
    assert "Traceback" not in made.output and "No space left on device" in made.stderr
    assert list(disk.rglob("*.part")) == []
    listed = json.loads(cli("backups", "list", "--format", "json", cwd=project).stdout)
    assert [b["id"] for b in listed["backups"]] == [first["id"]] and listed["latest_verified"] == first["id"]


def test_scratch_disk_full_during_the_restore_download(db, tmp_path: Path, cli, s3_proxy, small_disk) -> None:
    bucket, proxy = s3_proxy
    project, manifest = _s3_backup(db, tmp_path, cli, bucket)
    with db.connect() as conn:
        conn.execute("delete from billing.invoices where id > 100")
    before = fingerprint(db.url)
    scratch = small_disk("8m")
    proxy.clear()

    def fill_when_the_archive_is_read(request: Request) -> None:
        if request.method == "GET" and manifest["files"][0]["name"] in request.path:
            fill(scratch)

    proxy.on_request = fill_when_the_archive_is_read
    result = cli("restore", "--backup-id", manifest["id"], "--confirm", db.name, cwd=project,
                 env={"DATABASE_URL": db.url, "PGWARDEN_TMPDIR": str(scratch)})

    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert f"pgwarden restore: writing the scratch copy of backup {manifest['id']}" in result.stderr  # not "reading"
    assert "No space left on device" in result.stderr and "the database was not touched" in result.stderr
    assert fingerprint(db.url) == before
    assert [p.name for p in scratch.iterdir()] == [p.name for p in scratch.glob("filler-*")]  # scratch removed


def test_archive_replaced_by_a_folder_fails_cleanly(db, tmp_path: Path, cli) -> None:
    with db.connect() as conn:
        create_rich(conn)
    (tmp_path / "pgwarden.yml").write_text("backup:\n  store: file://./backups\n")
    manifest = cli_backup(cli, tmp_path, db.url)
    archive = tmp_path / "backups" / manifest["id"] / manifest["files"][0]["name"]
    archive.unlink()
    archive.mkdir()  # a botched copy: a folder where the file was
    before = fingerprint(db.url)

    result = cli("restore", "--backup-id", manifest["id"], "--confirm", db.name, cwd=tmp_path,
                 env={"DATABASE_URL": db.url})

    assert result.code == 1, result.output
    assert "Traceback" not in result.output and f"cannot read {archive}" in result.stderr
    assert fingerprint(db.url) == before
