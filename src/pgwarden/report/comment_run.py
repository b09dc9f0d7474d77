"""The PR comment's sections about what the migrate job did: approval, failure, backup, deploy, checks, restore.

Pure: the run's records in, markdown lines out. A single target is called by its environment
(``production``), never by the placeholder name ``default``; target names appear only in fleet
mode. The restore command points at the backup taken before *this* deploy (the deploy's own
``backup_id``), and is offered only when the deploy changed something.
"""

from __future__ import annotations

from dataclasses import replace

from pgwarden.durations import format_duration
from pgwarden.records import StepResult
from pgwarden.report.format import cell, check_icon, code, details, error_text, fenced, html, outcome_icon
from pgwarden.report.outcome import Failure, next_steps, what_changed
from pgwarden.report.results import TargetResults, step_error
from pgwarden.units import format_bytes

STEPS = ("plan", "backup", "deploy", "verify")
#: How long a name, a store or a check's name may be in a table cell; summaries and details get more.
NAME_CHARS = 160
SUMMARY_CHARS = 300
_DETAIL_CHARS = 200
_LISTED_MIGRATIONS = 100
#: An error longer than this (or of several lines) is shown in a collapsed block, in full.
_INLINE_ERROR = 200
_OUTPUT_CHARS = 6_000
#: A multi-line error is shown open up to this size, collapsed past it (always in full).
_OPEN_ERROR_CHARS = 2_500
_OPEN_ERROR_LINES = 20


def reason(result: StepResult) -> str:
    """What a step said, one line: its summary, or for a failure its error's kind, message and hint."""
    error = step_error(result)
    if error is None:
        return cell(result.summary, SUMMARY_CHARS)
    return error_text(error, SUMMARY_CHARS)


def target_name(target: TargetResults, targets: list[TargetResults], environment: str) -> str:
    """A code span naming the target: its environment when it is the only one."""
    if len(targets) > 1:
        return code(target.name)
    if environment:
        return code(environment)
    return "the database" if target.name == "default" else code(target.name)


def _who(target: TargetResults, targets: list[TargetResults]) -> str:
    """``**name**: `` before a target's line, in fleet mode only."""
    return f"**{cell(target.name, NAME_CHARS)}**: " if len(targets) > 1 else ""


def approval_section(targets: list[TargetResults], environment: str) -> list[str]:
    """Who approved (from the environment check), or why nobody had to."""
    lines = []
    for t in targets:
        a = t.approval
        if a is None:
            continue
        env = code(a.environment or environment or t.name)
        who = _who(t, targets)
        required = ", ".join(a.required_reviewers)
        if not a.checked:
            lines.append(f"- {who}❔ The approval of {env} could not be read (the job's token needs `actions: read`).")
        elif a.approved_by:
            by = ", ".join(f"@{html(n)}" for n in a.approved_by)
            lines.append(f"- {who}✅ Approved by {by} for {env}" + (f" (required reviewers: {html(required)})."
                                                                    if required else "."))
        elif not a.required_reviewers:
            lines.append(f"- {who}⚠️ {env} has no required reviewers: this deploy ran without anyone's approval. "
                         "Add required reviewers to the environment (Settings → Environments).")
        else:
            lines.append(f"- {who}⏳ Waiting for one of {html(required)} to approve {env}.")
    return ["### Approval", "", *lines] if lines else []


def failures(targets: list[TargetResults]) -> list[tuple[TargetResults, Failure]]:
    """Each target's first failed step (backup, deploy or verify), read as a :class:`Failure`.

    A verify that failed after a deploy that worked carries what that deploy applied.
    """
    found = []
    for t in targets:
        for step in ("backup", "deploy", "verify"):
            result = t.steps.get(step)
            if result is not None and not result.ok:
                failure = Failure.of(result)
                if step == "verify":
                    failure = replace(failure, applied=applied_names(t.steps.get("deploy")))
                found.append((t, failure))
                break
    return found


