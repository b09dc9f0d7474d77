"""A config fuzz through the real CLI (#13 item 10): mutations of a valid pgwarden.yml.

Every mutation must stop ``pgwarden plan`` with exit 2 and a message naming the file (and line)
and the key, saying what is expected: never a traceback, never accepted silently. Two kinds:

- ``STRUCTURAL``: hand-written documents that break the file itself (complex keys, 5,000-deep
  nesting, binary junk, UTF-16, ``!!python/...`` tags, NUL bytes, several documents...);
- a seeded sample of (key, bad value) pairs: each key of the valid file given a value of the
  wrong kind for it (a date where a duration goes, ``30d`` beyond PostgreSQL's int, ``1.0e+300``,
  ``.nan``, ``.inf``, a tag, a list...). The seed is fixed, so a failure reproduces.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fix_cli import CliResult

Cli = Callable[..., CliResult]
SEED = 1310

#: The valid file: (dotted key, YAML literal), grouped by section in file order.
BASE: list[tuple[str, str]] = [
    ("environment", "staging"),
    ("database_url_env", "DATABASE_URL"),
    ("migrations.tool", "sql"),
    ("migrations.path", "migrations"),
    ("backup.store", "file://./backups"),
    ("backup.format", "custom"),
    ("backup.jobs", "2"),
    ("backup.compress", "zstd"),
    ("backup.max_age", "6h"),
    ("backup.exclude_tables", "[audit_log]"),
    ("backup.retention.days", "30"),
    ("backup.retention.keep_last", "5"),
    ("backup.snapshot.timeout", "1h"),
    ("deploy.lock_timeout", "5s"),
    ("deploy.statement_timeout", "15min"),
    ("deploy.retries", "3"),
    ("deploy.retry_backoff", "2s"),
    ("deploy.max_blocking", "1s"),
    ("deploy.lock_wait", "60s"),
    ("deploy.preflight_wait", "0s"),
    ("deploy.protected_environments", "[production, prod]"),
    ("deploy.audit_log", ".pgwarden/audit.jsonl"),
    ("deploy.approval", "environment"),
    ("deploy.approvers", "[alice]"),
    ("deploy.hooks.pre", "echo pre"),
    ("risk.fail_on", "high"),
    ("risk.statement_timeout", "5s"),
    ("verify.health_timeout", "10s"),
    ("verify.health_retries", "3"),
    ("verify.row_count_tolerance", "0.05"),
    ("restore.rto", "30min"),
    ("restore.jobs", "2"),
    ("restore.analyze", "true"),
    ("drill.max_age", "26h"),
    ("report.dir", ".pgwarden/reports"),
]

TAGS = ["!!python/object/apply:os.system [touch pwned]", "!!binary aGVsbG8=", "!Ref other", "[1, 2]", "{a: 1}"]
DURATION = ["2024-01-01", "2024-01-01 10:00:00", "2024-02-30", "1.0e+300", ".nan", ".inf", "-.inf", "-5s",
            "5 fortnights", "true", "~", "'99999999999999999999999999999999999999999d'", "400d", "1e3s"]
PG_TIMEOUT = [*DURATION, "30d", "25d", "0", "0ms", "0.0001s", "2147484s"]
WHOLE = ["1.0e+300", ".nan", ".inf", "99999999999999999999999", "-1", "true", "3.5", "'3'", "2024-01-01", "~"]
JOBS = [*WHOLE, "0", "1000"]
FRACTION = [".nan", ".inf", "-.inf", "1.0e+300", "-0.1", "1.5", "true", "'0.05'", "2024-01-01"]
BOOLEAN = ["'yes'", "1", "2024-01-01", ".nan", "maybe"]
TEXT = ["true", "no", "~", '"a\\0b"', '"\\ud800x"']
CHOICE = ["HIGH", "[high]", "1", "true", ".nan"]
TEXT_LIST = ["prod", "[[a]]", "[true]", "[~]", "!!python/tuple [a]", "[{a: 1}]"]

KINDS: dict[str, list[str]] = {
    **dict.fromkeys(["deploy.lock_timeout", "deploy.statement_timeout", "risk.statement_timeout"], PG_TIMEOUT),
    **dict.fromkeys(["backup.max_age", "backup.snapshot.timeout", "deploy.retry_backoff", "deploy.max_blocking",
                     "deploy.lock_wait", "deploy.preflight_wait", "verify.health_timeout", "restore.rto",
                     "drill.max_age"], DURATION),
    **dict.fromkeys(["backup.jobs", "restore.jobs"], JOBS),
    **dict.fromkeys(["deploy.retries", "verify.health_retries", "backup.retention.days",
                     "backup.retention.keep_last"], WHOLE),
    "verify.row_count_tolerance": FRACTION,
    "restore.analyze": BOOLEAN,
    **dict.fromkeys(["environment", "database_url_env", "migrations.path", "backup.store", "backup.compress",
                     "deploy.audit_log", "deploy.hooks.pre", "report.dir"], TEXT),
    **dict.fromkeys(["migrations.tool", "backup.format", "deploy.approval", "risk.fail_on"], CHOICE),
    **dict.fromkeys(["backup.exclude_tables", "deploy.protected_environments", "deploy.approvers"], TEXT_LIST),
}
#: Lists take none of the scalar tags' meaning, so they get their own bad values only.
ALL_PAIRS = sorted(
    (key, value)
    for key, values in KINDS.items()
    for value in values + (TAGS if values is not TEXT_LIST else TAGS[:3])
)


def render(values: list[tuple[str, str]]) -> tuple[str, dict[str, int]]:
    """The YAML text of ``values`` and the line of each key."""
    lines: list[str] = []
    opened: set[str] = set()
    line_of: dict[str, int] = {}
    for dotted, literal in values:
        parts = dotted.split(".")
        for depth in range(len(parts) - 1):
            prefix = ".".join(parts[: depth + 1])
            if prefix not in opened:
                lines.append("  " * depth + parts[depth] + ":")
                opened.add(prefix)
        lines.append("  " * (len(parts) - 1) + f"{parts[-1]}: {literal}")
        line_of[dotted] = len(lines)
    return "\n".join(lines) + "\n", line_of


BASE_TEXT, BASE_LINES = render(BASE)
JUNK = random.Random(SEED).randbytes(300)

#: (id, file contents, what the message must contain besides the file name).
STRUCTURAL: list[tuple[str, str | bytes, list[str]]] = [
    ("complex key in a section", "deploy:\n  ? [a, b]\n  : 1\n",
     ["pgwarden.yml:2: deploy: expected keys that are plain names, got a list as a key"]),
    ("complex key at the top", "? {a: 1}\n: x\n", ["pgwarden.yml:1: (top level): expected keys that are plain names"]),
    ("5000-deep list", "deploy:\n  hooks:\n    pre: " + "[" * 5000 + "]" * 5000 + "\n",
     ["nested too deeply: expected"]),
    ("5000-deep mapping", "{a: " * 5000 + "1" + "}" * 5000 + "\n", ["nested too deeply: expected"]),
    ("binary junk", JUNK, ["expected UTF-8 text, got the byte 0x", "at byte offset"]),
    ("junk after a valid file", BASE_TEXT.encode() + b"\xff\xfe\x00junk\n",
     [f"pgwarden.yml:{BASE_TEXT.count(chr(10)) + 1}: expected UTF-8 text, got the byte 0xff at byte offset"]),
    ("UTF-16 with a byte order mark", BASE_TEXT.encode("utf-16"), ["expected UTF-8 text, got UTF-16"]),
    ("UTF-16 without a byte order mark", BASE_TEXT.encode("utf-16-le"),
     ["pgwarden.yml:1: not valid YAML: expected printable text, got the control character U+0000"]),
    ("NUL byte inside", BASE_TEXT.replace("retries: 3", "retries: 3\x00"),
     [f"pgwarden.yml:{BASE_LINES['deploy.retries']}: not valid YAML: expected printable text"]),
    ("python object for the whole file", "!!python/object:pgwarden.config.Settings {environment: x}\n",
     ["pgwarden.yml:1: (top level): expected a plain YAML value (no tags), "
      "got the tag !!python/object:pgwarden.config.Settings"]),
    ("python call as the whole file", "!!python/object/apply:os.system [touch pwned]\n",
     ["(top level): expected a mapping of keys to values, got a list"]),
    ("python object for a section", "deploy: !!python/object/new:dict {lock_timeout: 5s}\n",
     ["pgwarden.yml:1: deploy: expected a plain YAML value (no tags), got the tag !!python/object/new:dict"]),
    ("python string as a key", "deploy:\n  !!python/str lock_timeout: 5s\n",
     ["pgwarden.yml:2: deploy.lock_timeout: expected a plain YAML value (no tags)"]),
    ("set where a list goes", "deploy:\n  approvers: !!set {alice, bob}\n",
     ["pgwarden.yml:2: deploy.approvers: expected a list, got a mapping"]),
    ("two documents", BASE_TEXT + "---\nenvironment: x\n", ["not valid YAML: expected a single document"]),
    ("tab indentation", "deploy:\n\tretries: 3\n", ["pgwarden.yml:2: not valid YAML"]),
    ("merge key", "deploy:\n  <<: {lock_timeout: 5s}\n", ["pgwarden.yml:2: deploy.<<: expected one of the known keys"]),
    ("recursive alias", "deploy: &d\n  hooks: *d\n", ["deploy.hooks.hooks: expected one of the known keys"]),
    ("aliases of lists in a list", "deploy:\n  approvers: &a [x, x]\n  protected_environments: [*a, *a]\n",
     ["pgwarden.yml:2: deploy.protected_environments[0]: expected a string, got a list"]),
    ("explicit tag YAML cannot build", "deploy:\n  lock_timeout: !!timestamp soon\n",
     ["pgwarden.yml:2: deploy.lock_timeout: expected a duration such as 500ms, 5s, 15min, 2h or 30d, got 'soon'"]),
    ("explicit bool YAML cannot build", "deploy:\n  audit_log: !!bool maybe\n",
     ["pgwarden.yml:2: deploy.audit_log: expected a string, got 'maybe'"]),
    ("a control character in a key", 'deploy:\n  "lock\\e_timeout": 5s\n',
     ["pgwarden.yml:2: deploy.'lock\\x1b_timeout': expected a known key (did you mean 'lock_timeout'?)"]),
    ("a scalar for the whole file", "hello\n", ["(top level): expected a mapping of keys to values, got the value"]),
    ("the brief's lock_timeout: 30d", BASE_TEXT.replace("lock_timeout: 5s", "lock_timeout: 30d"),
     [f"pgwarden.yml:{BASE_LINES['deploy.lock_timeout']}: deploy.lock_timeout: expected a duration",
      "to 2147483647ms", "got '30d'"]),
    ("the brief's retry_backoff: .inf", BASE_TEXT.replace("retry_backoff: 2s", "retry_backoff: .inf"),
     ["deploy.retry_backoff: expected a duration", "got .inf (not a finite number)"]),
    ("the brief's row_count_tolerance: .nan",
     BASE_TEXT.replace("row_count_tolerance: 0.05", "row_count_tolerance: .nan"),
     ["verify.row_count_tolerance: expected a fraction from 0 to 1, got .nan (not a finite number)"]),
    ("the brief's 1.0e+300", BASE_TEXT.replace("retry_backoff: 2s", "retry_backoff: 1.0e+300"),
     ["deploy.retry_backoff: expected a duration", "got '1.0e+300'"]),
    ("the brief's date for a duration", BASE_TEXT.replace("max_blocking: 1s", "max_blocking: 2024-01-01"),
     ["deploy.max_blocking: expected a duration", "got the date 2024-01-01"]),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "add.sql").write_text("create table t (id int);\n")
    return tmp_path


def plan_with(project: Path, contents: str | bytes, cli: Cli) -> CliResult:
    path = project / "pgwarden.yml"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    else:
        path.write_text(contents, encoding="utf-8", errors="surrogatepass")
    return cli("plan", "add.sql", cwd=project)


def test_the_unmutated_file_is_valid(project: Path, cli: Cli) -> None:
    result = plan_with(project, BASE_TEXT, cli)
    assert result.code == 0, result.output


@pytest.mark.parametrize(("contents", "wanted"), [c[1:] for c in STRUCTURAL], ids=[c[0] for c in STRUCTURAL])
def test_a_broken_file_is_exit_2_naming_where(project: Path, cli: Cli, contents: str | bytes,
                                              wanted: list[str]) -> None:
    result = plan_with(project, contents, cli)
    assert result.code == 2, result.output
    assert result.stderr.startswith(f"pgwarden plan: {project / 'pgwarden.yml'}"), result.stderr
    for text in wanted:
        assert text in result.stderr
    assert "Traceback" not in result.output and not (project / "pwned").exists()


SAMPLE = random.Random(SEED).sample(ALL_PAIRS, 48)


@pytest.mark.parametrize(("key", "value"), SAMPLE, ids=[f"{k}={v}" for k, v in SAMPLE])
def test_a_wrong_value_is_exit_2_naming_key_line_and_expectation(project: Path, cli: Cli, key: str,
                                                                  value: str) -> None:
    text, lines = render([(k, value if k == key else v) for k, v in BASE])
    result = plan_with(project, text, cli)
    assert result.code == 2, f"{key}: {value} was accepted:\n{result.output}"
    assert f"pgwarden.yml:{lines[key]}: {key}" in result.stderr, result.stderr
    assert ": expected " in result.stderr and "Traceback" not in result.output
    assert not (project / "pwned").exists()


def test_every_kind_of_value_is_in_the_fuzz() -> None:
    # the sample is a fixed draw; each key must at least be able to be drawn
    assert set(KINDS) == {k for k, _ in BASE}
    assert len(SAMPLE) + len(STRUCTURAL) >= 38


@pytest.mark.parametrize("case", ["5000-deep list", "binary junk", "UTF-16 with a byte order mark",
                                  "python object for the whole file"])
def test_the_installed_cli_prints_no_traceback(project: Path, cli_subprocess: Cli, case: str) -> None:
    contents = next(c[1] for c in STRUCTURAL if c[0] == case)
    path = project / "pgwarden.yml"
    path.write_bytes(contents if isinstance(contents, bytes) else contents.encode())
    result = cli_subprocess("plan", "--format", "json", "add.sql", cwd=project)
    assert result.code == 2 and "Traceback" not in result.output, result.output
    assert '"exit_code": 2' in result.stdout
