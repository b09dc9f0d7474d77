"""``report check-environment``: is the job's environment protected by required reviewers, who approved this run?

Reads the environment's protection rules and the run's deployment approvals from GitHub
(:mod:`pgwarden.report.github_api`), decides (:func:`pgwarden.report.workflow.decide_environment`,
pure), and records the verdict twice: ``approval.json`` in the results folder (the PR comment
shows the approver) and an ``approval`` line in ``deploy.audit_log`` (the deploy that follows in
the same run repeats its ``approved_by``). A refused call is part of the verdict, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from pgwarden.audit import AuditLog, current_actor, current_git_sha, new_run_id
from pgwarden.config import Settings
from pgwarden.report import github as gh
from pgwarden.report.workflow import EnvironmentCheck, decide_environment, record_environment_check


def read_environment(env: gh.ActionsEnv, name: str, mode: str) -> EnvironmentCheck:
    """The environment's protection and this run's approvals (only asked for when reviewers are required)."""
    if not (env.token and env.repository):
        return decide_environment(name, mode, None, [],
                                  gh.ApiRefused(401, "reading the environment (no GITHUB_TOKEN)", gh.HINT_AUTH))
    protection = None
    try:
        api = gh.PyGithubApi(env)
        protection = api.environment_protection(name)
        approvals = api.run_approvals(env.run_id) if env.run_id and protection.required_reviewers else []
    except gh.ApiRefused as exc:
        return decide_environment(name, mode, protection, [], exc)
    return decide_environment(name, mode, protection, approvals)


def check_environment(settings: Settings, env: gh.ActionsEnv, name: str, mode: str, results: Path) -> EnvironmentCheck:
    """Check, then record the verdict in ``results/approval.json`` and the audit log."""
    check = read_environment(env, name, mode)
    record_environment_check(results, check)
    outcome = "unchecked" if check.protection is None else ("unprotected" if check.problem else "approved")
    audit = AuditLog(path=settings.resolve_path(settings.deploy.audit_log), actor=current_actor(), environment=name,
                     git_sha=current_git_sha(settings.base_dir), run_id=new_run_id(), database="",
                     approved_by=check.approved_by)
    audit.write("approval", outcome,
                required_reviewers=check.protection.required_reviewers if check.protection else None)
    return check
