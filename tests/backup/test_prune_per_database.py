"""``backups prune`` keeps, per database, the newest backup that still checks out (issue 13, item 7).

It does not trust the ``verified`` flag alone: a verified backup whose archive is gone or of another
size (or, with ``backup.verify_before_deploy: checksum``, whose bytes no longer match) is damaged, is
not counted in ``keep_last``, and never protects itself as "the newest good one". And retention is
per database: one database's only backup is not deleted because another database's are newer.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pgwarden.manifest import BackupManifest, by_database, decide_prune, new_backup_id
from tests.fix_project import archive_path, cli_backup

KEEP_ONE = "backup:\n  store: file://./backups\n  retention: {days: 0, keep_last: 1}\n"


def _seed(db) -> None:
    with db.connect() as conn:
        conn.execute("create table items (id int primary key, note text);"
                     "insert into items select i, md5(i::text) from generate_series(1, 3000) i")


def test_prune_keeps_the_good_backup_when_the_newest_is_truncated(db, tmp_path: Path, cli) -> None:
    _seed(db)
    (tmp_path / "pgwarden.yml").write_text(KEEP_ONE)
    oldest, good, newest = (cli_backup(cli, tmp_path, db.url) for _ in range(3))
    archive = archive_path(tmp_path, newest)
    archive.write_bytes(archive.read_bytes()[:100])  # the manifest still says verified: true

    pruned = cli("backups", "prune", "--format", "json", cwd=tmp_path)
    assert pruned.code == 0, pruned.output
    report = json.loads(pruned.stdout)
    assert report["kept"] == [good["id"]]
    assert sorted(report["deleted"]) == sorted([oldest["id"], newest["id"]])
    assert "is 100 bytes" in report["damaged"][newest["id"]]
    assert "damaged" in report["reasons"][newest["id"]] and "never pruned" in report["reasons"][good["id"]]
    assert "Traceback" not in pruned.output

    # What was kept really restores.
    restored = cli("restore", "--backup-id", "latest", "--into", db.name + "_r", cwd=tmp_path,
                   env={"DATABASE_URL": db.url})
    try:
        assert restored.code == 0, restored.output
        assert good["id"] in restored.stdout
    finally:
        with db.server.admin() as conn:
            conn.execute(f'drop database if exists "{db.name}_r" with (force)')


def test_prune_checks_sha256_of_what_it_keeps_when_configured(db, tmp_path: Path, cli) -> None:
    _seed(db)
    (tmp_path / "pgwarden.yml").write_text(KEEP_ONE + "  verify_before_deploy: checksum\n")
    good, flipped = (cli_backup(cli, tmp_path, db.url) for _ in range(2))
    archive = archive_path(tmp_path, flipped)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the checksum sees it
    archive.write_bytes(bytes(data))
    pruned = cli("backups", "prune", "--format", "json", cwd=tmp_path)
    report = json.loads(pruned.stdout)
    assert report["kept"] == [good["id"]] and report["deleted"] == [flipped["id"]]
    assert "checksum mismatch" in report["damaged"][flipped["id"]]


def test_prune_is_per_database(db, other_db, tmp_path: Path, cli) -> None:
    _seed(db)
    _seed(other_db)
    (tmp_path / "pgwarden.yml").write_text(KEEP_ONE)
    only = cli_backup(cli, tmp_path, db.url)
    older, newer = (cli_backup(cli, tmp_path, other_db.url) for _ in range(2))
    pruned = cli("backups", "prune", "--format", "json", cwd=tmp_path)
    assert pruned.code == 0, pruned.output
    report = json.loads(pruned.stdout)
    assert sorted(report["kept"]) == sorted([only["id"], newer["id"]])
    assert report["deleted"] == [older["id"]]
    assert db.name in report["reasons"][only["id"]]
    assert (tmp_path / "backups" / only["id"] / "manifest.json").exists()


NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def _manifest(days_old: float, *, database: str = "shop", server: str | None = "1", verified: bool = True
              ) -> BackupManifest:
    moment = NOW - dt.timedelta(days=days_old)
    return BackupManifest(id=new_backup_id(moment), created_at=moment.isoformat(), database=database,
                          server_version="18.1", pg_dump_version="18.1", format="custom", compression="zstd",
                          verified=verified, system_identifier=server)


def test_decide_prune_groups_by_name_and_server() -> None:
    # The same name on two servers: two databases, each keeps its newest.
    here, there = _manifest(5, server="1"), _manifest(1, server="2")
    decision = decide_prune([here, there], [], days=0, keep_last=1, now=NOW)
    assert sorted(decision.keep) == sorted([here.id, there.id])
    # A manifest written before servers were recorded belongs to the only known server of its name.
    old = _manifest(9, server=None)
    assert len(by_database([old, here])) == 1
    decision = decide_prune([old, here], [], days=0, keep_last=1, now=NOW)
    assert decision.keep == [here.id] and decision.delete == [old.id]
    # ... and is its own when the name has two servers: never deleted as someone else's extra copy.
    decision = decide_prune([old, here, there], [], days=0, keep_last=1, now=NOW)
    assert sorted(decision.keep) == sorted([old.id, here.id, there.id])


def test_unverified_and_damaged_backups_do_not_count_in_keep_last() -> None:
    good_old, good_new = _manifest(10), _manifest(8)
    damaged, unverified = _manifest(2), _manifest(1, verified=False)
    decision = decide_prune([good_old, good_new, damaged, unverified], [], days=0, keep_last=2, now=NOW,
                            damaged={damaged.id: "shop.dump.zst is missing"})
    assert sorted(decision.keep) == sorted([good_old.id, good_new.id])
    assert sorted(decision.delete) == sorted([damaged.id, unverified.id])
    assert "damaged: shop.dump.zst is missing" in decision.reasons[damaged.id]
    assert "unverified" in decision.reasons[unverified.id]
