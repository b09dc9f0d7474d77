"""The GitHub REST client: the calls pgwarden makes, through PyGithub (its requester where it has no method).

Every call goes through :func:`_github_call`: a 401/403/404 (a fork's read-only token, a job
without ``actions: read``) becomes :class:`ApiRefused` naming what was refused and how to allow
it, any other failure an :class:`OperationFailed`, never a PyGithub traceback. Tests run it
against the fake API of ``tests/fix_github.py`` over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from pgwarden.errors import OperationFailed

HINT_COMMENT = ("a pull request from a fork gets a read-only GITHUB_TOKEN, so it cannot be commented on "
                "(the report is in the step summary); for branches of this repository give the job "
                "`pull-requests: write`")
HINT_ACTIONS = "add `actions: read` to the job's permissions (environments and run approvals need it)"
HINT_PULLS = "add `pull-requests: read` to the job's permissions"
HINT_AUTH = "pass the workflow's token: `env: GITHUB_TOKEN: ${{ github.token }}`"


class ApiRefused(OperationFailed):
    """GitHub answered 401, 403 or 404: ``what`` was refused; the hint says how to allow it."""

    def __init__(self, status: int, what: str, hint: str, detail: str = "") -> None:
        super().__init__(f"GitHub refused {what} (HTTP {status}{': ' + detail if detail else ''})", hint=hint)
        self.status = status
        self.what = what


@contextmanager
def _github_call(what: str, hint: str) -> Iterator[None]:
    """Translate PyGithub's and requests' exceptions for ``what`` into pgwarden's errors."""
    from github import GithubException

    try:
        yield
    except GithubException as exc:
        data = exc.data if isinstance(exc.data, dict) else {}
        detail = str(data.get("message") or "")[:200]
        if exc.status in (401, 403, 404):
            raise ApiRefused(exc.status, what, HINT_AUTH if exc.status == 401 else hint, detail) from None
        raise OperationFailed(f"GitHub answered HTTP {exc.status} to {what}: {detail or 'no message'}",
                              hint="GitHub may be having an incident: re-run the job") from None
    except OSError as exc:  # requests' errors are OSErrors: connection refused, timeouts, TLS
        raise OperationFailed(f"could not reach the GitHub API for {what}: {type(exc).__name__}",
                              hint="check GITHUB_API_URL and the runner's network") from None


@dataclass(frozen=True)
class IssueComment:
    id: int
    body: str
    author: str = ""
    url: str = ""


@dataclass(frozen=True)
class Protection:
    """An environment's deployment protection, as far as pgwarden cares."""

    #: Logins of the required reviewers; a team as ``team:SLUG``.
    required_reviewers: list[str]
    #: Whether the one who triggered a run may not approve it (None: no required-reviewers rule).
    prevent_self_review: bool | None
    #: False when the environment does not exist (a job naming it creates it, unprotected).
    exists: bool = True


@dataclass(frozen=True)
class Approval:
    """One review of a run's deployment (GET .../actions/runs/{id}/approvals)."""

    login: str
    environment: str
    state: str
    comment: str = ""



def _comment(c: Any) -> IssueComment:
    return IssueComment(id=c.id, body=c.body or "", author=c.user.login if c.user else "", url=c.html_url or "")


class Credentials(Protocol):
    """Where the API is and who calls it (``report.github.ActionsEnv`` is one)."""

    api_url: str
    token: str
    repository: str


