"""docs/github-actions.md stays true: its reference tables match the reusable workflows, the example
callers match what they call, its links resolve, and its read-only role SQL really lets
``pgwarden plan`` read live data (run against a real server, as a user would paste it)."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.fix_cli import CliResult
from tests.fix_pg import PgServer
from tests.fix_project import write_sql_project

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "github-actions.md"
WORKFLOWS = ROOT / ".github" / "workflows"
EXAMPLES = ROOT / "examples" / "workflows"
REUSABLE = ("migrate", "backup", "restore", "drill")
OUR_WORKFLOW = re.compile(r"^pgwarden/pgwarden/\.github/workflows/(\w+)\.yml@")
LEVELS = {"none": 0, "read": 1, "write": 2}


def _doc() -> str:
    return DOC.read_text()


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line) up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n") + len(heading) + 1
    nxt = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, start)
    return text[start: nxt.start() if nxt else len(text)]


def _workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    return data


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    on: dict[str, Any] = workflow.get(True) or workflow.get("on") or {}  # PyYAML reads `on:` as True
    return on


# --- the reference tables ---------------------------------------------------------------------------


def _expected_default(spec: dict[str, Any]) -> str:
    if spec.get("required"):
        return "required"
    value = spec.get("default")
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None or value == "":
        return "`''`"
    return f"`{value}`"


def _declared(name: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> the default cell the table must show, for every input, secret and output."""
    on = _triggers(_workflow(name))
    declared: dict[tuple[str, str], str] = {}
    for trigger in ("workflow_call", "workflow_dispatch"):
        for key, spec in ((on.get(trigger) or {}).get("inputs") or {}).items():
            declared[("input", key)] = _expected_default(spec or {})
    call = on.get("workflow_call") or {}
    for key, spec in (call.get("secrets") or {}).items():
        declared[("secret", key)] = "required" if (spec or {}).get("required") else "optional"
    for key in call.get("outputs") or {}:
        declared[("output", key)] = ""
    return declared


def _table(name: str) -> dict[tuple[str, str], str]:
    section = _section(_doc(), f"### `{name}.yml`")
    rows: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 4:
            rows[(cells[1], cells[0].strip("`"))] = cells[2]
    return rows


@pytest.mark.parametrize("name", REUSABLE)
def test_reference_table_lists_exactly_what_the_workflow_declares(name: str) -> None:
    declared, documented = _declared(name), _table(name)
    missing = sorted(set(declared) - set(documented))
    stale = sorted(set(documented) - set(declared))
    assert not missing, f"docs/github-actions.md, ### `{name}.yml`: add rows for {missing}"
    assert not stale, f"docs/github-actions.md, ### `{name}.yml`: {name}.yml no longer declares {stale}"
    wrong = {key: (documented[key], want) for key, want in declared.items() if documented[key] != want}
    assert not wrong, f"docs/github-actions.md, ### `{name}.yml`: default cells (shown, declared): {wrong}"


# --- the example callers ------------------------------------------------------------------------------


@dataclass
class Call:
    example: str
    job: str
    workflow: str
    caller: dict[str, Any]
    job_spec: dict[str, Any]


def _calls() -> list[Call]:
    calls = []
    for path in sorted(EXAMPLES.glob("*.yml")):
        caller = yaml.safe_load(path.read_text())
        for job, spec in caller["jobs"].items():
            match = OUR_WORKFLOW.match(spec.get("uses", ""))
            if match:
                calls.append(Call(path.name, job, match.group(1), caller, spec))
    return calls


def test_every_example_calls_a_reusable_workflow() -> None:
    called = {c.example for c in _calls()}
    assert called == {p.name for p in EXAMPLES.glob("*.yml")}
    assert {c.workflow for c in _calls()} == set(REUSABLE)


@pytest.mark.parametrize("call", _calls(), ids=lambda c: f"{c.example}:{c.job}")
def test_example_passes_only_what_its_workflow_declares(call: Call) -> None:
    declared = _triggers(_workflow(call.workflow))["workflow_call"]
    inputs, secrets_ = declared.get("inputs") or {}, declared.get("secrets") or {}
    given = call.job_spec.get("with") or {}
    unknown = sorted(set(given) - set(inputs))
    assert not unknown, f"examples/workflows/{call.example}: {call.workflow}.yml has no inputs {unknown}"
    lacking = sorted(k for k, s in inputs.items() if (s or {}).get("required") and k not in given)
    assert not lacking, f"examples/workflows/{call.example}: required inputs {lacking} not given"
    passed = call.job_spec.get("secrets") or {}
    if passed == "inherit":
        return
    unknown = sorted(set(passed) - set(secrets_))
    assert not unknown, f"examples/workflows/{call.example}: {call.workflow}.yml declares no secrets {unknown}"
    lacking = sorted(k for k, s in secrets_.items() if (s or {}).get("required") and k not in passed)
    assert not lacking, f"examples/workflows/{call.example}: required secrets {lacking} not passed"


