"""The database password never appears in logs, manifests, reports or child-process argv."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from pgwarden.pg import binaries
from tests.backup.helpers import create_rich, make_shims


def test_password_never_leaks(secret_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:
    binaries._probe.cache_clear()
    password = unquote(urlsplit(secret_db.url).password or "")
    assert password.startswith("Pw-")
    with secret_db.connect() as conn:
        create_rich(conn)
    log = tmp_path / "argv.log"
    shims = make_shims(tmp_path / "bin", log)
    (tmp_path / "pgwarden.yml").write_text("backup:\n  store: file://./backups\nrestore:\n  jobs: 1\n")
    env = {"DATABASE_URL": secret_db.url, "PGWARDEN_PG_BIN": str(shims), "PGWARDEN_PROGRESS_INTERVAL": "0.01"}
    outputs = [
        cli("backup", "--format", "json", cwd=tmp_path, env=env),
        cli("backup", "--dump-format", "directory", cwd=tmp_path, env=env),
        cli("restore", "--backup-id", "latest", "--confirm", secret_db.name, "--format", "json", cwd=tmp_path, env=env),
        cli("drill", cwd=tmp_path, env=env),
        cli("backups", "list", cwd=tmp_path, env=env),
        cli("restore", "--backup-id", "latest", "--confirm", "wrong", cwd=tmp_path, env=env),
    ]
    assert [r.code for r in outputs] == [0, 0, 0, 0, 0, 4], [r.output for r in outputs]
    for result in outputs:
        assert password not in result.output
    argv = log.read_text()
    assert "pg_dump argv: --dbname=" in argv and "pg_restore argv:" in argv
    assert password not in argv
    assert "PGPASSWORD=set" in argv  # it travelled through the environment
    for path in (tmp_path / "backups").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes()[:1_000_000] or path.suffix in (".dat", ".zst"), path
        if path.name == "manifest.json":
            assert password not in path.read_text()
