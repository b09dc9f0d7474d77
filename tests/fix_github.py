"""A local fake of the GitHub REST API: the endpoints pgwarden's PyGithub calls, recording requests.

``github_api`` starts it on 127.0.0.1 (random port, own thread) for one test; point
``GITHUB_API_URL`` at ``github_api.url``. Seed it with pull requests (``add_pull``, ``merged_as``
for one merged into the default branch), comments, reviews, environments (``add_environment``,
with or without required reviewers) and a run's deployment approvals (``add_run_approval``);
read ``requests`` (method, path, body) and ``comments`` afterwards.

``refuse(method, pattern)`` makes the matching calls answer 403 the way GitHub does for a token
without the permission; ``as_fork()`` refuses every write, as for a pull request from a fork
(its ``GITHUB_TOKEN`` is read-only).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest


@dataclass
class Recorded:
    method: str
    path: str
    body: str
    headers: dict[str, str]


@dataclass
class FakeGitHub:
    owner: str = "acme"
    repo: str = "shop"
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_approvals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refusals: list[tuple[str, str, int]] = field(default_factory=list)
    _next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def repo_url(self) -> str:
        return f"{self.url}/repos/{self.full_name}"

    def add_pull(self, number: int, *, author: str = "dev", title: str = "Add migrations",
                 branch: str = "feature", sha: str = "abc123", merged_as: str | None = None) -> None:
        """A pull request whose head is ``sha``; ``merged_as``: merged, with that merge commit on main."""
        self.pulls[number] = {"number": number, "title": title, "author": author, "branch": branch, "sha": sha,
                              "merged_as": merged_as}
        self.commit_pulls.setdefault(sha, []).append(number)
        if merged_as:
            self.commit_pulls.setdefault(merged_as, []).append(number)

    def add_environment(self, name: str, *, reviewers: tuple[str, ...] | list[str] = (),
                        teams: tuple[str, ...] | list[str] = (), prevent_self_review: bool = False,
                        wait_timer: int = 0) -> None:
        """An environment; without reviewers or teams it has no required-reviewers rule (unprotected)."""
        self.environments[name] = {"reviewers": list(reviewers), "teams": list(teams),
                                   "prevent_self_review": prevent_self_review, "wait_timer": wait_timer}

    def add_run_approval(self, run_id: str | int, login: str, environment: str = "production", *,
                         state: str = "approved", comment: str = "") -> None:
        """A review of run ``run_id``'s deployment to ``environment``, as the approvals endpoint lists it."""
        self.run_approvals.setdefault(str(run_id), []).append(
            {"user": login, "environment": environment, "state": state, "comment": comment})

    def refuse(self, method: str, pattern: str, status: int = 403) -> None:
        """Calls of ``method`` whose path matches ``pattern`` (re.search) answer ``status``."""
        self.refusals.append((method.upper(), pattern, status))

    def as_fork(self) -> None:
        """Play a pull request from a fork: its read-only token may read, never write."""
        for method in ("POST", "PATCH", "PUT", "DELETE"):
            self.refuse(method, ".")

    def add_comment(self, number: int, body: str, author: str = "someone-else") -> int:
        with self.lock:
            self._next_id += 1
            cid = self._next_id
            self.comments.setdefault(number, []).append({"id": cid, "body": body, "user": author})
            return cid

    def add_review(self, number: int, login: str, state: str = "APPROVED", commit: str | None = None) -> None:
        """A submitted review; ``commit`` defaults to the pull request's head (an up-to-date review)."""
        self.reviews.setdefault(number, []).append({"user": login, "state": state, "commit": commit})

    def all_text(self) -> str:
        """Every recorded request (path + body), for leak checks."""
        return "\n".join(f"{r.method} {r.path}\n{r.body}\n{json.dumps(r.headers)}" for r in self.requests)

    # --- JSON shapes PyGithub reads ---------------------------------------------------------

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": abs(hash(login)) % 10_000, "type": "User", "url": f"{self.url}/users/{login}"}

    def repo_json(self) -> dict[str, Any]:
        return {"id": 1, "name": self.repo, "full_name": self.full_name, "owner": self._user(self.owner),
                "url": self.repo_url, "html_url": f"https://github.com/{self.full_name}", "private": False}

    def comment_json(self, number: int, c: dict[str, Any]) -> dict[str, Any]:
        return {"id": c["id"], "body": c["body"], "user": self._user(c["user"]),
                "url": f"{self.repo_url}/issues/comments/{c['id']}",
                "html_url": f"https://github.com/{self.full_name}/pull/{number}#issuecomment-{c['id']}",
                "issue_url": f"{self.repo_url}/issues/{number}",
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}

    def issue_json(self, number: int) -> dict[str, Any]:
        p = self.pulls.get(number, {"title": "", "author": "dev"})
        return {"id": number, "number": number, "title": p["title"], "user": self._user(p["author"]),
                "state": "open", "url": f"{self.repo_url}/issues/{number}",
                "comments_url": f"{self.repo_url}/issues/{number}/comments",
                "html_url": f"https://github.com/{self.full_name}/pull/{number}",
                "pull_request": {"url": f"{self.repo_url}/pulls/{number}"}}

    def pull_json(self, number: int) -> dict[str, Any]:
        p = self.pulls[number]
        merged = p.get("merged_as")
        return {"id": number, "number": number, "title": p["title"], "user": self._user(p["author"]),
                "state": "closed" if merged else "open", "merged": bool(merged), "merge_commit_sha": merged,
                "url": f"{self.repo_url}/pulls/{number}",
                "issue_url": f"{self.repo_url}/issues/{number}",
                "html_url": f"https://github.com/{self.full_name}/pull/{number}",
                "head": {"ref": p["branch"], "sha": p["sha"]}, "base": {"ref": "main", "sha": "000"}}

    def review_json(self, number: int, i: int, r: dict[str, Any]) -> dict[str, Any]:
        return {"id": number * 100 + i, "user": self._user(r["user"]), "state": r["state"], "body": "",
                "submitted_at": f"2026-01-01T00:00:{i:02d}Z",
                "commit_id": r.get("commit") or self.pulls[number]["sha"]}

    def environment_json(self, name: str) -> dict[str, Any]:
        e = self.environments[name]
        rules: list[dict[str, Any]] = []
        if e["reviewers"] or e["teams"]:
            reviewers = [{"type": "User", "reviewer": self._user(login)} for login in e["reviewers"]]
            reviewers += [{"type": "Team", "reviewer": {"id": i + 1, "slug": slug, "name": slug,
                                                        "url": f"{self.url}/teams/{i + 1}"}}
                          for i, slug in enumerate(e["teams"])]
            rules.append({"id": 1, "node_id": "R1", "type": "required_reviewers",
                          "prevent_self_review": e["prevent_self_review"], "reviewers": reviewers})
        if e["wait_timer"]:
            rules.append({"id": 2, "node_id": "R2", "type": "wait_timer", "wait_timer": e["wait_timer"]})
        return {"id": abs(hash(name)) % 10_000, "node_id": "E1", "name": name,
                "url": f"{self.repo_url}/environments/{name}",
                "html_url": f"https://github.com/{self.full_name}/deployments/activity_log?environments_filter={name}",
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                "protection_rules": rules, "deployment_branch_policy": None}

    def approval_json(self, a: dict[str, Any]) -> dict[str, Any]:
        env = {"id": abs(hash(a["environment"])) % 10_000, "name": a["environment"],
               "url": f"{self.repo_url}/environments/{a['environment']}"}
        return {"environments": [env], "state": a["state"], "comment": a["comment"], "user": self._user(a["user"])}

    # --- routing -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: str) -> tuple[int, Any]:
        base = f"/repos/{self.full_name}"
        path = path.split("?", 1)[0]
        if path.startswith("/api/v3"):
            path = path[len("/api/v3"):]
        for refused_method, pattern, status in self.refusals:
            if refused_method == method and re.search(pattern, path):
                return status, {"message": "Resource not accessible by integration",
                                "documentation_url": "https://docs.github.com/rest", "status": str(status)}
        if method == "GET" and path == base:
            return 200, self.repo_json()
        if m := re.fullmatch(base + r"/issues/(\d+)", path):
            return 200, self.issue_json(int(m[1]))
        if m := re.fullmatch(base + r"/issues/(\d+)/comments", path):
            number = int(m[1])
            if method == "GET":
                return 200, [self.comment_json(number, c) for c in self.comments.get(number, [])]
            if method == "POST":
                cid = self.add_comment(number, json.loads(body)["body"], author="github-actions[bot]")
                return 201, self.comment_json(number, self.comments[number][-1] | {"id": cid})
        if (m := re.fullmatch(base + r"/issues/comments/(\d+)", path)) and method == "PATCH":
            cid = int(m[1])
            for number, items in self.comments.items():
                for c in items:
                    if c["id"] == cid:
                        c["body"] = json.loads(body)["body"]
                        return 200, self.comment_json(number, c)
            return 404, {"message": "Not Found"}
        if m := re.fullmatch(base + r"/pulls/(\d+)", path):
            number = int(m[1])
            return (200, self.pull_json(number)) if number in self.pulls else (404, {"message": "Not Found"})
        if m := re.fullmatch(base + r"/pulls/(\d+)/reviews", path):
            number = int(m[1])
            return 200, [self.review_json(number, i, r) for i, r in enumerate(self.reviews.get(number, []))]
        if m := re.fullmatch(base + r"/commits/([0-9a-zA-Z]+)", path):
            return 200, {"sha": m[1], "url": f"{self.repo_url}/commits/{m[1]}",
                         "commit": {"message": "x"}, "files": []}
        if m := re.fullmatch(base + r"/commits/([0-9a-zA-Z]+)/pulls", path):
            return 200, [self.pull_json(n) for n in self.commit_pulls.get(m[1], [])]
        if (m := re.fullmatch(base + r"/environments/([^/]+)", path)) and method == "GET":
            name = unquote(m[1])
            if name not in self.environments:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            return 200, self.environment_json(name)
        if (m := re.fullmatch(base + r"/actions/runs/(\d+)/approvals", path)) and method == "GET":
            return 200, [self.approval_json(a) for a in self.run_approvals.get(m[1], [])]
        return 404, {"message": f"Not Found (fake GitHub has no {method} {path})"}


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            with fake.lock:
                fake.requests.append(Recorded(self.command, self.path, body, dict(self.headers.items())))
            status, payload = fake.handle(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def github_api() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll: shutdown() waits for it, once per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _not_on_a_hosted_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI runs this suite on GitHub-hosted runners, where ``pgwarden backup`` refuses a file:// store:
    a test that wants to be on one sets ``RUNNER_ENVIRONMENT`` itself."""
    monkeypatch.delenv("RUNNER_ENVIRONMENT", raising=False)