def failure_section(targets: list[TargetResults], environment: str) -> list[str]:
    """What went wrong (the real error, in full), what changed, and the next step, per failed target."""
    lines: list[str] = []
    for t, f in failures(targets):
        where = target_name(t, targets, environment)
        title = f"### What went wrong{' on ' + where if len(targets) > 1 else ''}"
        lines += [title, "", _error_lines(f), ""]
        if f.hint and f.kind not in ("refused", "usage"):
            lines += [f"**hint:** {cell(f.hint)}", ""]
        if f.output.strip() and _last_line(f.output) not in f.error:
            lines += details(f"Output of {html(f.tool or f.step)} (last lines)",
                             fenced(f.output.strip()[-_OUTPUT_CHARS:], "text"))
        lines += [what_changed(f, where), "", "**Next step**", "", *next_steps(f, where), ""]
    return lines


def _error_lines(f: Failure) -> str:
    """The error in full: inline when short, a code block when it has lines, collapsed when it is long."""
    head = f"❌ **pgwarden {f.step} {'refused' if f.kind == 'refused' else 'failed'}**"
    if f.failed:
        head += f" on `{f.failed}`"
    if len(f.error) <= _INLINE_ERROR and "\n" not in f.error:
        return f"{head}: {cell(f.error)}"
    text = f.error.strip()
    if len(text) <= _OPEN_ERROR_CHARS and text.count("\n") < _OPEN_ERROR_LINES:
        return "\n".join([f"{head}:", "", *fenced(text, "text")])
    block = details(f"The full error ({text.count(chr(10)) + 1} lines)", fenced(text, "text"))
    return "\n".join([f"{head}: {cell(_last_line(text), _INLINE_ERROR)}", "", *block]).rstrip()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def backup_section(targets: list[TargetResults]) -> list[str]:
    rows, failed = [], []
    fleet = len(targets) > 1
    for t in targets:
        b = t.backup
        if b is None:
            result = t.steps.get("backup")
            if result is not None and not result.ok:
                failed.append(f"- {_who(t, targets)}❌ {reason(result)}")
            continue
        size = sum(f.size for f in b.files) if b.files else b.size_bytes
        sha = ", ".join(code(f.sha256[:16] + "…", in_table=True) for f in b.files[:3] if f.sha256) or "?"
        first = cell(t.name, NAME_CHARS) if fleet else cell(b.store or "?", NAME_CHARS)
        rows.append(f"| {first} | {code(b.id, in_table=True)}<br>sha256 {sha} | {format_bytes(size)} "
                    f"| {check_icon(b.verified)} |")
    if not rows and not failed:
        return []
    lines = ["### Backup", ""]
    if rows:
        lines += [f"| {'target' if fleet else 'store'} | id | size | verified |", "|---|---|---|---|", *rows]
    if rows and failed:
        lines.append("")
    return lines + failed


def applied_names(deploy: StepResult | None) -> list[str]:
    applied = deploy.details.get("applied") if deploy is not None else None
    names = []
    for item in applied if isinstance(applied, list) else []:
        names.append(str(item.get("name", item)) if isinstance(item, dict) else str(item))
    return names


def deploy_section(targets: list[TargetResults]) -> list[str]:
    lines: list[str] = []
    for t in targets:
        d = t.steps.get("deploy")
        if d is None:
            continue
        names = applied_names(d)
        if d.ok:
            lines.append(f"- {_who(t, targets)}✅ {cell(d.summary, SUMMARY_CHARS)}")
        elif step_error(d) is not None:
            lines.append(f"- {_who(t, targets)}❌ {reason(d)}")
        else:
            lines.append(f"- {_who(t, targets)}❌ {len(names)} applied before the deploy failed:")
        lines += [f"  - ✅ {code(n)}" for n in names[:_LISTED_MIGRATIONS]]
        if len(names) > _LISTED_MIGRATIONS:
            lines.append(f"  - … and {len(names) - _LISTED_MIGRATIONS} more")
    return ["### Applied migrations", "", *lines] if lines else []


