"""GitHub edges: the PR comment (through PyGithub), step summary, outputs, annotations, approvals.

Everything here reads the GitHub Actions environment (``GITHUB_API_URL``, ``GITHUB_REPOSITORY``,
``GITHUB_EVENT_PATH``...) so tests point it at a local fake API. PR-controlled text (titles,
branch names) is read from the event file by Python and only ever becomes markdown text: it
never reaches a shell.

The REST calls themselves are in :mod:`pgwarden.report.github_api` (its names are re-exported here).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pgwarden.redact import redact
from pgwarden.report.comment import SUMMARY_LIMIT

# Re-exported (``X as X``): callers use ``github.PyGithubApi``, ``github.ApiRefused`` and friends.
from pgwarden.report.github_api import HINT_ACTIONS as HINT_ACTIONS
from pgwarden.report.github_api import HINT_AUTH as HINT_AUTH
from pgwarden.report.github_api import HINT_COMMENT as HINT_COMMENT
from pgwarden.report.github_api import HINT_PULLS as HINT_PULLS
from pgwarden.report.github_api import ApiRefused as ApiRefused
from pgwarden.report.github_api import Approval as Approval
from pgwarden.report.github_api import IssueComment as IssueComment
from pgwarden.report.github_api import Protection as Protection
from pgwarden.report.github_api import PyGithubApi as PyGithubApi


class CommentsApi(Protocol):
    """The three calls the upsert needs (a PyGithub client here, a fake in tests if wanted)."""

    def list_comments(self, number: int) -> list[IssueComment]: ...

    def create_comment(self, number: int, body: str) -> IssueComment: ...

    def edit_comment(self, comment_id: int, body: str) -> IssueComment: ...


@dataclass
class ActionsEnv:
    """The parts of the GitHub Actions environment pgwarden uses."""

    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    repository: str = ""
    token: str = ""
    event_name: str = ""
    event: dict[str, Any] = field(default_factory=dict)
    sha: str = ""
    run_id: str = ""
    step_summary: str | None = None
    output: str | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> ActionsEnv:
        env = dict(os.environ if environ is None else environ)
        event: dict[str, Any] = {}
        path = env.get("GITHUB_EVENT_PATH")
        if path and Path(path).is_file():
            try:
                loaded = json.loads(Path(path).read_text(encoding="utf-8"))
                event = loaded if isinstance(loaded, dict) else {}
            except (OSError, json.JSONDecodeError):
                event = {}
        return cls(
            api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
            server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
            repository=env.get("GITHUB_REPOSITORY", ""),
            token=env.get("GITHUB_TOKEN", ""),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event=event,
            sha=env.get("GITHUB_SHA", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
            step_summary=env.get("GITHUB_STEP_SUMMARY") or None,
            output=env.get("GITHUB_OUTPUT") or None,
        )

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def workflow_url(self, file: str) -> str | None:
        return f"{self.server_url}/{self.repository}/actions/workflows/{file}" if self.repository else None

    def event_pull_request(self) -> dict[str, Any] | None:
        pr = self.event.get("pull_request")
        if isinstance(pr, dict):
            return pr
        issue = self.event.get("issue")
        if isinstance(issue, dict) and issue.get("pull_request"):
            return issue
        return None

    def reviewed_commit(self) -> str:
        """The commit the run is about: the PR's head on pull_request events (GITHUB_SHA is a merge
        commit GitHub made there), else GITHUB_SHA."""
        pr = self.event_pull_request() or {}
        head = pr.get("head") if isinstance(pr.get("head"), dict) else {}
        return str((head or {}).get("sha") or self.sha)

    def pull_request_label(self) -> str | None:
        """'#7 · title (branch)' from the event, as plain text for the report."""
        pr = self.event_pull_request()
        if pr is None:
            return None
        head = pr.get("head") if isinstance(pr.get("head"), dict) else {}
        branch = head.get("ref", "") if isinstance(head, dict) else ""
        return f"#{pr.get('number', '?')} · {pr.get('title', '')}" + (f" ({branch})" if branch else "")


# --- workflow commands -------------------------------------------------------------------------


def write_outputs(env: ActionsEnv, values: dict[str, str]) -> None:
    """Append step outputs; values are single-line by construction (newlines become spaces)."""
    if not env.output:
        return
    with open(env.output, "a", encoding="utf-8") as fh:
        for key, value in values.items():
            fh.write(f"{key}={' '.join(redact(str(value)).splitlines())}\n")


def append_summary(env: ActionsEnv, markdown: str) -> None:
    """Append to ``$GITHUB_STEP_SUMMARY``, keeping the step's summary under GitHub's 1 MiB."""
    if not env.step_summary:
        return
    path = Path(env.step_summary)
    used = path.stat().st_size if path.exists() else 0
    text = redact(markdown).rstrip() + "\n\n"
    room = SUMMARY_LIMIT - used - 200
    if len(text.encode("utf-8")) > room:
        text = text.encode("utf-8")[: max(0, room)].decode("utf-8", "ignore") + "\n\n_…summary truncated._\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


# --- the PR comment ------------------------------------------------------------------------------


def upsert_comment(api: CommentsApi, number: int, marker: str, body: str) -> tuple[str, IssueComment]:
    """Create our comment, or edit it in place: found by ``marker``, other comments untouched."""
    if marker not in body:
        body = f"{marker}\n{body}"
    body = redact(body)
    for comment in api.list_comments(number):
        if marker in comment.body:
            return "updated", api.edit_comment(comment.id, body)
    return "created", api.create_comment(number, body)


@dataclass(frozen=True)
class CommentOutcome:
    """What :func:`comment_on_pull_request` did: ``posted`` (with its URL), or why not."""

    message: str
    posted: IssueComment | None = None
    #: Set when GitHub refused a call (a fork's token, missing permissions) or there was no token.
    refused: ApiRefused | None = None

    @property
    def url(self) -> str:
        return self.posted.url if self.posted is not None else ""


def comment_on_pull_request(env: ActionsEnv, marker: str, body: str, number: int | None = None) -> CommentOutcome:
    """Create or update our comment on the run's pull request (or on ``number``); says what it did.

    No token, or a refused call, is not an error: the outcome carries the refusal and the caller
    keeps the report in the step summary.
    """
    if not (env.token and env.repository):
        return CommentOutcome("no GITHUB_TOKEN or GITHUB_REPOSITORY: the PR comment is skipped",
                              refused=ApiRefused(401, "the PR comment (no GITHUB_TOKEN)", HINT_AUTH))
    try:
        api = PyGithubApi(env)
        number = number if number is not None else pull_request_number(env, api)
        if number is None:
            return CommentOutcome(f"no pull request for this {env.event_name or 'run'}: the PR comment is skipped")
        action, posted = upsert_comment(api, number, marker, body)
    except ApiRefused as exc:
        return CommentOutcome(str(exc), refused=exc)
    return CommentOutcome(f"PR #{number}: comment {posted.id} {action}", posted=posted)


def pull_request_number(env: ActionsEnv, api: PyGithubApi | None) -> int | None:
    pr = env.event_pull_request()
    if pr is not None and pr.get("number"):
        return int(pr["number"])
    if env.event_name == "push" and env.sha and api is not None:
        return api.pull_request_for_commit(env.sha)
    return None


# --- approval through a pull-request review ---------------------------------------------------


@dataclass
class ApprovalDecision:
    approved: bool
    message: str
    approvers: list[str] = field(default_factory=list)


#: Review state given to an approval of an older commit than the one being deployed.
STALE = "STALE"


def decide_approval(author: str, reviews: list[tuple[str, str]], approvers: list[str]) -> ApprovalDecision:
    """Pure: is there an approving review, still standing, by a configured approver who is not the author?

    ``reviews`` are (login, state) in submission order; a later review by the same person replaces
    their earlier one (an approval followed by "changes requested" does not count). An approval of
    an older commit has the state ``STALE`` and does not count either: commits pushed after it
    (a new migration, say) were never reviewed.
    """
    allowed = {a.lower() for a in approvers if a.strip()}
    if not allowed:
        return ApprovalDecision(False, "no approvers configured: set the approvers input or deploy.approvers")
    latest: dict[str, str] = {}
    for login, state in reviews:
        if state.upper() in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED", STALE):
            latest[login.lower()] = state.upper()
    good = sorted(login for login, state in latest.items()
                  if state == "APPROVED" and login in allowed and login != author.lower())
    if good:
        return ApprovalDecision(True, "approved by " + ", ".join(good), good)
    self_only = latest.get(author.lower()) == "APPROVED"
    why = " (the author's own approval does not count)" if self_only else ""
    stale = sorted(login for login, state in latest.items()
                   if state == STALE and login in allowed and login != author.lower())
    if stale:
        why += f"; {', '.join(stale)} approved an earlier commit: the newer commits need a new approval"
    return ApprovalDecision(
        False,
        f"needs an approving review from one of {', '.join(sorted(allowed))}, who is not the author "
        f"{author}{why}",
    )


def check_pull_request_approval(env: ActionsEnv, approvers: list[str]) -> ApprovalDecision:
    api = PyGithubApi(env)
    number = pull_request_number(env, api)
    if number is None:
        return ApprovalDecision(False, "no pull request found for this run: approval: pr-review needs one")
    pull = api.pull_request(number)
    # The commit this run deploys: the event's PR head (pull_request events), else the PR's head now
    # (push events after the merge). Approvals must be of that commit.
    event_pr = env.event_pull_request() or {}
    event_head = event_pr.get("head") if isinstance(event_pr.get("head"), dict) else {}
    head = (event_head or {}).get("sha") or (pull.head.sha if pull.head else "")
    reviews = []
    for r in pull.get_reviews():
        state = (r.state or "").upper()
        if state == "APPROVED" and head and r.commit_id and r.commit_id != head:
            state = STALE
        reviews.append((r.user.login if r.user else "", state))
    decision = decide_approval(pull.user.login if pull.user else "", reviews, approvers)
    decision.message = f"PR #{number}: {decision.message}"
    return decision
