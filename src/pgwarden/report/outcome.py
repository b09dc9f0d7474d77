"""What a failed step changed and what to do next (pure: a step's result in, words out).

A release manager reading a failure needs three things, in this order: the tool's real error
(all of it), whether the database changed (how many migrations were applied; whether the one that
failed ran in a transaction, so nothing of it is left, or stopped part-way), and the exact next
step for this tool. A restore is offered only when something changed: restoring an unchanged
database throws away the writes made since the backup for nothing.

The deploy's result says it all: ``applied``, ``failed_migration``, ``unfinished`` (migrations that
did not run in a transaction and stopped part-way: their state is unknown), ``tool``,
``failed_in_history`` and ``resolve_hint`` (the tool records the failed attempt and refuses the next
deploy until it is resolved), ``error`` and ``output``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pgwarden.errors import EXIT_REFUSED, EXIT_USAGE
from pgwarden.records import StepResult
from pgwarden.report.results import step_error

#: Tools whose history records a failed attempt (and that refuse to deploy until it is resolved),
#: for results written before the deploy said so itself (``failed_in_history``).
RECORDS_FAILURES = frozenset({"prisma", "sql"})


@dataclass(frozen=True)
class Failure:
    """One failed step, read for what changed and what to do."""

    step: str
    #: The error in full: the tool's message, never cut.
    error: str
    hint: str | None = None
    #: ``failed``, ``refused`` or ``usage`` (the CLI's error kinds).
    kind: str = "failed"
    tool: str = ""
    applied: list[str] = field(default_factory=list)
    failed: str | None = None
    #: Not run in a transaction and stopped part-way: may be half applied.
    unknown: list[str] = field(default_factory=list)
    #: The tool's own output (its last lines), when it printed any.
    output: str = ""
    #: The tool records ``failed`` as failed and refuses to deploy until it is resolved.
    recorded: bool = False
    resolve_hint: str | None = None
    #: The step printed an error document instead of its result: what it applied is not known.
    unreported: bool = False

    @classmethod
    def of(cls, result: StepResult) -> Failure:
        error = step_error(result)
        if error is not None:
            kind = {EXIT_REFUSED: "refused", EXIT_USAGE: "usage"}.get(error.exit_code, "failed")
            return cls(result.step, error.message, error.hint, kind, unreported=kind == "failed")
        d = result.details
        failed = _text(d.get("failed_migration"))
        unknown = [str(n) for n in d.get("unfinished") or []]
        tool = str(d.get("tool") or "")
        in_history = d.get("failed_in_history")
        recorded = failed is not None and not unknown and (
            failed in in_history if isinstance(in_history, list) else tool in RECORDS_FAILURES
            and _last_outcome(d) == "failed")
        return cls(
            result.step, _text(d.get("error")) or result.summary, None, "failed", tool,
            [str(n) for n in d.get("applied") or []], failed, unknown, str(d.get("output") or ""), recorded,
            _text(d.get("resolve_hint")),
        )

    @property
    def changed(self) -> bool | None:
        """Did the database change? None when the step did not say (it stopped with an error)."""
        if self.kind in ("refused", "usage") or self.step in ("backup", "approval", "plan"):
            return False
        if self.unreported and self.step == "deploy":
            return None
        return bool(self.applied or self.unknown)


def what_changed(f: Failure, where: str) -> str:
    """One sentence: whether ``where`` (a code span naming the target) changed, and how much."""
    if f.kind in ("refused", "usage"):
        return f"**Nothing changed**: pgwarden {f.step} refused before running anything on {where}."
    if f.changed is None:
        return (f"**Not known what changed**: pgwarden {f.step} stopped with an error before it reported what it "
                f"applied. Run `pgwarden status` against {where} before anything else.")
    applied_words = f"{len(f.applied)} migration{'s' if len(f.applied) != 1 else ''}"
    if f.step == "verify" and f.applied:
        return (f"**{_cap(where)} changed**: the deploy applied {applied_words}, then verification failed: "
                "the failed checks are below.")
    if f.step != "deploy":
        return f"**Nothing changed** on {where}: the {f.step} step does not change the database."
    applied = (f"{applied_words} applied ("
               + ", ".join(f"`{n}`" for n in f.applied[:10]) + (", …" if len(f.applied) > 10 else "") + ")")
    if f.unknown:
        first = f.unknown[0]
        before = f"{applied}, then " if f.applied else ""
        return (f"**{_cap(where)} may be half changed**: {before}`{first}` stopped part-way; it does not run in a "
                "transaction, so part of it may be applied.")
    if f.failed:
        rolled = f"`{f.failed}` ran in a transaction and rolled back"
        if f.applied:
            return f"**{_cap(where)} changed**: {applied} before `{f.failed}` failed; {rolled}."
        return f"**{_cap(where)} is unchanged**: {rolled}, and no migration before it was applied."
    if f.applied:
        return f"**{_cap(where)} changed**: {applied} before the deploy stopped."
    return f"**{_cap(where)} is unchanged**: no migration was applied."


def next_steps(f: Failure, where: str) -> list[str]:
    """The exact next steps, in order, as markdown list items."""
    if f.kind in ("refused", "usage"):
        return [f"- {_sentence(f.hint)}" if f.hint else "- Fix what the message above says, then re-run the job."]
    if f.changed is None:
        return ["- Check the database: `pgwarden status` lists what is applied, pending and unfinished.",
                "- Then re-run the failed job, or restore the backup taken before this deploy (below)."]
    if f.step == "verify" and f.applied:
        return ["- Read the failed checks below: each says what it found.",
                "- If the database is not sound, restore the backup taken before this deploy (below); if the check "
                "is wrong for this change, fix it (`verify.checks`) and re-run verify."]
    if f.step != "deploy":
        return [f"- {_sentence(f.hint)}" if f.hint else "- Fix the cause above, then re-run the failed job."]
    if f.unknown:
        name = f.unknown[0]
        return [
            f"- Check what of `{name}` is in {where}: finish or undo it by hand (or restore the backup below).",
            f"- Record what you found: `pgwarden resolve {name} --applied` (all of it is there) or "
            f"`pgwarden resolve {name} --rolled-back` (nothing of it is left; the next deploy runs it again).",
            "- Then fix the migration and push.",
        ]
    steps: list[str] = []
    if f.failed and f.recorded:
        command = _resolve_command(f)
        tool = "Prisma" if f.tool == "prisma" else f"The {f.tool} tool"
        steps.append(f"- {tool} recorded the failed attempt and refuses to deploy until it is resolved: run "
                     f"`{command}` against {where}.")
    if f.failed:
        steps.append(f"- Fix `{f.failed}` and push: the next deploy runs it again"
                     + (" on top of the migrations applied above." if f.applied else "."))
    elif not f.applied:
        steps.append("- The database is unchanged: fix the cause above, then re-run the job (or push a fix).")
    else:
        steps.append("- Fix the cause above, then re-run the job: the applied migrations stay applied.")
    if f.applied:
        steps.append("- To undo the applied migrations instead, restore the backup taken before this deploy (below).")
    elif f.failed and not f.recorded:
        steps[-1] = f"- The database is unchanged: fix the migration `{f.failed}` and push."
    return steps


def _resolve_command(f: Failure) -> str:
    assert f.failed is not None
    if f.tool == "prisma":
        hint = f.resolve_hint or ""
        return hint if "prisma migrate resolve" in hint else f"npx prisma migrate resolve --rolled-back {f.failed}"
    return f"pgwarden resolve {f.failed} --rolled-back"


def _last_outcome(details: dict[str, object]) -> str:
    attempts = details.get("attempts")
    if isinstance(attempts, list) and attempts and isinstance(attempts[-1], dict):
        return str(attempts[-1].get("outcome") or "")
    return "failed"


def _cap(where: str) -> str:
    """``where`` at the start of a sentence (a code span stays as it is)."""
    return where[:1].upper() + where[1:]


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[0].upper() + text[1:]) if text else text


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
