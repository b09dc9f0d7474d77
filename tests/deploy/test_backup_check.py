"""deploy re-checks its backup's files in the store before it changes anything (issue 13, item 6).

The manifest's ``verified: true`` says how the files were when it was written. Since then an archive
may have been deleted, truncated or replaced (or the flag hand-edited over a damaged file): deploy
refuses (exit 4) naming the file, and no migration runs. Sizes are always checked;
``backup.verify_before_deploy: checksum`` also reads every file and compares its sha256.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fix_project import archive_path, cli_backup, write_sql_project

MIGRATIONS = {"0001_t": "create table t (id int);\n"}


def _project(tmp_path: Path, *, store: str = "file://./backups", backup_keys: str = "") -> Path:
    """A sql project; ``backup_keys``: more lines of its ``backup:`` section (indented)."""
    write_sql_project(tmp_path, MIGRATIONS, store=store, extra=backup_keys + "deploy:\n  audit_log: audit.jsonl\n")
    return tmp_path


def _refused(result, db, *words: str, table: str = "t") -> None:
    assert result.code == 4, result.output
    for word in words:
        assert word in result.stderr, result.stderr
    assert "nothing was deployed" in result.stderr
    assert "Traceback" not in result.output
    assert db.scalar("select to_regclass(%s)", (table,)) is None  # the migration never ran


def _seed(db) -> None:
    with db.connect() as conn:
        conn.execute("create table customers (id int primary key, email text);"
                     "insert into customers select i, 'u' || i from generate_series(1, 2000) i")


@pytest.mark.parametrize("by_id", [True, False], ids=["--backup-id", "newest"])
def test_deleted_archive_is_refused(db, tmp_path: Path, cli, by_id: bool) -> None:
    _seed(db)
    project = _project(tmp_path)
    manifest = cli_backup(cli, project, db.url)
    archive_path(project, manifest).unlink()
    args = ["--backup-id", manifest["id"]] if by_id else []
    result = cli("deploy", *args, cwd=project, env={"DATABASE_URL": db.url})
    _refused(result, db, manifest["id"], f"{manifest['files'][0]['name']} is missing")


def test_truncated_archive_is_refused(db, tmp_path: Path, cli) -> None:
    _seed(db)
    project = _project(tmp_path)
    manifest = cli_backup(cli, project, db.url)
    archive = archive_path(project, manifest)
    archive.write_bytes(archive.read_bytes()[:100])
    result = cli("deploy", cwd=project, env={"DATABASE_URL": db.url})
    _refused(result, db, "is 100 bytes, the manifest says")


def test_flipped_byte_under_a_hand_edited_verified_flag_is_caught_by_checksum(db, tmp_path: Path, cli) -> None:
    _seed(db)
    project = _project(tmp_path, backup_keys="  verify_before_deploy: checksum\n")
    good = cli_backup(cli, project, db.url)
    first = cli("deploy", "--backup-id", good["id"], cwd=project, env={"DATABASE_URL": db.url})
    assert first.code == 0, first.output
    assert "sizes and sha256 match" in first.stderr
    (project / "migrations" / "0002_u.sql").write_text("create table u (id int);\n")

    manifest = cli_backup(cli, project, db.url)
    archive = archive_path(project, manifest)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    path = archive.parent / "manifest.json"
    edited = json.loads(path.read_text())
    edited.update(verified=True, verification="hand-edited")
    path.write_text(json.dumps(edited))
    result = cli("deploy", "--backup-id", manifest["id"], cwd=project, env={"DATABASE_URL": db.url})
    _refused(result, db, manifest["id"], "checksum mismatch", table="u")


@pytest.fixture(autouse=True)
def _fast_s3_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pgwarden.stores.s3.BACKOFF_S", 0.01)


@pytest.mark.parametrize("fault", ["deleted", "replaced", "replaced-same-size"])
def test_s3_archive_deleted_or_replaced_is_refused(db, tmp_path: Path, cli, s3, fault: str) -> None:
    _seed(db)
    checksum = "  verify_before_deploy: checksum\n" if fault == "replaced-same-size" else ""
    project = _project(tmp_path, store=s3.uri(),
                       backup_keys=f"  endpoint_url: {s3.endpoint}\n  region: us-east-1\n{checksum}")
    manifest = cli_backup(cli, project, db.url)
    key = f"backups/{manifest['id']}/{manifest['files'][0]['name']}"
    client = s3.client()
    if fault == "deleted":
        client.delete_object(Bucket=s3.bucket, Key=key)
        expected = "is missing"
    else:
        body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        if fault == "replaced":
            body = body + b"appended by someone else"
            expected = "the manifest says"
        else:
            body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
            expected = "checksum mismatch"
        client.put_object(Bucket=s3.bucket, Key=key, Body=body)
    result = cli("deploy", cwd=project, env={"DATABASE_URL": db.url})
    _refused(result, db, manifest["id"], expected)


def test_directory_backup_missing_one_file_is_refused(db, tmp_path: Path, cli) -> None:
    _seed(db)
    project = _project(tmp_path)
    made = cli("backup", "--dump-format", "directory", "--format", "json", cwd=project, env={"DATABASE_URL": db.url})
    assert made.code == 0, made.output
    manifest = json.loads(made.stdout)
    data_file = next(f["name"] for f in manifest["files"] if not f["name"].endswith(("toc.dat", "toc.dat.zst")))
    (project / "backups" / manifest["id"] / data_file).unlink()
    result = cli("deploy", cwd=project, env={"DATABASE_URL": db.url})
    _refused(result, db, f"{data_file} is missing")
