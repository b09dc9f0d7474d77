"""The database password never appears in logs, manifests, reports or child-process argv."""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from pgwarden.pg import binaries
from pgwarden.redact import redact
from pgwarden.tools.external import python_tool
from tests.backup.helpers import create_rich, make_shims
from tests.tools.helpers import copy_project


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


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.split("@", 1)
    user = netloc[0].split(":", 1)[0]
    return parts._replace(netloc=f"{user}@{netloc[1]}").geturl()


def test_password_only_in_pgpassword_reaches_every_child(secret_db, tmp_path: Path, cli) -> None:
    """#13 item 11: with the password only in PGPASSWORD (the URL has none), pgwarden's own
    connection, pg_dump, pg_restore/psql and the migration tool all log in; no argv holds it."""
    binaries._probe.cache_clear()
    password = unquote(urlsplit(secret_db.url).password or "")
    url = _without_password(secret_db.url)
    assert password and password not in url
    with secret_db.connect() as conn:
        create_rich(conn)
    log = tmp_path / "argv.log"
    shims = make_shims(tmp_path / "bin", log)
    copy_project("alembic", tmp_path)
    logged_alembic = tmp_path / "bin" / "alembic-logged"
    logged_alembic.write_text(
        "#!/bin/bash\n"
        f'echo "alembic argv: $* | PGPASSWORD=${{PGPASSWORD:+set}}" >> "{log}"\n'
        f'exec {shlex.join(python_tool("alembic"))} "$@"\n'
    )
    logged_alembic.chmod(0o755)
    (tmp_path / "pgwarden.yml").write_text(
        "migrations:\n  tool: alembic\n  path: alembic/alembic.ini\n"
        f"  command: {logged_alembic} -c alembic.ini upgrade head\n"
        "backup:\n  store: file://./backups\nrestore:\n  jobs: 1\n"
    )
    env = {"DATABASE_URL": url, "PGPASSWORD": password, "PGWARDEN_PG_BIN": str(shims)}
    outputs = [
        cli("status", cwd=tmp_path, env=env),
        cli("backup", "--format", "json", cwd=tmp_path, env=env),
        cli("restore", "--backup-id", "latest", "--confirm", secret_db.name, cwd=tmp_path, env=env),
        cli("deploy", "--environment", "staging", cwd=tmp_path, env=env),
    ]
    assert [r.code for r in outputs] == [0, 0, 0, 0], "\n".join(r.output for r in outputs)
    assert all("Traceback" not in r.output and password not in r.output for r in outputs)
    assert secret_db.scalar("select count(*) from billing.invoices") == 5000
    assert secret_db.scalar("select version_num from alembic_version") == "4c5d6e7f8091"
    argv = log.read_text()
    assert "pg_dump argv:" in argv and "pg_restore argv:" in argv and "alembic argv:" in argv
    assert password not in argv
    assert all(line.endswith("PGPASSWORD=set") for line in argv.splitlines()), argv


@pytest.mark.parametrize("route", ["PGPASSFILE", "PGSERVICE"])
def test_backup_logs_in_through_libpq_files(route: str, secret_db, tmp_path: Path, cli) -> None:
    """A password in a password file or a service file: pg_dump and pg_restore find it as
    pgwarden's own connection does (the backup is taken and verified)."""
    binaries._probe.cache_clear()
    parts = urlsplit(secret_db.url)
    password = unquote(parts.password or "")
    env = {"PGPASSWORD": "", "PGWARDEN_PG_BIN": str(make_shims(tmp_path / "bin", tmp_path / "argv.log"))}
    if route == "PGPASSFILE":
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"*:*:{secret_db.name}:{parts.username}:{password}\n")
        passfile.chmod(0o600)
        env |= {"PGPASSFILE": str(passfile), "DATABASE_URL": _without_password(secret_db.url)}
    else:
        host = dict(parse_qsl(parts.query))["host"]
        services = tmp_path / "pg_service.conf"
        services.write_text(f"[app]\nhost={host}\ndbname={secret_db.name}\nuser={parts.username}\n"
                            f"password={password}\n")
        env |= {"PGSERVICEFILE": str(services), "PGSERVICE": "app", "DATABASE_URL": "postgresql://"}
    (tmp_path / "pgwarden.yml").write_text("backup:\n  store: file://./backups\n")
    result = cli("backup", cwd=tmp_path, env=env)
    assert result.code == 0, result.output
    assert "verified" in result.output and "Traceback" not in result.output
    argv = (tmp_path / "argv.log").read_text()
    assert "pg_dump argv: --dbname=" in argv and password not in argv and password not in result.output
    # learnt from the password file (or the service file), it is masked like a URL's password
    assert redact(f"x {password} y") == "x ******** y"
