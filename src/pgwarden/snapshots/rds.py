"""AWS RDS instance snapshots and Aurora cluster snapshots through boto3.

Create: ``create_db_snapshot`` / ``create_db_cluster_snapshot`` tagged with the backup id and
the run, then poll until ``available`` with a bounded timeout (``backup.snapshot.timeout``)
and a progress line per poll. Restore: ``restore_db_instance_from_db_snapshot`` /
``restore_db_cluster_from_snapshot`` into a *new* identifier (refused when it exists), wait,
report the endpoint. Nothing here deletes, renames or modifies the source instance or cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pgwarden.config import SnapshotConfig
from pgwarden.errors import ConfigError, OperationFailed, SafetyRefusal
from pgwarden.records import Progress

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

POLL_FIRST_S = 2.0
POLL_MAX_S = 20.0
FAILED_STATES = ("failed", "incompatible-restore", "incompatible-parameters", "deleted", "deleting")
NOT_FOUND_CODES = ("DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault", "DBClusterNotFound")


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}"
    return str(exc)


def wait_available(
    what: str,
    poll: Callable[[], tuple[str, str]],
    timeout: float,
    say: Progress,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Poll until ``available``; a progress line per poll; give up after ``timeout`` seconds.

    The last poll happens at the deadline (the sleep before it is shortened), so a resource that
    becomes available just in time is not reported as timed out. Returns the seconds waited.
    """
    started = clock()
    deadline = started + timeout
    delay = POLL_FIRST_S
    while True:
        status, extra = poll()
        waited = clock() - started
        if status == "available":
            return waited
        if status in FAILED_STATES:
            raise OperationFailed(f"{what} ended in status {status} after {waited:.0f}s")
        remaining = deadline - clock()
        if remaining <= 0:
            raise OperationFailed(
                f"{what} is still {status}{extra} after {waited:.0f}s "
                f"(backup.snapshot.timeout is {timeout:.0f}s)",
                hint="it may still finish in AWS; check the console before retrying",
            )
        say(f"{what}: {status}{extra}, {waited:.0f}s")
        sleep(min(delay, remaining))
        delay = min(delay * 1.5, POLL_MAX_S)


class RdsSnapshotter:
    def __init__(self, config: SnapshotConfig) -> None:
        self.config = config
        self.provider = config.provider or "rds"
        self.cluster = self.provider == "aurora"
        try:
            self.client: RDSClient = boto3.session.Session().client(
                "rds", region_name=config.region, endpoint_url=config.endpoint_url,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}),
            )
        except BotoCoreError as exc:  # NoRegionError, a malformed endpoint_url...
            raise ConfigError(
                f"backup.snapshot: cannot open the RDS API ({exc}): set backup.snapshot.region "
                "(or AWS_DEFAULT_REGION) and check backup.snapshot.endpoint_url"
            ) from None
        self.region = self.client.meta.region_name

    def _call(self, what: str, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (ClientError, BotoCoreError) as exc:
            raise OperationFailed(f"RDS could not {what}: {_describe(exc)}") from None

    def _wait(self, what: str, poll: Callable[[], tuple[str, str]], say: Progress) -> float:
        return wait_available(what, poll, self.config.timeout, say)

    def _exists(self, kind: str, identifier: str) -> bool:
        try:
            if kind == "cluster":
                self.client.describe_db_clusters(DBClusterIdentifier=identifier)
            else:
                self.client.describe_db_instances(DBInstanceIdentifier=identifier)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
                return False
            raise OperationFailed(f"RDS could not check whether {kind} {identifier} exists: {_describe(exc)}") \
                from None
        except BotoCoreError as exc:
            raise OperationFailed(f"RDS could not check whether {kind} {identifier} exists: {exc}") from None
        return True

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

        kind = "cluster" if self.cluster else "instance"
        say(f"{self.provider} snapshot {name} of {kind} {source}: started, waiting up to "
            f"{self.config.timeout:.0f}s for it to be available")
        waited = self._wait(f"snapshot {name}", poll, say)
        say(f"{self.provider} snapshot {name}: available after {waited:.0f}s")
        return {
            "provider": self.provider,
            "id": name,
            "source": source,
            "kind": kind,
            "region": self.region,
            "duration_s": round(waited, 1),
            "tags": tags,
        }

    def restore(self, snapshot: dict[str, Any], new_name: str, say: Progress) -> dict[str, Any]:
        snapshot_id = str(snapshot.get("id") or "")
        if not snapshot_id:
            raise OperationFailed("the backup's manifest records no snapshot id")
        kind = "cluster" if snapshot.get("kind") == "cluster" else "instance"
        source = str(snapshot.get("source") or "")
        # RDS identifiers are case-insensitive: "Prod-DB" is the instance "prod-db".
        if new_name.lower() == source.lower():
            raise SafetyRefusal(f"{new_name} is the original {kind}: snapshots are only restored "
                                "into a new one, the original is never touched")
        if self._exists(kind, new_name):
            raise SafetyRefusal(
                f"{kind} {new_name} already exists: --snapshot --into only creates a new {kind}, nothing was changed",
                hint=f"choose an identifier that no {kind} uses",
            )
        tags: Any = [{"Key": "pgwarden:restored-from", "Value": snapshot_id}]
        say(f"restoring {self.provider} snapshot {snapshot_id} into new {kind} {new_name}")
        if kind == "cluster":
            described = self._call("describe " + snapshot_id, lambda: self.client.describe_db_cluster_snapshots(
                DBClusterSnapshotIdentifier=snapshot_id))["DBClusterSnapshots"][0]
            engine = str(described.get("Engine", "aurora-postgresql"))
            self._call(f"restore {snapshot_id}", lambda: self.client.restore_db_cluster_from_snapshot(
                DBClusterIdentifier=new_name, SnapshotIdentifier=snapshot_id, Engine=engine, Tags=tags))

            def poll() -> tuple[str, str]:
                found = self._call("describe " + new_name, lambda: self.client.describe_db_clusters(
                    DBClusterIdentifier=new_name))["DBClusters"][0]
                return str(found.get("Status", "")), ""

            waited = self._wait(f"cluster {new_name}", poll, say)
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

            waited = self._wait(f"instance {new_name}", poll, say)
            found = self._call("describe " + new_name, lambda: self.client.describe_db_instances(
                DBInstanceIdentifier=new_name))["DBInstances"][0]
            address = found.get("Endpoint", {})
            endpoint = {"address": address.get("Address"), "port": address.get("Port")}
            note = "point the application at the new endpoint, or rename instances in a maintenance window"
        say(f"{kind} {new_name}: available after {waited:.0f}s at {endpoint['address']}:{endpoint['port']}")
        return {"provider": self.provider, "snapshot": snapshot_id, "kind": kind, "restored": new_name,
                "endpoint": endpoint, "next": note}