def checks_section(title: str, step: str, targets: list[TargetResults]) -> list[str]:
    lines: list[str] = []
    for t in targets:
        result = t.steps.get(step)
        if result is None:
            continue
        prefix = f"{cell(t.name, NAME_CHARS)} · " if len(targets) > 1 else ""
        lines.append(f"{prefix}{check_icon(result.ok)} {reason(result)}")
        if result.checks:
            lines += ["", "| check | result | detail |", "|---|---|---|"]
            for c in result.checks[:100]:
                lines.append(
                    f"| {cell(c.name, NAME_CHARS)} | {check_icon(c.ok, c.warning)} | {cell(c.detail, _DETAIL_CHARS)} |"
                )
        lines.append("")
    return [f"### {title}", "", *lines] if lines else []


def fleet_table(targets: list[TargetResults]) -> list[str]:
    if len(targets) < 2:
        return []
    lines = ["### Targets", "", "| target | backup | deploy · verify | applied |", "|---|---|---|---|"]
    for t in targets:
        lines.append(
            f"| {cell(t.name, NAME_CHARS)} | {outcome_icon(t.outcome('backup'))} "
            f"| {outcome_icon(t.outcome('deploy'))} · {outcome_icon(t.outcome('verify'))} "
            f"| {len(applied_names(t.steps.get('deploy')))} |"
        )
    return lines


def _duration_of(target: TargetResults, step: str) -> float | None:
    """How long a step took, when it said (a failure document does not)."""
    if step == "backup" and target.backup is not None:
        return target.backup.duration_s
    result = target.steps.get(step)
    if result is None or step_error(result) is not None:
        return None
    return result.duration_s


def timings(targets: list[TargetResults], rto_s: float | None) -> list[str]:
    rows = []
    for t in targets:
        for step in ("backup", "deploy", "verify", "restore", "drill"):
            seconds = _duration_of(t, step)
            if seconds is None:
                continue
            label = f"{t.name} · {step}" if len(targets) > 1 else step
            extra = ""
            if step == "restore" and rto_s:
                within = seconds <= rto_s
                extra = f" (RTO {format_duration(rto_s)}: {'within ✅' if within else 'exceeded ❌'})"
            rows.append(f"| {cell(label, NAME_CHARS)} | {format_duration(seconds)}{extra} |")
    return ["### Timings", "", "| step | duration |", "|---|---|", *rows] if rows else []


def deploy_backup_id(target: TargetResults) -> str | None:
    """The backup taken before this deploy: the one the deploy used, else the job's own backup."""
    deploy = target.steps.get("deploy")
    used = deploy.details.get("backup_id") if deploy is not None else None
    if used:
        return str(used)
    return target.backup.id if target.backup is not None and target.backup.id else None


def changed_database(target: TargetResults) -> bool:
    """The deploy applied something (or may have): only then is a restore worth offering."""
    deploy = target.steps.get("deploy")
    if deploy is None:
        return False
    if deploy.ok:
        return bool(applied_names(deploy))
    return Failure.of(deploy).changed is not False


def restore_command(target: TargetResults, config: str | None) -> str | None:
    backup_id = deploy_backup_id(target)
    if not backup_id:
        return None
    deploy = target.steps.get("deploy")
    database = (deploy.details.get("database") if deploy is not None else None) or (
        target.backup.database if target.backup is not None else None)
    parts = ["pgwarden restore"]
    if config:
        parts.append(f"--config {config}")
    parts.append(f"--backup-id {backup_id} --confirm {database or 'DBNAME'}")
    return " ".join(parts)


def restore_section(targets: list[TargetResults], config: str | None, workflow_url: str | None) -> list[str]:
    commands = []
    for t in targets:
        cmd = restore_command(t, config) if changed_database(t) else None
        if cmd:
            prefix = f"# {t.name}\n" if len(targets) > 1 else ""
            commands.append(prefix + cmd)
    if not commands:
        return []
    lines = ["### Restore", "", "If this deploy must be undone, restore the backup taken before it:", "", "```sh"]
    lines += [*commands, "```"]
    if workflow_url:
        lines += ["", f"Or run the [restore workflow]({workflow_url}) with this backup id."]
    return lines
