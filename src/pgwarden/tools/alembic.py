"""The ``alembic`` tool: revisions from ``alembic history``, SQL from offline mode, state from ``alembic_version``.

``migrations.path`` is the project's ``alembic.ini``. Alembic runs as a child process (the
project's own ``env.py`` and revision modules are never imported into pgwarden):

- ``alembic history --verbose``: every revision, its parents and its file;
- ``alembic upgrade <current>:head --sql``: the SQL of the pending revisions, split per revision
  at Alembic's ``-- Running upgrade A -> B`` markers. Alembic's own bookkeeping
  (``alembic_version``) is left out; its ``BEGIN;``/``COMMIT;`` are kept around each revision,
  because PostgreSQL runs the revision inside that transaction (which matters for
  ``CREATE INDEX CONCURRENTLY``, unless the revision uses ``autocommit_block``);
- ``alembic_version``: the applied head(s); everything they descend from is applied.

Alembic runs a revision inside a transaction and records it in the same transaction, so a
failed revision leaves no trace: there is no failed state to read.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgwarden.config import Settings
from pgwarden.errors import ConfigError, OperationFailed
from pgwarden.names import TOOL_HISTORY_TABLES
from pgwarden.records import Migration, MigrationStatus
from pgwarden.tools.base import history_sql, sha256_file
from pgwarden.tools.external import CommandResult, ExternalTool, python_tool, target_of

if TYPE_CHECKING:
    import psycopg

    from pgwarden.pg.connection import DatabaseTarget

# psycopg (half of pgwarden's start-up) loads where the database is used: a static plan needs none of it.

_MARKER = re.compile(r"^-- Running upgrade (?P<down>[^\s]*) -> (?P<up>[^\s,]+)", re.M)
_BOOKKEEPING = re.compile(
    r"^\s*(?:insert\s+into|update|delete\s+from|create\s+table|drop\s+table)\s+alembic_version\b", re.I
)
_TX_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT)\s*;\s*$", re.I | re.M)


@dataclass
class Revision:
    """One revision as ``alembic history --verbose`` lists it."""

    revision: str
    parents: list[str] = field(default_factory=list)
    path: str = ""

    @property
    def name(self) -> str:
        """The file's stem (``<rev>_<slug>``), the name users recognise; the id when unknown."""
        return Path(self.path).stem if self.path else self.revision


def parse_history(text: str) -> list[Revision]:
    """Revisions of ``alembic history --verbose``, oldest first."""
    revisions: list[Revision] = []
    current: Revision | None = None
    for line in text.splitlines():
        if line.startswith("Rev: "):
            rev = line[5:].split()[0]
            current = Revision(revision=rev)
            revisions.append(current)
        elif current is not None and line.startswith(("Parent: ", "Merges: ")):
            value = line.split(":", 1)[1].strip()
            current.parents = [] if value == "<base>" else [p.strip() for p in value.split(",") if p.strip()]
        elif current is not None and line.startswith("Path: "):
            current.path = line[6:].strip()
    revisions.reverse()
    return revisions


def split_offline_sql(text: str) -> dict[str, str]:
    """SQL per revision id from ``alembic upgrade --sql`` output, without version bookkeeping."""
    result: dict[str, str] = {}
    markers = list(_MARKER.finditer(text))
    in_transaction = _transaction_state(text[: markers[0].start()] if markers else text, False)
    for i, marker in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        body = text[marker.end() : end]
        chunks = [c for c in re.split(r"\n\s*\n", body) if c.strip() and not _BOOKKEEPING.match(c)]
        started_in_transaction = in_transaction
        in_transaction = _transaction_state(body, in_transaction)
        if i + 1 == len(markers):
            # The run's final COMMIT belongs to the last revision; nothing follows it.
            chunks = _drop_trailing_commit(chunks)
        sql = "\n\n".join(c.strip("\n") for c in chunks)
        if started_in_transaction:
            sql = "BEGIN;\n\n" + sql
        if in_transaction or (i + 1 == len(markers) and started_in_transaction):
            sql += "\n\nCOMMIT;"
        result[marker.group("up")] = sql.strip() + "\n"
    return result


def _drop_trailing_commit(chunks: list[str]) -> list[str]:
    if chunks and _TX_CONTROL.fullmatch(chunks[-1].strip()) and chunks[-1].strip().upper().startswith("COMMIT"):
        return chunks[:-1]
    return chunks


def _transaction_state(text: str, state: bool) -> bool:
    for match in _TX_CONTROL.finditer(text):
        state = match.group(1).upper() == "BEGIN"
    return state


