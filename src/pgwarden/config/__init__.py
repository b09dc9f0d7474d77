"""The schema of ``pgwarden.yml`` and how a command finds and loads it.

The schema is the dataclasses below, with their defaults and one-line docs: each field says in
its metadata how to read its YAML value (see :mod:`pgwarden.config.reader`, which does the
reading and names the file, line, key and value in every error). Precedence: command-line
flags (applied by the CLI through :func:`Settings.with_overrides`) > the file > the defaults here.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgwarden.config.reader import (
    ReadContext,
    duration_between,
    float_between,
    int_between,
    list_of,
    one_of,
    opt,
    read_bool,
    read_document,
    read_duration,
    read_int,
    read_pg_timeout,
    read_str,
    section,
    sub,
)
from pgwarden.errors import ConfigError
from pgwarden.records import SEVERITY_NAMES

if TYPE_CHECKING:
    import yaml  # loaded by the reader, when there is a file to read

DEFAULT_CONFIG_NAMES = ("pgwarden.yml", "pgwarden.yaml")
#: Parallel jobs of pg_dump/pg_restore: one connection each.
MAX_JOBS = 64
MIGRATION_TOOLS = ("sql", "prisma", "laravel", "alembic")
#: Managed snapshots pgwarden can take (see :mod:`pgwarden.snapshots`).
SNAPSHOT_PROVIDERS = ("rds", "aurora")
DEFAULT_MIGRATION_PATHS = {
    "sql": "migrations",
    "prisma": "prisma/migrations",
    "laravel": "database/migrations",
    "alembic": "alembic.ini",
}


# --- the schema ------------------------------------------------------------------------------


@dataclass
class MigrationsConfig:
    tool: str = opt(one_of(*MIGRATION_TOOLS), "sql", doc="migration tool")
    path: str | None = opt(read_str, None, doc="migrations folder (alembic: alembic.ini)")
    command: str | None = opt(read_str, None, doc="command that applies migrations (overrides the tool's)")
    plan_command: str | None = opt(read_str, None, doc="command that prints the pending SQL (laravel)")
    working_directory: str | None = opt(read_str, None, doc="where the tool's commands run")


@dataclass
class Retention:
    days: int | None = opt(int_between(0, 36500), 30)
    keep_last: int = opt(read_int, 5)


def snapshot_provider(node: yaml.Node, key: str, ctx: ReadContext) -> str:
    """``rds`` or ``aurora``. Neon has keys of its own but no snapshotter yet: refusing it here,
    rather than when a backup runs, keeps plan/verify/deploy from accepting a config the next
    backup will refuse."""
    value = read_str(node, key, ctx)
    if value == "neon":
        raise ctx.error(node, key, "rds or aurora (neon branches are not supported by this pgwarden version)",
                        got=repr(value))
    if value not in SNAPSHOT_PROVIDERS:
        raise ctx.error(node, key, "one of " + ", ".join(SNAPSHOT_PROVIDERS), got=repr(value))
    return value


@dataclass
class SnapshotConfig:
    provider: str | None = opt(snapshot_provider, None, doc="rds or aurora")
    instance: str | None = opt(read_str, None, doc="RDS instance identifier")
    cluster: str | None = opt(read_str, None, doc="Aurora cluster identifier")
    region: str | None = opt(read_str, None)
    endpoint_url: str | None = opt(read_str, None)
    timeout: float = opt(read_duration, 3600.0)
    project_id: str | None = opt(read_str, None, doc="Neon project id")
    branch_id: str | None = opt(read_str, None, doc="Neon parent branch id")
    api_key_env: str = opt(read_str, "NEON_API_KEY")


@dataclass
class BackupConfig:
    store: str = opt(read_str, "file://./backups", doc="file://DIR or s3://bucket/prefix")
    allow_ephemeral_store: bool = opt(read_bool, False,
                                      doc="allow a file:// store on a GitHub-hosted runner (its disk is deleted "
                                          "after the job)")
    format: str = opt(one_of("custom", "directory"), "custom")
    jobs: int = opt(int_between(1, MAX_JOBS), 2)
    compress: str | None = opt(read_str, None, doc="zstd, lz4, gzip[:level] or none")
    retention: Retention = sub(Retention)
    snapshot: SnapshotConfig = sub(SnapshotConfig)
    max_age: float = opt(read_duration, 6 * 3600.0, doc="deploy accepts a verified backup this recent")
    endpoint_url: str | None = opt(read_str, None, doc="S3-compatible endpoint")
    region: str | None = opt(read_str, None)
    sse: str | None = opt(one_of("AES256", "aws:kms"), None)
    kms_key_id: str | None = opt(read_str, None)
    exclude_tables: list[str] = opt(list_of(read_str), [])
    verify_before_deploy: str = opt(one_of("size", "checksum"), "size",
                                    doc="deploy re-checks the backup's files: size, or checksum (read, sha256)")


@dataclass
class Hooks:
    pre: str | None = opt(read_str, None)
    post: str | None = opt(read_str, None)
    on_failure: str | None = opt(read_str, None)


@dataclass
class DeployConfig:
    lock_timeout: float = opt(read_pg_timeout, 5.0)
    statement_timeout: float = opt(read_pg_timeout, 15 * 60.0)
    retries: int = opt(int_between(0, 100), 3)
    retry_backoff: float = opt(read_duration, 2.0)
    max_blocking: float = opt(read_duration, 1.0, doc="cancel the migration when others waited on it this long")
    lock_wait: float = opt(read_duration, 60.0, doc="how long a second deploy waits for the deploy lock")
    preflight_wait: float = opt(read_duration, 0.0, doc="wait this long for blocking sessions to finish")
    protected_environments: list[str] = opt(list_of(read_str), ["production", "prod"])
    hooks: Hooks = sub(Hooks)
    audit_log: str = opt(read_str, ".pgwarden/audit.jsonl")
    approval: str = opt(one_of("environment", "pr-review"), "environment")
    approvers: list[str] = opt(list_of(read_str), [])


@dataclass
class IgnoreEntry:
    rule: str | None = opt(read_str, None)
    migration: str | None = opt(read_str, None)
    reason: str | None = opt(read_str, None)

    def _validate(self, node: yaml.Node, key: str, ctx: ReadContext) -> None:
        if not self.rule:
            raise ctx.error(node, f"{key}.rule", "the id of the rule to ignore")


@dataclass
class RiskConfig:
    fail_on: str = opt(one_of(*SEVERITY_NAMES, "never"), "high")
    ignore: list[IgnoreEntry] = opt(list_of(section(IgnoreEntry)), [])
    statement_timeout: float = opt(read_pg_timeout, 5.0, doc="limit for the live-context queries")


@dataclass
class VerifyCheck:
    name: str = opt(read_str, "")
    sql: str = opt(read_str, "")
    expect: str | None = opt(read_str, None, doc="expected value; without it the query must return true")

    def _validate(self, node: yaml.Node, key: str, ctx: ReadContext) -> None:
        if not self.name:
            raise ctx.error(node, f"{key}.name", "a name for the check")
        if not self.sql:
            raise ctx.error(node, f"{key}.sql", "a SQL query")


@dataclass
class VerifyConfig:
    checks: list[VerifyCheck] = opt(list_of(section(VerifyCheck)), [])
    health_urls: list[str] = opt(list_of(read_str), [])
    health_timeout: float = opt(read_duration, 10.0)
    health_retries: int = opt(int_between(0, 100), 3)
    row_count_tolerance: float = opt(float_between(0, 1, what="a fraction"), 0.05,
                                     doc="allowed relative row-count drift (0.05 = 5%)")


@dataclass
class RestoreConfig:
    rto: float = opt(read_duration, 30 * 60.0)
    jobs: int = opt(int_between(1, MAX_JOBS), 2)
    analyze: bool = opt(read_bool, True)


@dataclass
class DrillConfig:
    max_age: float = opt(read_duration, 26 * 3600.0)


@dataclass
class RehearsalConfig:
    max_age: float = opt(read_duration, 26 * 3600.0, doc="rehearse restores a verified backup this recent")
    database_url_env: str | None = opt(read_str, None,
                                       doc="env var with the URL of a staging server for the scratch copy "
                                           "(default: the target's server)")
    max_lock: float = opt(read_duration, 2.0, doc="a lock on an existing table held longer raises the verdict")
    sample_interval: float = opt(duration_between(0.001, 10.0, bounds="from 1ms to 10s"), 0.01,
                                 doc="how often the scratch copy's pg_locks is sampled")


@dataclass
class ReportConfig:
    dir: str = opt(read_str, ".pgwarden/reports")


@dataclass
class Settings:
    database_url_env: str = opt(read_str, "DATABASE_URL")
    environment: str | None = opt(read_str, None)
    migrations: MigrationsConfig = sub(MigrationsConfig)
    backup: BackupConfig = sub(BackupConfig)
    deploy: DeployConfig = sub(DeployConfig)
    risk: RiskConfig = sub(RiskConfig)
    verify: VerifyConfig = sub(VerifyConfig)
    restore: RestoreConfig = sub(RestoreConfig)
    drill: DrillConfig = sub(DrillConfig)
    rehearsal: RehearsalConfig = sub(RehearsalConfig)
    report: ReportConfig = sub(ReportConfig)
    #: Where the config file was (paths in it are relative to its folder); not a YAML key.
    source: str | None = field(default=None, metadata={"reader": None})
    base_dir: str = field(default=".", metadata={"reader": None})

    def resolve_path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def migrations_path(self) -> Path:
        path = self.migrations.path or DEFAULT_MIGRATION_PATHS[self.migrations.tool]
        return self.resolve_path(path)

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with dotted keys replaced (``{"backup.store": "file:///x"}``); None is ignored."""
        result = dataclasses.replace(self)
        for dotted, value in changes.items():
            if value is None:
                continue
            *parents, last = dotted.replace("__", ".").split(".")
            target: Any = result
            for name in parents:
                child = dataclasses.replace(getattr(target, name))
                setattr(target, name, child)
                target = child
            setattr(target, last, value)
        return result


