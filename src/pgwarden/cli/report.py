"""``pgwarden report SUBCOMMAND``: GitHub outputs, step summaries, annotations and the PR comment.

The actions and reusable workflows call it; ``report render`` is also how a run's report is
rebuilt locally from a downloaded artifact (``pgwarden report render --results DIR --output
report.md``). Each subcommand is a thin wrapper over :mod:`pgwarden.report.steps`,
:mod:`pgwarden.report.workflow`, :mod:`pgwarden.report.comment`, :mod:`pgwarden.report.github` and
:mod:`pgwarden.pipeline.approval` (check-environment).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pgwarden.cli.common import Command, Context, add_config_options
from pgwarden.errors import EXIT_OK, ConfigError, SafetyRefusal
from pgwarden.report.annotations import annotation

if TYPE_CHECKING:
    from pgwarden.report import github as gh
    from pgwarden.report.comment import RunInfo
    from pgwarden.report.results import RunResults

# Each subcommand loads the modules it uses: every ``pgwarden`` run imports this module to build its
# parser, and ``pgwarden plan`` needs none of them (the GitHub client, the comment, the approval step).

RESULTS_DEFAULT = ".pgwarden/run"
STAGES = ("plan", "final", "restore", "drill")


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context, gh.ActionsEnv], int]


def _results(parser: argparse.ArgumentParser, default: str = RESULTS_DEFAULT) -> None:
    parser.add_argument("--results", metavar="DIR", default=default, help=f"results folder (default: {default})")


def _outcomes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--outcome", action="append", default=[], metavar="STEP=RESULT",
                        help="a step's outcome as GitHub saw it (repeatable)")


# --- step: after one action -------------------------------------------------------------------


def _step_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", metavar="STEP", help="the command the action ran (plan, backup, deploy, ...)")
    _results(parser)
    parser.add_argument("--exit-code", type=int, default=None, metavar="N", help="the command's exit code")


def _step(ctx: Context, env: gh.ActionsEnv) -> int:
    from pgwarden.report import github as gh
    from pgwarden.report.steps import record_step, summarise_step

    report = summarise_step(Path(ctx.args.results), ctx.args.step, ctx.args.exit_code)
    record_step(report)
    gh.write_outputs(env, report.outputs())
    gh.append_summary(env, report.markdown())
    for line in report.annotations():
        print(line, file=ctx.stdout, flush=True)
    return EXIT_OK


# --- render: the run's report and the PR comment ---------------------------------------------


def _render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", choices=STAGES, default="final", help="which report (default: final)")
    _results(parser)
    parser.add_argument("--workflow", metavar="NAME", default="migrate",
                        help="workflow name in the comment marker (default: migrate)")
    parser.add_argument("--environment", metavar="NAME", default="",
                        help="environment name (default: the config's, else default)")
    _outcomes(parser)
    parser.add_argument("--comment", action="store_true", help="create or update the PR comment")
    parser.add_argument("--pull-request", metavar="N", type=_pull_request_number, default=None,
                        help="with --comment: comment on pull request N (default: the event's, or for a push "
                             "the one that brought GITHUB_SHA)")
    parser.add_argument("--reason", metavar="TEXT", default="", help="why the run was started (a restore's reason)")
    parser.add_argument("--output", metavar="FILE", help="also write the report here")


def _pull_request_number(text: str) -> int | None:
    """``--pull-request``: a PR number; empty (a workflow input left blank) means none."""
    if not text.strip():
        return None
    if not text.strip().lstrip("#").isdigit():
        raise argparse.ArgumentTypeError(f"expected a pull request number, got {text!r}")
    return int(text.strip().lstrip("#"))


def _render(ctx: Context, env: gh.ActionsEnv) -> int:
    from pgwarden.report import github as gh
    from pgwarden.report.comment import BLOCKED_STATES, RunInfo, render_report, render_summary, state
    from pgwarden.report.results import load_results
    from pgwarden.report.workflow import parse_outcomes

    args = ctx.args
    info = RunInfo(
        workflow=args.workflow,
        environment=args.environment or ctx.settings.environment or "default",
        stage=args.stage,
        outcomes=parse_outcomes(args.outcome),
        run_url=env.run_url,
        restore_workflow_url=env.workflow_url("restore.yml"),
        pull_request=env.pull_request_label(),
        rto_s=ctx.settings.restore.rto,
        config=args.config,
        commit=env.reviewed_commit() or None,
        reason=args.reason or None,
        event=env.event_name,
        rehearsal_max_lock_s=ctx.settings.rehearsal.max_lock,
        now=datetime.now(timezone.utc),
        ignores=tuple(ctx.settings.risk.ignore),
    )
    results = load_results(Path(args.results))
    current = state(info, results)
    # The workflow stops on what the approver reads: the plan's or the rehearsal's block.
    gh.write_outputs(env, {"state": current, "blocked": str(current in BLOCKED_STATES).lower()})
    text = render_report(info, results, full_link=env.run_url)
    if args.output:
        ctx.write_output(text, args.output)
    # The steps' own summaries hold the review and their tables: the run's adds only the rest.
    summary = render_summary(info, results)
    if summary:
        gh.append_summary(env, summary)
    if args.comment and not _comment(ctx, env, info, results, text):
        gh.append_summary(env, text)  # the comment GitHub refused: the summary carries it instead
    if not args.output and not env.step_summary:
        print(text, file=ctx.stdout)
    return EXIT_OK


def _comment(ctx: Context, env: gh.ActionsEnv, info: RunInfo, results: RunResults, text: str) -> bool:
    """The PR comment, or why there is none: False when GitHub refused it (never a failed job for that)."""
    from pgwarden.report import github as gh
    from pgwarden.report.comment import marker
    from pgwarden.report.workflow import leaves_comments_alone

    if ctx.args.pull_request is None and leaves_comments_alone(env.event_name, results):
        ctx.note("nothing was pending or deployed: the PR comment is left as it is (it keeps the restore "
                 "pointer of the deploy that changed the database)")
        return True
    outcome = gh.comment_on_pull_request(env, marker(info.workflow, info.environment), text,
                                         number=ctx.args.pull_request)
    ctx.note(outcome.message)
    if outcome.url:
        gh.write_outputs(env, {"comment-url": outcome.url})
    if outcome.refused is None:
        return True
    # One notice, whatever was refused: the report goes to the step summary.
    refused = outcome.refused
    why = refused.message + (f"; to enable comments: {refused.hint}" if refused.hint else "")
    print(annotation("notice", f"no PR comment: {why}. The report is in this job's summary.",
                     title="pgwarden comment"), file=ctx.stdout, flush=True)
    return False


# --- the reusable workflows' own steps ------------------------------------------------------


def _expand_targets(ctx: Context, env: gh.ActionsEnv) -> int:
    from pgwarden.report import github as gh
    from pgwarden.report.workflow import expand_targets

    targets = expand_targets(os.environ.get("TARGETS", ""))
    gh.write_outputs(env, {"targets": json.dumps(targets, separators=(",", ":"))})
    ctx.note("targets: " + ", ".join(t["name"] for t in targets))
    return EXIT_OK


def _check_approval(ctx: Context, env: gh.ActionsEnv) -> int:
    from pgwarden.report import github as gh
    from pgwarden.report.workflow import record_approval

    approvers = [a.strip() for a in os.environ.get("APPROVERS", "").split(",") if a.strip()]
    decision = gh.check_pull_request_approval(env, approvers or list(ctx.settings.deploy.approvers))
    if ctx.args.results:
        record_approval(Path(ctx.args.results), decision)
    if not decision.approved:
        gh.append_summary(env, f"## ⛔ approval missing\n\n{decision.message}")
        print(annotation("error", decision.message, title="pgwarden approval"), file=ctx.stdout, flush=True)
        raise SafetyRefusal(decision.message, hint="approve the pull request, then re-run the failed jobs")
    ctx.note(decision.message)
    return EXIT_OK


def _check_environment_arguments(parser: argparse.ArgumentParser) -> None:
    from pgwarden.report.workflow import REVIEWER_MODES

    parser.add_argument("--environment", metavar="NAME", default="",
                        help="the job's GitHub environment (default: the config's environment)")
    parser.add_argument("--require-reviewers", choices=REVIEWER_MODES, default="fail",
                        help="an environment without required reviewers: fail (exit 4, the default) or warn")
    _results(parser)


def _check_environment(ctx: Context, env: gh.ActionsEnv) -> int:
    from pgwarden.pipeline.approval import check_environment
    from pgwarden.report import github as gh

    name = ctx.args.environment or ctx.settings.environment or ""
    if not name:
        raise ConfigError("--environment: name the job's GitHub environment (or set environment in the config)")
    check = check_environment(ctx.settings, env, name, ctx.args.require_reviewers, Path(ctx.args.results))
    result = check.result()
    level = "error" if check.refused else "warning"
    icon = "⛔" if check.refused else ("⚠️" if check.problem or check.warnings else "✅")
    gh.append_summary(env, f"{icon} {result.summary}" + "".join(f"\n\n⚠️ {w}" for w in check.warnings))
    if check.problem:
        print(annotation(level, check.problem + (f"; {check.hint}" if check.hint else ""),
                         title="pgwarden environment"), file=ctx.stdout, flush=True)
    for warning in check.warnings:
        print(annotation("warning", warning, title="pgwarden environment"), file=ctx.stdout, flush=True)
    if check.refused:
        raise SafetyRefusal(check.problem or result.summary, hint=check.hint)
    ctx.note(result.summary)
    return EXIT_OK


def _collect_arguments(parser: argparse.ArgumentParser) -> None:
    _results(parser)
    parser.add_argument("--target", metavar="NAME", default="default", help="target name (default: default)")
    _outcomes(parser)


def _collect(ctx: Context, env: gh.ActionsEnv) -> int:
    from pgwarden.report.workflow import collect_results, parse_outcomes

    collect_results(ctx.settings, Path(ctx.args.results), ctx.args.target, parse_outcomes(ctx.args.outcome))
    return EXIT_OK


def _locate_dump(ctx: Context, env: gh.ActionsEnv) -> int:
    from pgwarden.report import github as gh
    from pgwarden.report.workflow import local_dump_path

    path = local_dump_path(ctx.settings, Path(ctx.args.results))
    if path is None:
        ctx.note(f"the dump is in {ctx.settings.backup.store}, not on this runner: nothing to upload")
        return EXIT_OK
    gh.write_outputs(env, {"dump-path": str(path)})
    return EXIT_OK


#: In the order ``pgwarden report --help`` lists them.
SUBCOMMANDS = [
    Subcommand("step", "after one action: its outputs, step summary and annotations, from RESULTS/STEP.json",
               'pgwarden report step deploy --results .pgwarden/run --exit-code "$code"',
               _step_arguments, _step),
    Subcommand("render", "the run's report: into the step summary, --output, and the PR comment (--comment)",
               "pgwarden report render --stage final --results .pgwarden/results --environment production "
               "--comment", _render_arguments, _render),
    Subcommand("expand-targets", "validate $TARGETS (fleet mode) into the targets output",
               "TARGETS='[\"eu\", \"us\"]' pgwarden report expand-targets", lambda parser: None, _expand_targets),
    Subcommand("check-approval", "approval: pr-review: exit 4 unless an approver ($APPROVERS) approved the head",
               "APPROVERS=alice,bob pgwarden report check-approval --results .pgwarden/run",
               _results, _check_approval),
    Subcommand("check-environment", "exit 4 unless the environment has required reviewers; record who approved "
               "this run (approval.json, the audit log)",
               "pgwarden report check-environment --environment production --require-reviewers fail "
               "--results .pgwarden/run", _check_environment_arguments, _check_environment),
    Subcommand("collect", "save the steps' outcomes and copy the audit log and reports into --results",
               "pgwarden report collect --target eu --outcome backup=success --outcome deploy=failure",
               _collect_arguments, _collect),
    Subcommand("locate-dump", "output dump-path: where a file:// store keeps the job's backup",
               "pgwarden report locate-dump --results .pgwarden/run", _results, _locate_dump),
]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    subparsers = parser.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)
    for sub in SUBCOMMANDS:
        child = subparsers.add_parser(
            sub.name, help=sub.help, description=sub.help, epilog=f"example:\n  {sub.example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_config_options(child, database=False)
        sub.add_arguments(child)
        child.set_defaults(_report=sub)


def _run(ctx: Context) -> int:
    from pgwarden.report import github as gh

    subcommand: Subcommand = ctx.args._report
    return subcommand.run(ctx, gh.ActionsEnv.from_environ())


COMMAND = Command(
    name="report",
    example="pgwarden report render --stage final --results .pgwarden/results --environment production --comment",
    add_arguments=_add_arguments,
    run=_run,
    formats=(),
    uses_config=False,
)
