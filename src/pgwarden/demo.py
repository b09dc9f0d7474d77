"""``pgwarden demo``: the whole pipeline on a throwaway PostgreSQL, no setup needed.

It starts an embedded PostgreSQL 18 in a temp dir, installs the sample shop
(``examples/shop``) as "production today" (schema + a few thousand rows), then runs what a
pull request bringing four migrations would go through: plan -> backup -> deploy -> verify.
Finally it damages the ``orders`` table on purpose and restores it from the backup, showing
the row counts before, after the damage and after the restore. Reports, the backup and the
audit log stay in the work directory so a newcomer can look at them.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgwarden.config import load_settings
from pgwarden.durations import format_duration
from pgwarden.errors import OperationFailed
from pgwarden.pg.connection import DatabaseTarget, connection
from pgwarden.pg.embedded import start_embedded
from pgwarden.tools.base import SessionLimits
from pgwarden.tools.sqldir import SqlDirTool
from pgwarden.units import format_bytes

SHOP = Path(__file__).parent / "examples" / "shop"
COUNTED_TABLES = ("customers", "orders", "order_items")


@dataclass
class DemoOutcome:
    workdir: Path
    ok: bool = True
    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    reports: dict[str, Path] = field(default_factory=dict)


def _counts(target: DatabaseTarget) -> dict[str, int]:
    with connection(target) as conn:
        return {t: int(conn.execute(f"select count(*) from {t}").fetchone()[0]) for t in COUNTED_TABLES}  # type: ignore[index]


def run_demo(say: Callable[[str], None], workdir: Path | None = None) -> DemoOutcome:
    """Run the demo, printing through ``say``; returns where everything was written."""
    from pgwarden.pipeline.backup import take_backup
    from pgwarden.pipeline.deploy import run_deploy
    from pgwarden.pipeline.plan import plan_migrations
    from pgwarden.pipeline.restore import restore_backup
    from pgwarden.pipeline.verify import run_verify

    workdir = workdir or Path(tempfile.mkdtemp(prefix="pgwarden-demo-"))
    app = workdir / "shop"
    shutil.copytree(SHOP, app)
    outcome = DemoOutcome(workdir=workdir)
    started = time.monotonic()

    say(f"pgwarden demo - work directory {workdir}")
    say("")
    say("[setup] starting an embedded PostgreSQL 18 (unix socket only, removed at the end)")
    server = start_embedded(workdir)
    try:
        password = "demo-" + secrets.token_hex(8)
        with connection(DatabaseTarget.from_url(server.url())) as admin:
            admin.execute(f"create role shop_app login password '{password}'")
            admin.execute("create database shop owner shop_app")
        target = DatabaseTarget.from_url(server.url("shop", user="shop_app", password=password))
        settings = load_settings(app / "pgwarden.yml")
        # The demo's backup lives in its own throwaway work directory, on a hosted runner too.
        settings.backup.allow_ephemeral_store = True

        # "Production today": the first migration applied and real-looking data in it.
        baseline = workdir / "baseline"
        baseline.mkdir()
        shutil.copy(app / "migrations" / "0001_create_shop.sql", baseline)
        SqlDirTool(settings, folder=baseline).apply(target, SessionLimits(5.0, 60.0), run_id="demo-setup")
        with connection(target) as conn:
            conn.execute((app / "seed.sql").read_text())
        before = _counts(target)
        say(f"[setup] shop database on {target.display()} (password auth, never printed): "
            + ", ".join(f"{n} {t}" for t, n in before.items()))

        report_dir = settings.resolve_path(settings.report.dir)
        report_dir.mkdir(parents=True, exist_ok=True)

        # 1. plan
        say("")
        say("[1/6 plan] reviewing the pending migrations against the live database")
        plan = plan_migrations(settings, target=target)
        plan_json = plan.to_json()
        (report_dir / "plan.json").write_text(json.dumps(plan_json, indent=2, default=str))
        from pgwarden.report.markdown import render_plan_markdown

        (report_dir / "plan.md").write_text(render_plan_markdown(plan))
        outcome.reports["plan"] = report_dir / "plan.md"
        for m in plan_json["migrations"]:
            say(f"    {m['status']:8} {m['name']}")
        for f in plan_json["findings"]:
            say(f"    {f['severity'].upper():8} {f['rule']} in {f['migration']} line {f['line']}: {f['message']}")
        summary = plan_json["summary"]
        verdict = "BLOCKED at --fail-on high" if summary["blocked"] else "passes --fail-on high"
        say(f"    verdict: {verdict} (max severity: {summary['max_severity'] or 'none'})")
        if summary["blocked"]:
            say("    in CI this stops the pipeline until a release manager reviews and approves;")
            say("    the demo goes on as if they had approved it.")
        outcome.steps.append(("plan", True, f"{len(plan_json['findings'])} finding(s), max {summary['max_severity']}"))

        # 2. backup
        say("")
        say("[2/6 backup] pg_dump of the shop, checksummed and verified before anyone may rely on it")
        manifest = take_backup(settings, target, progress=lambda line: say(f"    {line}"))
        files = manifest.files
        say(f"    backup id   {manifest.id}")
        say(f"    size        {format_bytes(manifest.size_bytes)} in {len(files)} file(s), {manifest.format} format, "
            f"{manifest.compression} compression")
        for entry in files[:3]:
            say(f"    sha256      {entry['sha256']}  {entry['name']}")
        say(f"    duration    {format_duration(manifest.duration_s)}; verified: {manifest.verified}")
        say(f"    stored in   {manifest.store}")
        outcome.steps.append(("backup", bool(manifest.verified), manifest.id))

        # 3. deploy
        say("")
        say("[3/6 deploy] applying the migrations with lock_timeout, retries and the lock watchdog")
        deploy = run_deploy(settings, target, backup_id=manifest.id, environment="demo", run_id="demo",
                            progress=lambda line: say(f"    {line}"))
        _write_result(report_dir / "deploy.json", deploy.to_json())
        for name in deploy.details.get("applied", []):
            say(f"    applied     {name}")
        say(f"    {deploy.summary} ({format_duration(deploy.duration_s)})")
        outcome.steps.append(("deploy", deploy.ok, deploy.summary))
        if not deploy.ok:
            raise OperationFailed(f"the demo deploy failed: {deploy.summary}")

        # 4. verify
        say("")
        say("[4/6 verify] migration history, schema health, row counts against the backup, custom checks")
        verify = run_verify(settings, target, backup_id=manifest.id)
        _write_result(report_dir / "verify.json", verify.to_json())
        for check in verify.checks:
            mark = "ok  " if check.ok else ("warn" if check.warning else "FAIL")
            say(f"    {mark} {check.name}" + (f": {check.detail}" if check.detail else ""))
        outcome.steps.append(("verify", verify.ok, verify.summary))

        # 5. damage
        say("")
        after_deploy = _counts(target)
        with connection(target) as conn:
            conn.execute("delete from orders where id % 4 <> 0")
        damaged = _counts(target)
        say("[5/6 incident] someone ran `delete from orders` with the wrong WHERE clause:")
        for t in COUNTED_TABLES:
            say(f"    {t:12} {after_deploy[t]:>6} -> {damaged[t]:>6}")
        outcome.steps.append(("damage", True, f"orders {after_deploy['orders']} -> {damaged['orders']}"))

        # 6. restore
        say("")
        say(f"[6/6 restore] pgwarden restore --backup-id {manifest.id} --confirm {target.dbname}")
        restore = restore_backup(settings, target, manifest.id, confirm=target.dbname,
                                 progress=lambda line: say(f"    {line}"))
        _write_result(report_dir / "restore.json", restore.to_json())
        restored = _counts(target)
        for t in COUNTED_TABLES:
            back = "back" if restored[t] == before[t] else "DIFFERENT"
            say(f"    {t:12} {damaged[t]:>6} -> {restored[t]:>6}  ({back}: {before[t]} at backup time)")
        say(f"    {restore.summary}")
        after_restore = run_verify(settings, target, restored_from=manifest.id)
        _write_result(report_dir / "verify-restore.json", after_restore.to_json())
        say(f"    pgwarden verify --restored-from {manifest.id}:")
        for c in after_restore.checks:
            mark = "ok  " if c.ok else ("note" if c.warning else "FAIL")
            say(f"      {mark} {c.name}" + (f": {c.detail}" if c.detail else ""))
        data_back = all(restored[t] == before[t] for t in COUNTED_TABLES)
        outcome.steps.append(("restore", restore.ok and after_restore.ok and data_back, restore.summary))
    finally:
        server.stop()

    outcome.ok = all(ok for _, ok, _ in outcome.steps)
    say("")
    say(f"summary ({format_duration(time.monotonic() - started)}):")
    for name, ok, text in outcome.steps:
        say(f"    {'ok  ' if ok else 'FAIL'} {name:8} {text}")
    say("")
    say(f"reports:    {report_dir}")
    say(f"backups:    {settings.resolve_path(settings.backup.store.removeprefix('file://'))}")
    say(f"audit log:  {settings.resolve_path(settings.deploy.audit_log)}")
    return outcome


def _write_result(path: Path, document: dict[str, Any]) -> None:
    from pgwarden.redact import redact

    path.write_text(redact(json.dumps(document, indent=2, default=str)))