class AlembicTool(ExternalTool):
    name = "alembic"
    history_table = TOOL_HISTORY_TABLES[name]
    default_command = "alembic upgrade head"

    def __init__(self, settings: Settings, ini: Path | None = None) -> None:
        super().__init__(settings)
        self.ini = ini or settings.migrations_path

    # --- running alembic -------------------------------------------------------------------

    def _check_ini(self) -> Path:
        if not self.ini.is_file():
            raise ConfigError(
                f"{self.settings.source or 'pgwarden.yml'}: migrations.path: expected the project's "
                f"alembic.ini, but {self.ini} is not a file"
            )
        return self.ini.resolve()

    def cwd(self) -> Path:
        configured = self.settings.migrations.working_directory
        if configured:
            return self.settings.resolve_path(configured)
        # script_location is often relative to the folder of alembic.ini.
        return self._check_ini().parent

    def _alembic(self, *args: str, target: DatabaseTarget | None, what: str) -> CommandResult:
        ini = self._check_ini()
        result = self.run(
            [*python_tool("alembic"), "-c", str(ini), *args], target=target, what=what, separate_stderr=True
        )
        if not result.ok:
            tail = "\n".join((result.errors or result.output).strip().splitlines()[-10:])
            raise OperationFailed(
                f"{what}: `alembic {' '.join(args)}` exited with code {result.returncode}"
                + (f":\n{tail}" if tail else ""),
                hint=f"run it yourself in {self.cwd()} to see the whole error",
            )
        return result

    def revisions(self) -> list[Revision]:
        return parse_history(self._alembic("history", "--verbose", target=None, what="alembic history").output)

    # --- reading ---------------------------------------------------------------------------

    def _revision_path(self, path: str) -> str:
        # A revision alembic lists without a file is shown as the project's alembic.ini.
        return self.display(Path(path)) if path else str(self.ini)

    def current(self, conn: psycopg.Connection[Any]) -> list[str]:
        """The revision id(s) in ``alembic_version``."""
        from pgwarden.pg.connection import table_exists
        if not table_exists(conn, self.history_table):
            return []
        query = history_sql("select version_num from {table}", self.history_table)
        return [str(r[0]) for r in conn.execute(query).fetchall()]

    def _statuses(self, revisions: list[Revision], current: list[str]) -> dict[str, MigrationStatus]:
        parents = {r.revision: r.parents for r in revisions}
        applied: set[str] = set()
        stack = list(current)
        while stack:
            rev = stack.pop()
            if rev in applied:
                continue
            applied.add(rev)
            stack.extend(parents.get(rev, []))
        return {
            r.revision: MigrationStatus.APPLIED if r.revision in applied else MigrationStatus.PENDING for r in revisions
        }

    def _migration(self, revision: Revision, status: MigrationStatus, sql: str | None = None) -> Migration:
        path = Path(revision.path) if revision.path else None
        checksum = sha256_file(path) if path is not None and path.is_file() else None
        return Migration(
            name=revision.name, path=self._revision_path(revision.path), status=status, checksum=checksum, sql=sql
        )

    def migrations(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        revisions = self.revisions()
        statuses = self._statuses(revisions, self.current(conn) if conn is not None else [])
        return [self._migration(r, statuses[r.revision]) for r in revisions]

    def pending(self, conn: psycopg.Connection[Any] | None) -> list[Migration]:
        revisions = self.revisions()
        current = self.current(conn) if conn is not None else []
        statuses = self._statuses(revisions, current)
        todo = [r for r in revisions if statuses[r.revision] is MigrationStatus.PENDING]
        if not todo:
            return []
        if len(current) > 1:
            raise OperationFailed(
                f"alembic_version holds several heads ({', '.join(current)}); pgwarden plans one line of "
                "history at a time",
                hint="merge the branches (alembic merge heads) or plan the revision files' SQL as PATHs",
            )
        span = f"{current[0]}:heads" if current else "heads"
        target = target_of(conn) if conn is not None else None
        output = self._alembic("upgrade", span, "--sql", target=target, what="alembic offline SQL").output
        per_revision = split_offline_sql(output)
        return [self._migration(r, MigrationStatus.PENDING, per_revision.get(r.revision, "")) for r in todo]

    def failed(self, conn: psycopg.Connection[Any]) -> list[Migration]:
        # A failed revision rolls back together with its alembic_version update.
        return []

    def recorded(self, conn: psycopg.Connection[Any]) -> list[str]:
        # alembic_version holds only the head(s); a head whose script is gone is the case to catch.
        names = {r.revision: r.name for r in self.revisions()}
        return [names.get(revision, revision) for revision in self.current(conn)]

    def resolve_hint(self, name: str) -> str:
        revision = name.split("_", 1)[0]
        return (
            f"alembic current (then either fix {name} and run alembic upgrade head, or, if it was applied "
            f"by hand, alembic stamp {revision})"
        )

    def head(self, conn: psycopg.Connection[Any]) -> str | None:
        current = self.current(conn)
        if not current:
            return None
        if len(current) > 1:
            return ",".join(sorted(current))
        return current[0]

    def history_state(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        return [{"version_num": rev} for rev in self.current(conn)]

    # --- changing --------------------------------------------------------------------------

    def command(self) -> str:
        if self.settings.migrations.command:
            return self.settings.migrations.command
        return f"alembic -c {shlex.quote(str(self._check_ini()))} upgrade head"