def find_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The config path: ``--config``, else pgwarden.yml in the current directory, else None."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{explicit}: config file not found (given with --config)")
        return path
    here = cwd or Path.cwd()
    for name in DEFAULT_CONFIG_NAMES:
        if (here / name).is_file():
            return here / name
    return None


def load_settings(path: Path | None) -> Settings:
    """Read and validate the config file; defaults when there is none."""
    if path is None:
        return Settings()
    display = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read the config file ({exc.strerror})") from None
    return parse_settings(decode_config(data, display), display, base_dir=str(path.parent))


_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)


def decode_config(data: bytes, display: str) -> str:
    """The file's text: UTF-8 (a UTF-8 byte order mark is fine), else exit 2 naming the byte."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            raise ConfigError(f"{display}: expected UTF-8 text, got {encoding} (it starts with a "
                              f"{encoding} byte order mark): save the file as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{display}:{line}: expected UTF-8 text, got the byte 0x{data[exc.start]:02x} "
                          f"at byte offset {exc.start}, which is not UTF-8: save the file as UTF-8") from None


def parse_settings(text: str, display: str, base_dir: str = ".") -> Settings:
    """Validate the YAML ``text`` of the config file ``display`` (paths relative to ``base_dir``)."""
    settings = read_document(Settings, text, display)
    settings.source = display
    settings.base_dir = base_dir
    return settings


def check_migrations_path(settings: Settings) -> Path:
    """The migrations path must exist before plan/deploy/verify use it."""
    path = settings.migrations_path
    if not path.exists():
        where = settings.source or "defaults (no pgwarden.yml found)"
        raise ConfigError(
            f"{where}: migrations.path: expected an existing "
            f"{'file' if settings.migrations.tool == 'alembic' else 'folder'}, but {path} does not exist"
        )
    return path


def database_url_from_env(settings: Settings, flag_value: str | None) -> str:
    """``--database-url`` wins, else the env var named by ``database_url_env``."""
    if flag_value:
        return flag_value
    value = os.environ.get(settings.database_url_env)
    if not value:
        where = settings.source or "defaults"
        raise ConfigError(
            f"no database URL: pass --database-url or set the environment variable "
            f"{settings.database_url_env} (database_url_env in {where})"
        )
    return value
