"""Load and validate ``pgwarden.yml``.

The schema is the dataclasses below: each field says in its metadata how to read its YAML
value. Validation walks the YAML *node* tree (not the plain data) so every error can name
the file, the dotted key, the line, and what was expected. Precedence: command-line flags
(applied by the CLI through :func:`Settings.with_overrides`) > the file > the defaults here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pgwarden.durations import DURATION_HELP, parse_duration
from pgwarden.errors import ConfigError
from pgwarden.records import SEVERITY_NAMES

DEFAULT_CONFIG_NAMES = ("pgwarden.yml", "pgwarden.yaml")
MIGRATION_TOOLS = ("sql", "prisma", "laravel", "alembic")
#: Managed snapshots pgwarden can take (see :mod:`pgwarden.snapshots`).
SNAPSHOT_PROVIDERS = ("rds", "aurora")
DEFAULT_MIGRATION_PATHS = {
    "sql": "migrations",
    "prisma": "prisma/migrations",
    "laravel": "database/migrations",
    "alembic": "alembic.ini",
}


# --- how one YAML scalar/sequence/mapping becomes a Python value ------------------------------

Reader = Callable[[yaml.Node, str, "_Ctx"], Any]


@dataclass
class _Ctx:
    file: str

    def error(self, node: yaml.Node | None, key: str, expected: str, got: str | None = None) -> ConfigError:
        where = f"{self.file}"
        if node is not None:
            where += f":{node.start_mark.line + 1}"
        message = f"{where}: {key}: expected {expected}"
        if got is not None:
            message += f", got {got}"
        return ConfigError(message)


def _scalar(node: yaml.Node, key: str, ctx: _Ctx, expected: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, key, expected, got="a " + ("list" if isinstance(node, yaml.SequenceNode) else "mapping"))
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def read_str(node: yaml.Node, key: str, ctx: _Ctx) -> str:
    value = _scalar(node, key, ctx, "a string")
    if value is None:
        raise ctx.error(node, key, "a string", got="nothing")
    if isinstance(value, (dict, list)):
        raise ctx.error(node, key, "a string")
    return str(value)


def read_int(node: yaml.Node, key: str, ctx: _Ctx) -> int:
    value = _scalar(node, key, ctx, "a whole number")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ctx.error(node, key, "a whole number >= 0", got=repr(value))
    return value


def read_float(node: yaml.Node, key: str, ctx: _Ctx) -> float:
    value = _scalar(node, key, ctx, "a number")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ctx.error(node, key, "a number >= 0", got=repr(value))
    return float(value)


def read_bool(node: yaml.Node, key: str, ctx: _Ctx) -> bool:
    value = _scalar(node, key, ctx, "true or false")
    if not isinstance(value, bool):
        raise ctx.error(node, key, "true or false", got=repr(value))
    return value


def read_duration(node: yaml.Node, key: str, ctx: _Ctx) -> float:
    value = _scalar(node, key, ctx, DURATION_HELP)
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        raise ctx.error(node, key, DURATION_HELP, got=repr(value)) from None


def one_of(*choices: str) -> Reader:
    def read(node: yaml.Node, key: str, ctx: _Ctx) -> str:
        value = read_str(node, key, ctx)
        if value not in choices:
            raise ctx.error(node, key, "one of " + ", ".join(choices), got=repr(value))
        return value

    return read


def snapshot_provider(node: yaml.Node, key: str, ctx: _Ctx) -> str:
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


def list_of(item: Reader) -> Reader:
    def read(node: yaml.Node, key: str, ctx: _Ctx) -> list[Any]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise ctx.error(node, key, "a list")
        return [item(child, f"{key}[{i}]", ctx) for i, child in enumerate(node.value)]

    return read


def section(cls: type) -> Reader:
    def read(node: yaml.Node, key: str, ctx: _Ctx) -> Any:
        return _read_dataclass(cls, node, key, ctx)

    return read


def opt(reader: Reader, default: Any = None, *, doc: str = "") -> Any:
    """A field read by ``reader``; ``default`` when absent."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"reader": reader, "doc": doc})
    return field(default=default, metadata={"reader": reader, "doc": doc})


def sub(cls: type, *, doc: str = "") -> Any:
    """A nested section, all defaults when absent."""
    return field(default_factory=cls, metadata={"reader": section(cls), "doc": doc})


def _yaml_key(name: str) -> str:
    return name