def _level(permissions: Any, scope: str) -> int:
    if permissions in ("read-all", "write-all"):
        return LEVELS[permissions.split("-")[0]]
    return LEVELS[(permissions or {}).get(scope, "none")]


@pytest.mark.parametrize("call", _calls(), ids=lambda c: f"{c.example}:{c.job}")
def test_example_grants_what_the_called_jobs_ask_for(call: Call) -> None:
    # A reusable workflow's jobs can only narrow the caller's permissions; GitHub refuses to start
    # a run whose called job asks for more ("is requesting 'actions: read', but is only allowed 'none'").
    granted = call.job_spec.get("permissions", call.caller.get("permissions"))
    short = []
    for job, spec in _workflow(call.workflow)["jobs"].items():
        for scope, level in (spec.get("permissions") or {}).items():
            if LEVELS[level] > _level(granted, scope):
                short.append(f"{job} needs {scope}: {level}")
    assert not short, f"examples/workflows/{call.example}: grant {short}"


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)


def test_the_sql_caller_in_the_doc_is_the_example_file() -> None:
    caller = yaml.safe_load(_yaml_blocks(_section(_doc(), "### Plain SQL"))[0])
    assert caller == yaml.safe_load((EXAMPLES / "migrate-sql.yml").read_text())


@pytest.mark.parametrize(("heading", "example"), [("### Prisma", "migrate-prisma.yml"),
                                                  ("### Laravel", "migrate-laravel.yml")])
def test_the_with_block_in_the_doc_is_the_example_files(heading: str, example: str) -> None:
    shown = yaml.safe_load(_yaml_blocks(_section(_doc(), heading))[0])["with"]
    jobs = yaml.safe_load((EXAMPLES / example).read_text())["jobs"]
    assert [spec["with"] for spec in jobs.values()] == [shown]


# --- links ---------------------------------------------------------------------------------------------


def _anchors(text: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S), re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


def test_every_link_of_the_doc_resolves() -> None:
    text = _doc()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith("http"):
            continue
        path, _, anchor = target.partition("#")
        file = (DOC.parent / path).resolve() if path else DOC
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text()):
            broken.append(target)
    assert not broken, f"docs/github-actions.md: links to nothing: {broken}"


def test_every_test_the_doc_names_exists() -> None:
    named = re.findall(r"(tests/[\w/]+\.py)::(\w+)", _doc())
    assert len(named) > 10
    missing = [f"{path}::{name}" for path, name in named
               if not (ROOT / path).exists() or not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M)]
    assert not missing, f"docs/github-actions.md names tests that do not exist: {missing}"


def test_every_example_is_linked_from_the_doc() -> None:
    text = _doc()
    unlinked = [p.name for p in EXAMPLES.glob("*.yml") if f"(../examples/workflows/{p.name})" not in text]
    assert not unlinked, f"docs/github-actions.md: link the examples {unlinked}"


# --- the read-only role of "Live data for the review", for real ---------------------------------------


def _role_sql_blocks() -> list[str]:
    section = _section(_doc(), "## Live data for the review")
    blocks = [re.sub(r"^ {2}", "", b, flags=re.M) for b in re.findall(r"```sql\n(.*?)```", section, re.S)]
    assert len(blocks) == 3, "expected the role SQL and its two variants"
    return blocks


@dataclass
class Shop:
    server: PgServer
    name: str
    owner: str
    owner_url: str
    project: Path


