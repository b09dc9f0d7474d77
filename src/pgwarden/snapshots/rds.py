"""AWS RDS instance snapshots and Aurora cluster snapshots through boto3.

Create: ``create_db_snapshot`` / ``create_db_cluster_snapshot`` tagged with the backup id and
the run, then poll until ``available`` with a bounded timeout (``backup.snapshot.timeout``)
and a progress line per poll. Restore: ``restore_db_instance_from_db_snapshot`` /
``restore_db_cluster_from_snapshot`` into a *new* identifier, wait, report the endpoint.
Nothing here deletes, renames or modifies the source instance or cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pgwarden.config import SnapshotConfig
from pgwarden.errors import OperationFailed, SafetyRefusal

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

Progress = Callable[[str], None]
POLL_FIRST_S = 2.0
POLL_MAX_S = 20.0


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}"
    return str(exc)


class RdsSnapshotter:
    def __init__(self, config: SnapshotConfig) -> None:
        self.config = config
        self.provider = config.provider or "rds"
        self.cluster = self.provider == "aurora"
        self.client: RDSClient = boto3.session.Session().client(
            "rds", region_name=config.region, endpoint_url=config.endpoint_url,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def _call(self, what: str, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (ClientError, BotoCoreError) as exc:
            raise OperationFailed(f"RDS could not {what}: {_describe(exc)}") from None

    def _wait(self, what: str, poll: Callable[[], tuple[str, str]], say: Progress) -> None:
        deadline = time.monotonic() + self.config.timeout
        delay = POLL_FIRST_S
        started = time.monotonic()
        while True:
            status, extra = poll()
            if status == "available":
                return
            if status in ("failed", "incompatible-restore", "deleted", "deleting"):
                raise OperationFailed(f"{what} ended in status {status}")
            if time.monotonic() + delay > deadline:
                raise OperationFailed(
                    f"{what} is still {status} after {self.config.timeout:.0f}s (backup.snapshot.timeout)",
                    hint="it may still finish in AWS; check the console before retrying",
                )
            say(f"{what}: {status}{extra}, {time.monotonic() - started:.0f}s")
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX_S)

    def create(self, name: str, tags: dict[str, str], say: Progress) -> dict[str, Any]:
        tag_list: Any = [{"Key": k, "Value": v} for k, v in tags.items()]
        if self.cluster:
            source = self.config.cluster or ""
            self._call(f"snapshot cluster {source}", lambda: self.client.create_db_cluster_snapshot(
                DBClusterSnapshotIdentifier=name, DBClusterIdentifier=source, Tags=tag_list))

            def poll() -> tuple[str, str]:
                found = self._call("describe " + name, lambda: self.client.describe_db_cluster_snapshots(
                    DBClusterSnapshotIdentifier=name))["DBClusterSnapshots"][0]
                return str(found.get("Status", "")), f" {found.get('PercentProgress', 0)}%"
        else:
            source = self.config.instance or ""
            self._call(f"snapshot instance {source}", lambda: self.client.create_db_snapshot(
                DBSnapshotIdentifier=name, DBInstanceIdentifier=source, Tags=tag_list))

            def poll() -> tuple[str, str]:
                found = self._call("describe " + name, lambda: self.client.describe_db_snapshots(
                    DBSnapshotIdentifier=name))["DBSnapshots"][0]
                return str(found.get("Status", "")), f" {found.get('PercentProgress', 0)}%"

        say(f"{self.provider} snapshot {name} of {source}: started")
        started = time.monotonic()
        self._wait(f"snapshot {name}", poll, say)
        return {
            "provider": self.provider,
            "id": name,
            "source": source,
            "kind": "cluster" if self.cluster else "instance",
            "duration_s": round(time.monotonic() - started, 1),
            "tags": tags,
        }

    def restore(self, snapshot: dict[str, Any], new_name: str, say: Progress) -> dict[str, Any]:
        snapshot_id = str(snapshot.get("id") or "")
        if not snapshot_id:
            raise OperationFailed("the backup's manifest records no snapshot id")
        if new_name == snapshot.get("source"):
            raise SafetyRefusal(f"{new_name} is the original {snapshot.get('kind')}: snapshots are only restored "
                                "into a new one, the original is never touched")
        tags: Any = [{"Key": "pgwarden:restored-from", "Value": snapshot_id}]
        if snapshot.get("kind") == "cluster":
            described = self._call("describe " + snapshot_id, lambda: self.client.describe_db_cluster_snapshots(
                DBClusterSnapshotIdentifier=snapshot_id))["DBClusterSnapshots"][0]
            engine = str(described.get("Engine", "aurora-postgresql"))
            self._call(f"restore {snapshot_id}", lambda: self.client.restore_db_cluster_from_snapshot(
                DBClusterIdentifier=new_name, SnapshotIdentifier=snapshot_id, Engine=engine, Tags=tags))

            def poll() -> tuple[str, str]:
                found = self._call("describe " + new_name, lambda: self.client.describe_db_clusters(
                    DBClusterIdentifier=new_name))["DBClusters"][0]
                return str(found.get("Status", "")), ""

            self._wait(f"cluster {new_name}", poll, say)
            found = self._call("describe " + new_name, lambda: self.client.describe_db_clusters(
                DBClusterIdentifier=new_name))["DBClusters"][0]
            endpoint = {"address": found.get("Endpoint"), "port": found.get("Port")}
            note = "add an instance to the new cluster (aws rds create-db-instance --db-cluster-identifier ...)"
        else:
            self._call(f"restore {snapshot_id}", lambda: self.client.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=new_name, DBSnapshotIdentifier=snapshot_id, Tags=tags))

            def poll() -> tuple[str, str]:
                found = self._call("describe " + new_name, lambda: self.client.describe_db_instances(
                    DBInstanceIdentifier=new_name))["DBInstances"][0]
                return str(found.get("DBInstanceStatus", "")), ""

            self._wait(f"instance {new_name}", poll, say)
            found = self._call("describe " + new_name, lambda: self.client.describe_db_instances(
                DBInstanceIdentifier=new_name))["DBInstances"][0]
            address = found.get("Endpoint", {})
            endpoint = {"address": address.get("Address"), "port": address.get("Port")}
            note = "point the application at the new endpoint, or rename instances in a maintenance window"
        return {"provider": self.provider, "snapshot": snapshot_id, "restored": new_name,
                "endpoint": endpoint, "next": note}