def _read_dataclass(cls: type, node: yaml.Node, key: str, ctx: _Ctx) -> Any:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return cls()
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(node, key or "(top level)", "a mapping of keys to values")
    fields = {_yaml_key(f.name): f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        name = key_node.value
        dotted = f"{key}.{name}" if key else name
        if name not in fields:
            close = difflib.get_close_matches(str(name), list(fields), n=1)
            if close:
                raise ctx.error(key_node, dotted, f"a known key (did you mean {close[0]!r}?)", got="an unknown key")
            allowed = ", ".join(sorted(fields))
            raise ctx.error(key_node, dotted, f"one of the known keys ({allowed})", got="an unknown key")
        if name in values:
            raise ctx.error(key_node, dotted, "each key once", got="a duplicate")
        values[name] = fields[name].metadata["reader"](value_node, dotted, ctx)
    instance = cls(**values)
    validate = getattr(instance, "_validate", None)
    if validate is not None:
        validate(node, key, ctx)
    return instance


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
    days: int | None = opt(read_int, 30)
    keep_last: int = opt(read_int, 5)


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
    format: str = opt(one_of("custom", "directory"), "custom")
    jobs: int = opt(read_int, 2)
    compress: str | None = opt(read_str, None, doc="zstd, lz4, gzip[:level] or none")
    retention: Retention = sub(Retention)
    snapshot: SnapshotConfig = sub(SnapshotConfig)
    max_age: float = opt(read_duration, 6 * 3600.0, doc="deploy accepts a verified backup this recent")
    endpoint_url: str | None = opt(read_str, None, doc="S3-compatible endpoint")
    region: str | None = opt(read_str, None)
    sse: str | None = opt(one_of("AES256", "aws:kms"), None)
    kms_key_id: str | None = opt(read_str, None)
    exclude_tables: list[str] = opt(list_of(read_str), [])


@dataclass
class Hooks:
    pre: str | None = opt(read_str, None)
    post: str | None = opt(read_str, None)
    on_failure: str | None = opt(read_str, None)


@dataclass
class DeployConfig:
    lock_timeout: float = opt(read_duration, 5.0)
    statement_timeout: float = opt(read_duration, 15 * 60.0)
    retries: int = opt(read_int, 3)
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

    def _validate(self, node: yaml.Node, key: str, ctx: _Ctx) -> None:
        if not self.rule:
            raise ctx.error(node, f"{key}.rule", "the id of the rule to ignore")


@dataclass
class RiskConfig:
    fail_on: str = opt(one_of(*SEVERITY_NAMES, "never"), "high")
    ignore: list[IgnoreEntry] = opt(list_of(section(IgnoreEntry)), [])
    statement_timeout: float = opt(read_duration, 5.0, doc="limit for the live-context queries")


@dataclass
class VerifyCheck:
    name: str = opt(read_str, "")
    sql: str = opt(read_str, "")
    expect: str | None = opt(read_str, None, doc="expected value; without it the query must return true")

    def _validate(self, node: yaml.Node, key: str, ctx: _Ctx) -> None:
        if not self.name:
            raise ctx.error(node, f"{key}.name", "a name for the check")
        if not self.sql:
            raise ctx.error(node, f"{key}.sql", "a SQL query")


@dataclass
class VerifyConfig:
    checks: list[VerifyCheck] = opt(list_of(section(VerifyCheck)), [])
    health_urls: list[str] = opt(list_of(read_str), [])
    health_timeout: float = opt(read_duration, 10.0)
    health_retries: int = opt(read_int, 3)
    row_count_tolerance: float = opt(read_float, 0.05, doc="allowed relative row-count drift (0.05 = 5%)")


@dataclass
class RestoreConfig:
    rto: float = opt(read_duration, 30 * 60.0)
    jobs: int = opt(read_int, 2)
    analyze: bool = opt(read_bool, True)


@dataclass
class DrillConfig:
    max_age: float = opt(read_duration, 26 * 3600.0)


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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read the config file ({exc.strerror})") from None
    return parse_settings(text, display, base_dir=str(path.parent))


def parse_settings(text: str, display: str, base_dir: str = ".") -> Settings:
    ctx = _Ctx(display)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{display}{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display}: not valid YAML: {exc}") from None
    if node is None:
        settings = Settings()
    else:
        settings = _read_dataclass(Settings, node, "", ctx)
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