@pytest.fixture
def shop(pg_server: PgServer, tmp_path: Path, cli: Callable[..., CliResult]) -> Iterator[Shop]:
    """A database owned by the role that runs the migrations, with one migration applied."""
    suffix = uuid.uuid4().hex[:8]
    owner, name, password = f"app_{suffix}", f"shop_{suffix}", "Pw-" + secrets.token_hex(8)
    with pg_server.admin() as conn:
        conn.execute(f"create role {owner} login password '{password}'")
        conn.execute(f"create database {name} owner {owner}")
    write_sql_project(tmp_path, {
        "0001_users": "create table users (id int primary key, email text);\n"
                      "insert into users select g, 'u' || g from generate_series(1, 5000) g;\n",
    })
    shop = Shop(pg_server, name, owner, pg_server.url_for(name, user=owner, password=password), tmp_path)
    try:
        _deploy(cli, shop)
        yield shop
    finally:
        with pg_server.admin() as conn:
            conn.execute(f"drop database if exists {name} with (force)")
            for role in conn.execute("select rolname from pg_roles where rolname like %s", (f"%{suffix}",)):
                conn.execute(f"drop owned by {role[0]}")  # the grants on other databases (pg_read_all_data: none)
                conn.execute(f"drop role {role[0]}")


def _deploy(cli: Callable[..., CliResult], shop: Shop) -> None:
    done = cli("deploy", "--no-backup", "--reason", "test set-up", cwd=shop.project,
               env={"DATABASE_URL": shop.owner_url})
    assert done.code == 0, done.output


@pytest.mark.parametrize("variant", [0, 1, 2], ids=["schema-grants", "pg_read_all_data", "history-only"])
def test_the_documented_read_only_role_gives_plan_live_data(
    shop: Shop, cli: Callable[..., CliResult], variant: int
) -> None:
    role, password = f"pgwarden_plan_{shop.owner[4:]}", "Pw-" + secrets.token_hex(8)
    sql = _role_sql_blocks()[variant]
    sql = re.sub(r"\bpgwarden_plan\b", role, sql)
    sql = re.sub(r"\bshop\b", shop.name, re.sub(r"\bapp\b", shop.owner, sql))
    sql = sql.replace("'a-long-random-password'", f"'{password}'")
    with psycopg.connect(shop.server.url_for(shop.name), autocommit=True) as conn:
        conn.execute(sql)  # pasted as written, connected to the database, as the doc says
    # A table the migrations create after the role exists: the default privileges must cover it.
    (shop.project / "migrations" / "0002_orders.sql").write_text(
        "create table orders (id int primary key, note text);\n"
        "insert into orders select g, 'n' from generate_series(1, 3000) g;\n")
    _deploy(cli, shop)
    with psycopg.connect(shop.server.url_for(shop.name), autocommit=True) as conn:
        conn.execute("analyze")  # production tables have planner statistics; a fresh test table may not yet
    (shop.project / "migrations" / "0003_drop_note.sql").write_text("alter table orders drop column note;\n")

    url = shop.server.url_for(shop.name, user=role, password=password)
    planned = cli("plan", "--format", "json", cwd=shop.project, env={"DATABASE_URL": url})
    assert planned.code in (0, 3), planned.output
    report = json.loads(planned.stdout)
    assert [(m["name"], m["status"]) for m in report["migrations"]] == [("0003_drop_note", "pending")]
    drop = next(f for f in report["findings"] if f["rule"] == "drop-column")
    assert drop["context"]["rows"] == 3000, drop
    if variant == 2:  # no SELECT on the rows: sizes from the catalog, no count of the column's values
        assert "non_null" not in drop["context"], drop
    else:
        assert drop["context"].get("non_null") == 3000, drop

    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.Error, match=r"read-only transaction|permission denied"):
            conn.execute("insert into users values (0, 'x')")


def test_the_documented_backup_and_drill_roles_back_up_and_drill(
    shop: Shop, cli: Callable[..., CliResult]
) -> None:
    section = _section(_doc(), "## Scheduled backups and retention")
    (sql,) = re.findall(r"```sql\n(.*?)```", section, re.S)
    role, password = f"pgwarden_backup_{shop.owner[4:]}", "Pw-" + secrets.token_hex(8)
    sql = re.sub(r"\bpgwarden_backup\b", role, re.sub(r"\bapp\b", shop.owner, sql))
    with psycopg.connect(shop.server.url_for(shop.name), autocommit=True) as conn:
        conn.execute(sql.replace("'a-long-random-password'", f"'{password}'"))
    backup_url = shop.server.url_for(shop.name, user=role, password=password)

    backed_up = cli("backup", cwd=shop.project, env={"DATABASE_URL": backup_url})
    assert backed_up.code == 0, backed_up.output
    drilled = cli("drill", cwd=shop.project, env={"DATABASE_URL": shop.owner_url})
    assert drilled.code == 0, drilled.output
    with psycopg.connect(backup_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.Error, match=r"permission denied"):
            conn.execute("insert into users values (0, 'x')")
