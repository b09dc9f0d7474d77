"""Directory-format backup with parallel pg_dump into S3 (moto), restored into a new database."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backup.helpers import create_rich, fingerprint


def test_directory_format_round_trip_through_s3(db, tmp_path: Path, cli, s3) -> None:
    with db.connect() as conn:
        create_rich(conn)
    before = fingerprint(db.url)
    (tmp_path / "pgwarden.yml").write_text(
        f"backup:\n  store: file://./unused\n  endpoint_url: {s3.endpoint}\n  region: us-east-1\n"
    )
    env = {"DATABASE_URL": db.url}
    store = s3.uri("prod/db")

    made = cli("backup", "--dump-format", "directory", "--jobs", "2", "--store", store, "--format", "json",
               cwd=tmp_path, env=env)
    assert made.code == 0, made.output
    manifest = json.loads(made.stdout)
    assert manifest["verified"] and manifest["format"] == "directory" and manifest["store"] == store
    assert manifest["tables"] == {"billing.invoices": 5000, "public.customers": 3000}
    # one S3 object per file of the dump folder (toc.dat + one per table data), plus the manifest
    keys = sorted(o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"])
    prefix = f"prod/db/{manifest['id']}/"
    assert keys == sorted([prefix + "manifest.json"] + [prefix + f["name"] for f in manifest["files"]])
    names = [f["name"] for f in manifest["files"]]
    assert any(name.split("/")[-1].startswith("toc.dat") for name in names) and len(names) >= 3
    assert not (tmp_path / "unused").exists()

    new_db = f"{db.name}_dir"
    try:
        restored = cli("restore", "--backup-id", "latest", "--into", new_db, "--store", store, "--format", "json",
                       cwd=tmp_path, env=env)
        assert restored.code == 0, restored.output
        report = json.loads(restored.stdout)
        assert report["ok"] and report["backup_id"] == manifest["id"] and report["database"] == new_db
        assert report["rows"]["billing.invoices"] == {"expected": 5000, "actual": 5000, "exact": True}
        assert fingerprint(db.server.url_for(new_db)) == before
        assert fingerprint(db.url) == before  # the source was only read
    finally:
        with db.server.admin() as admin:
            admin.execute(f'drop database if exists "{new_db}" with (force)')