class PyGithubApi:
    """The calls pgwarden makes, through PyGithub (its requester where PyGithub has no method)."""

    def __init__(self, env: Credentials) -> None:
        from github import Auth, Github

        # A run makes a handful of serial calls and one write: PyGithub's default 0.25 s pause before
        # every request is only latency here (the pause between two writes stays).
        self._gh = Github(auth=Auth.Token(env.token), base_url=env.api_url.rstrip("/"), retry=None,
                          seconds_between_requests=None)
        with _github_call(f"reading the repository {env.repository}", HINT_AUTH):
            self._repo = self._gh.get_repo(env.repository)
        self._comments: dict[int, Any] = {}

    def list_comments(self, number: int) -> list[IssueComment]:
        found = []
        with _github_call(f"listing the comments of #{number}", HINT_COMMENT):
            for c in self._repo.get_issue(number).get_comments():
                self._comments[c.id] = c
                found.append(_comment(c))
        return found

    def create_comment(self, number: int, body: str) -> IssueComment:
        with _github_call(f"a comment on #{number} (POST .../issues/{number}/comments)", HINT_COMMENT):
            return _comment(self._repo.get_issue(number).create_comment(body))

    def edit_comment(self, comment_id: int, body: str) -> IssueComment:
        c = self._comments[comment_id]  # list_comments() ran first: upsert only edits what it found
        with _github_call(f"editing comment {comment_id} (PATCH .../issues/comments/{comment_id})", HINT_COMMENT):
            c.edit(body)
        return IssueComment(id=comment_id, body=body, author=c.user.login if c.user else "", url=c.html_url or "")

    def pull_request_for_commit(self, sha: str) -> int | None:
        """For push events: the PR that brought the commit (GET .../commits/{sha}/pulls).

        On the default branch GitHub lists the merged PR that introduced the commit; the PR whose
        merge commit it is wins, then an open PR containing it (a push to a PR's branch), else
        the first one listed.
        """
        with _github_call(f"the pull requests of commit {sha[:12]} (GET .../commits/{{sha}}/pulls)", HINT_PULLS):
            pulls = list(self._repo.get_commit(sha).get_pulls())
            merged = [p for p in pulls if p.merge_commit_sha == sha]
            open_pulls = [p for p in pulls if p.state == "open"]
            chosen = (merged or open_pulls or pulls)[:1]
            return int(chosen[0].number) if chosen else None

    def pull_request(self, number: int) -> Any:
        with _github_call(f"pull request #{number}", HINT_PULLS):
            return self._repo.get_pull(number)

    def environment_protection(self, name: str) -> Protection:
        """The environment's required reviewers (GET .../environments/{name}); 404 = it does not exist."""
        try:
            with _github_call(f"reading environment {name!r} (GET .../environments/{{name}})", HINT_ACTIONS):
                rules = list(self._repo.get_environment(name).protection_rules or [])
                reviewers: list[str] = []
                prevent: bool | None = None
                for rule in rules:
                    if rule.type != "required_reviewers":
                        continue
                    prevent = bool(rule.prevent_self_review)
                    for entry in rule.reviewers or []:
                        who = entry.reviewer  # a NamedUser or a Team
                        team = entry.type == "Team"
                        reviewers.append(f"team:{getattr(who, 'slug', '')}" if team else str(getattr(who, "login", "")))
        except ApiRefused as exc:
            if exc.status == 404:
                return Protection([], None, exists=False)
            raise
        return Protection(reviewers, prevent)

    def run_approvals(self, run_id: str) -> list[Approval]:
        """Who reviewed this run's deployments (GET .../actions/runs/{run_id}/approvals: no PyGithub method)."""
        url = f"{self._repo.url}/actions/runs/{quote(str(run_id), safe='')}/approvals"
        with _github_call(f"the approvals of run {run_id} (GET .../actions/runs/{{id}}/approvals)", HINT_ACTIONS):
            _, data = self._gh.requester.requestJsonAndCheck("GET", url, parameters={"per_page": 100})
        found = []
        for item in data if isinstance(data, list) else []:
            user = item.get("user") if isinstance(item.get("user"), dict) else {}
            for environment in item.get("environments") or []:
                found.append(Approval(login=str(user.get("login") or ""), environment=str(environment.get("name")),
                                      state=str(item.get("state") or ""), comment=str(item.get("comment") or "")))
        return found


