"""RDS and Aurora snapshots next to the logical backup, through boto3 against the real moto server.

Nothing here patches boto3: ``pgwarden backup`` and ``pgwarden restore --snapshot`` talk to moto's
RDS API on 127.0.0.1 (the same server as the S3 tests), and the tests read the result back
through their own boto3 client. moto makes snapshots and restored instances ``available`` at
once, so the bounded wait's timeout is tested through its seam (``wait_available``'s poll,
clock and sleep) rather than against the server.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from pgwarden.config import Settings
from pgwarden.errors import EXIT_USAGE, ConfigError, OperationFailed
from pgwarden.manifest import BackupManifest
from pgwarden.snapshots import get_snapshotter
from pgwarden.snapshots.rds import RdsSnapshotter, wait_available

RUN_ENV = {"GITHUB_RUN_ID": "987654", "GITHUB_RUN_ATTEMPT": "2"}


@pytest.fixture
def rds(moto_endpoint: str, aws_env: None) -> Any:
    return boto3.client("rds", endpoint_url=moto_endpoint, region_name="us-east-1")


def _ident(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}"


def _make_instance(rds: Any) -> str:
    name = _ident("prod-db")
    rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="app", MasterUserPassword="not-a-secret-1", AllocatedStorage=20)
    return name


def _make_cluster(rds: Any) -> str:
    name = _ident("prod-cluster")
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql",
                          MasterUsername="app", MasterUserPassword="not-a-secret-1")
    return name


def _write_config(tmp_path: Path, snapshot: dict[str, Any]) -> None:
    lines = ["backup:", "  store: file://./backups", "  snapshot:"]
    lines += [f"    {key}: {value}" for key, value in snapshot.items()]
    (tmp_path / "pgwarden.yml").write_text("\n".join(lines) + "\n")


def _rds_config(tmp_path: Path, endpoint: str, **snapshot: Any) -> None:
    _write_config(tmp_path, {"endpoint_url": endpoint, "region": "us-east-1", "timeout": "30s", **snapshot})


def _fill(db: Any) -> None:
    with db.connect() as conn:
        conn.execute("create table orders (id int primary key, total numeric not null)")
        conn.execute("insert into orders select i, i * 1.5 from generate_series(1, 500) i")


def _stored_manifest(tmp_path: Path, backup_id: str) -> BackupManifest:
    return BackupManifest.loads((tmp_path / "backups" / backup_id / "manifest.json").read_text())


def _tags(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}


def _instance(rds: Any, name: str) -> dict[str, Any]:
    found = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    return {k: found.get(k) for k in ("DBInstanceIdentifier", "DBInstanceArn", "DBInstanceStatus", "Endpoint")}


def _cluster(rds: Any, name: str) -> dict[str, Any]:
    found = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return {k: found.get(k) for k in ("DBClusterIdentifier", "DBClusterArn", "Status", "Endpoint")}


def _backup_json(cli: Any, tmp_path: Path, db: Any) -> tuple[Any, dict[str, Any]]:
    result = cli("backup", "--format", "json", cwd=tmp_path, env={"DATABASE_URL": db.url, **RUN_ENV})
    assert result.code == 0, result.output
    return result, json.loads(result.stdout)


def test_backup_takes_tagged_rds_instance_snapshot(db, tmp_path: Path, cli, rds, moto_endpoint: str) -> None:
    _fill(db)
    instance = _make_instance(rds)
    _rds_config(tmp_path, moto_endpoint, provider="rds", instance=instance)
    result, manifest = _backup_json(cli, tmp_path, db)

    backup_id = manifest["id"]
    snapshot_id = "pgwarden-" + backup_id.lower()
    assert manifest["verified"] is True
    assert manifest["snapshot"] == {
        "provider": "rds", "id": snapshot_id, "source": instance, "kind": "instance", "region": "us-east-1",
        "duration_s": manifest["snapshot"]["duration_s"],
        "tags": {"pgwarden:backup-id": backup_id, "pgwarden:run-id": "987654-2"},
    }
    assert _stored_manifest(tmp_path, backup_id).snapshot == manifest["snapshot"]
    # progress on stderr, in order, readable in a CI log
    assert f"rds snapshot {snapshot_id} of instance {instance}: started, waiting up to 30s" in result.stderr
    assert result.stderr.index("started, waiting") < result.stderr.index(f"{snapshot_id}: available after")
    assert "\x1b[" not in result.stderr

    described = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]
    assert described["Status"] == "available" and described["DBInstanceIdentifier"] == instance
    assert _tags(rds, described["DBSnapshotArn"]) == {"pgwarden:backup-id": backup_id,
                                                     "pgwarden:run-id": "987654-2"}


def test_backup_takes_tagged_aurora_cluster_snapshot(db, tmp_path: Path, cli, rds, moto_endpoint: str) -> None:
    _fill(db)
    cluster = _make_cluster(rds)
    _rds_config(tmp_path, moto_endpoint, provider="aurora", cluster=cluster)
    result = cli("backup", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 0, result.output

    (backup_id,) = [p.name for p in (tmp_path / "backups").iterdir()]
    snapshot_id = "pgwarden-" + backup_id.lower()
    assert f"snapshot: aurora {snapshot_id}" in result.stdout
    stored = _stored_manifest(tmp_path, backup_id)
    assert stored.verified and stored.snapshot is not None
    assert (stored.snapshot["id"], stored.snapshot["kind"], stored.snapshot["source"]) == \
        (snapshot_id, "cluster", cluster)
    described = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot_id)["DBClusterSnapshots"][0]
    assert described["Status"] == "available" and described["DBClusterIdentifier"] == cluster
    # outside GitHub Actions the run is "local"
    assert _tags(rds, described["DBClusterSnapshotArn"]) == {"pgwarden:backup-id": backup_id,
                                                            "pgwarden:run-id": "local"}


def test_restore_snapshot_into_new_instance_never_touches_the_original(
    db, tmp_path: Path, cli, rds, moto_endpoint: str
) -> None:
    _fill(db)
    instance = _make_instance(rds)
    _rds_config(tmp_path, moto_endpoint, provider="rds", instance=instance)
    _, manifest = _backup_json(cli, tmp_path, db)
    original = _instance(rds, instance)
    new = _ident("restored")

    restored = cli("restore", "--backup-id", manifest["id"], "--snapshot", "--into", new, "--format", "json",
                   cwd=tmp_path)
    assert restored.code == 0, restored.output
    report = json.loads(restored.stdout)
    assert report["ok"] and report["mode"] == "snapshot" and report["backup_id"] == manifest["id"]
    described = report["snapshot"]
    now = _instance(rds, new)
    assert now["DBInstanceStatus"] == "available"
    assert described["endpoint"] == {"address": now["Endpoint"]["Address"], "port": now["Endpoint"]["Port"]}
    assert new in described["endpoint"]["address"]
    assert f"restored snapshot {manifest['snapshot']['id']} into new instance {new}" in report["summary"]
    assert f"instance {new}: available after" in restored.stderr
    assert _tags(rds, now["DBInstanceArn"]) == {"pgwarden:restored-from": manifest["snapshot"]["id"]}
    assert _instance(rds, instance) == original

    # Onto the original (in any letter case) or any existing instance: exit 4, nothing created or changed.
    count = len(rds.describe_db_instances()["DBInstances"])
    onto_original = cli("restore", "--backup-id", "latest", "--snapshot", "--into", instance.upper(), cwd=tmp_path)
    assert onto_original.code == 4, onto_original.output
    assert "is the original instance" in onto_original.stderr and "never touched" in onto_original.stderr
    onto_existing = cli("restore", "--backup-id", "latest", "--snapshot", "--into", new, cwd=tmp_path)
    assert onto_existing.code == 4, onto_existing.output
    assert f"instance {new} already exists" in onto_existing.stderr
    assert "nothing was changed" in onto_existing.stderr
    assert len(rds.describe_db_instances()["DBInstances"]) == count
    assert _instance(rds, instance) == original


def test_restore_snapshot_into_new_cluster_with_only_the_endpoint_configured(
    db, tmp_path: Path, cli, rds, moto_endpoint: str
) -> None:
    _fill(db)
    cluster = _make_cluster(rds)
    _rds_config(tmp_path, moto_endpoint, provider="aurora", cluster=cluster)
    _, manifest = _backup_json(cli, tmp_path, db)
    original = _cluster(rds, cluster)
    # The responder's config need not name the provider or the source: the manifest records them.
    _write_config(tmp_path, {"endpoint_url": moto_endpoint})
    new = _ident("restored-cluster")

    restored = cli("restore", "--backup-id", "latest", "--snapshot", "--into", new, cwd=tmp_path)
    assert restored.code == 0, restored.output
    now = _cluster(rds, new)
    assert now["Status"] == "available" and now["Endpoint"]
    assert restored.stdout.startswith(f"ok: restored snapshot {manifest['snapshot']['id']} into new cluster {new} "
                                      f"({now['Endpoint']}:5432)")
    assert _cluster(rds, cluster) == original

    again = cli("restore", "--backup-id", "latest", "--snapshot", "--into", new, cwd=tmp_path)
    assert again.code == 4 and f"cluster {new} already exists" in again.stderr, again.output
    onto_original = cli("restore", "--backup-id", "latest", "--snapshot", "--into", cluster, cwd=tmp_path)
    assert onto_original.code == 4 and "is the original cluster" in onto_original.stderr
    assert _cluster(rds, cluster) == original


def test_missing_instance_fails_the_backup_but_keeps_the_verified_dump(
    db, tmp_path: Path, cli, rds, moto_endpoint: str
) -> None:
    """A snapshot failure is exit 1 naming the instance; the verified logical backup stays usable."""
    _fill(db)
    missing = _ident("no-such-db")
    _rds_config(tmp_path, moto_endpoint, provider="rds", instance=missing)
    env = {"DATABASE_URL": db.url}
    result = cli("backup", cwd=tmp_path, env=env)
    assert result.code == 1, result.output
    (backup_id,) = [p.name for p in (tmp_path / "backups").iterdir()]
    assert f"the logical backup {backup_id} is verified, but the rds snapshot failed" in result.stderr
    assert f"RDS could not snapshot instance {missing}: DBInstanceNotFound" in result.stderr
    stored = _stored_manifest(tmp_path, backup_id)
    assert stored.verified and stored.snapshot is not None
    assert set(stored.snapshot) == {"provider", "error"} and missing in stored.snapshot["error"]
    assert rds.describe_db_snapshots(DBInstanceIdentifier=missing)["DBSnapshots"] == []

    no_snapshot = cli("restore", "--backup-id", "latest", "--snapshot", "--into", _ident("x"), cwd=tmp_path)
    assert no_snapshot.code == 1
    assert f"backup {backup_id} has no managed snapshot (it failed: RDS could not snapshot instance {missing}" \
        in no_snapshot.stderr
    assert "drop --snapshot" in no_snapshot.stderr

    new_db = f"{db.name}_from_dump"
    try:
        logical = cli("restore", "--backup-id", "latest", "--into", new_db, cwd=tmp_path, env=env)
        assert logical.code == 0, logical.output
        assert "row counts match the backup: 1 tables" in logical.stdout
    finally:
        with db.server.admin() as admin:
            admin.execute(f'drop database if exists "{new_db}" with (force)')


def test_no_region_is_a_clear_error_and_the_dump_is_kept(
    db, tmp_path: Path, cli, moto_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    _fill(db)
    _write_config(tmp_path, {"provider": "rds", "instance": "prod-db", "endpoint_url": moto_endpoint})
    result = cli("backup", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 2, result.output
    assert "cannot open the RDS API (You must specify a region.): set backup.snapshot.region" in result.stderr
    # Checked before dumping: no half-configured backup is left behind.
    backups = tmp_path / "backups"
    assert not backups.exists() or not any(backups.iterdir())


def test_neon_and_missing_identifiers_are_config_errors(db, tmp_path: Path, cli) -> None:
    settings = Settings(source="pgwarden.yml")
    settings.backup.snapshot.provider = "neon"
    with pytest.raises(ConfigError) as neon:
        get_snapshotter(settings)
    assert neon.value.exit_code == EXIT_USAGE
    assert str(neon.value) == ("pgwarden.yml: backup.snapshot.provider: expected rds or aurora (neon branches are "
                               "not supported by this pgwarden version), got 'neon'")
    settings.backup.snapshot.provider = "rds"
    with pytest.raises(ConfigError, match=r"backup\.snapshot\.instance: expected the RDS instance identifier"):
        get_snapshotter(settings)
    settings.backup.snapshot.provider = "aurora"
    with pytest.raises(ConfigError, match=r"backup\.snapshot\.cluster: expected the Aurora cluster identifier"):
        get_snapshotter(settings)

    # Through the CLI the configuration is checked before the dump: exit 2, nothing written.
    _fill(db)
    _write_config(tmp_path, {"provider": "neon", "project_id": "p-1"})
    result = cli("backup", cwd=tmp_path, env={"DATABASE_URL": db.url})
    assert result.code == 2, result.output
    assert "neon branches are not supported" in result.stderr
    backups = tmp_path / "backups"
    assert not backups.exists() or not any(backups.iterdir())


class FakeClock:
    """Time that moves only when slept through: the waiting loop runs in microseconds."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _statuses(*answers: str) -> Any:
    remaining = list(answers)

    def poll() -> tuple[str, str]:
        status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return status, " 40%" if status == "creating" else ""

    return poll


def test_wait_gives_up_at_the_timeout_with_progress_lines() -> None:
    clock = FakeClock()
    lines: list[str] = []
    with pytest.raises(OperationFailed) as info:
        wait_available("snapshot pgwarden-x", _statuses("creating"), 30.0, lines.append,
                       clock=clock, sleep=clock.sleep)
    assert str(info.value).startswith(
        "snapshot pgwarden-x is still creating 40% after 30s (backup.snapshot.timeout is 30s)")
    assert "check the console before retrying" in str(info.value)
    # backoff 2, 3, 4.5, 6.75, 10.125 s, then the last sleep is cut to land on the deadline
    assert clock.sleeps[:5] == [2.0, 3.0, 4.5, 6.75, 10.125]
    assert sum(clock.sleeps) == pytest.approx(30.0)
    assert lines[0] == "snapshot pgwarden-x: creating 40%, 0s"
    assert len(lines) == len(clock.sleeps) == 6


def test_wait_returns_when_available_at_the_deadline_and_stops_on_failure() -> None:
    clock = FakeClock()
    lines: list[str] = []
    # 7 polls: the 7th happens exactly at the 30 s deadline and must count
    waited = wait_available("instance new-db", _statuses(*["creating"] * 6, "available"), 30.0, lines.append,
                            clock=clock, sleep=clock.sleep)
    assert waited == pytest.approx(30.0) and len(lines) == 6

    clock = FakeClock()
    with pytest.raises(OperationFailed, match=r"^instance new-db ended in status incompatible-restore after 5s$"):
        wait_available("instance new-db", _statuses("creating", "modifying", "incompatible-restore"), 60.0,
                       lines.append, clock=clock, sleep=clock.sleep)


def test_snapshotter_waits_with_the_configured_timeout(moto_endpoint: str, aws_env: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The real RdsSnapshotter (client on moto) feeds ``backup.snapshot.timeout`` to the wait."""
    settings = Settings()
    settings.backup.snapshot.provider = "rds"
    settings.backup.snapshot.instance = "prod-db"
    settings.backup.snapshot.endpoint_url = moto_endpoint
    settings.backup.snapshot.timeout = 0.05
    snapshotter = get_snapshotter(settings)
    assert isinstance(snapshotter, RdsSnapshotter)
    monkeypatch.setattr("pgwarden.snapshots.rds.POLL_FIRST_S", 0.01)
    lines: list[str] = []
    with pytest.raises(OperationFailed, match=r"still creating 40% after 0s \(backup.snapshot.timeout is 0s\)"):
        snapshotter._wait("snapshot pgwarden-y", _statuses("creating"), lines.append)
    assert lines and all(line.startswith("snapshot pgwarden-y: creating 40%") for line in lines)
