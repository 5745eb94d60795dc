"""The core of FakeGitHub (issues, labels, comments, commits, statuses, checks, deployments), on top
of the shared ForgeState; ``afk.testing.fake_github`` adds each further concern's routes.

Strict means: every request is checked against GitHub's own description (a violation is answered
422 "Validation Failed", as GitHub does, and recorded in ``violations``); every body the fake
serves is checked too (a fake bug raises ``AssertionError``); a request the fake was not taught
(an unknown endpoint or query parameter) is refused and recorded rather than half-answered.
Where GitHub's behaviour is not in the description, the fake follows GitHub's documentation and
says so next to the code:

- ``POST …/issues/{n}/labels`` with a name the repo does not define answers 422 here. Real GitHub
  may create the label instead; afk never sends one (it resolves names first), so a test that
  sees this 422 has found an afk bug.
- ``DELETE …/labels/{name}`` answers 404 when the issue does not carry the label (documented).
- ``PATCH …/issues/comments/{id}`` by anyone but the author answers 403 (GitHub's rule; the
  description declares only 200/422 there, so such error bodies are checked as basic errors).
- ``GET …/commits/{ref}`` and ``…/check-runs`` answer 422 "No commit found for SHA" for an
  unknown ref, as GitHub does; ``…/status`` answers 404 (the only error it declares).
- ``GET /user`` with a GitHub App installation token answers 403 "Resource not accessible by
  integration" (register one with ``add_installation_token``).

Faults and the request log come from ``FaultPlan`` and sit in front of everything, like a proxy.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx

from afk.testing.contracts import ContractViolation, check_request, check_response, contract_text
from afk.testing.fake_github_wire import (
    _error_body,
    _iso,
    _json,
    _only_params,
    _paginate,
    _Refused,
    _Reply,
)
from afk.testing.fault_plan import FaultControls, FaultPlan
from afk.testing.forge_state import (
    CheckRun,
    Comment,
    CommitStatus,
    Deployment,
    DeploymentStatus,
    ForgeState,
    ForgeStateError,
    Issue,
    Label,
    LabelEvent,
    NotFoundError,
    User,
)

API_VERSIONS = frozenset({"2022-11-28"})
_STATUS_STATES = frozenset({"error", "failure", "pending", "success"})
_NULLABLE_ENUMS = {"state_reason": "completed", "conclusion": "neutral"}


@functools.cache
def _declared() -> dict[tuple[str, str], frozenset[int]]:
    """Status codes the description declares per (method, path template)."""
    paths = json.loads(contract_text("github"))["paths"]
    return {
        (method.upper(), path): frozenset(int(code) for code in op["responses"] if code.isdigit())
        for path, ops in paths.items()
        for method, op in ops.items()
        if isinstance(op, dict) and "responses" in op
    }


class FakeGitHubCore(FaultControls):
    """Serve ``handle(request)`` through ``mock_transport`` or ``loopback_server``.

    ``api_prefix`` is the path of the API base below the host (``""`` for api.github.com,
    ``"/api/v3"`` for GitHub Enterprise Server).
    """

    def __init__(self, state: ForgeState | None = None, *, api_prefix: str = "") -> None:
        self.state = state or ForgeState(web_url="https://github.com")
        self.faults = FaultPlan()
        self.api_prefix = api_prefix.rstrip("/")
        self._installation_logins: set[str] = set()
        self._violations: list[str] = []
        self._lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., _Reply]]] = []
        for method, template, handler in self._table():
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
            self._routes.append((method, re.compile(pattern), template, handler))

    # --- test controls ----------------------------------------------------------------------

    @property
    def violations(self) -> list[str]:
        """Requests GitHub would have refused (or the fake was not taught), in arrival order."""
        with self._lock:
            return list(self._violations)

    def add_installation_token(self, login: str, token: str) -> User:
        """A GitHub App installation token acting as ``login`` (which cannot call GET /user)."""
        user = self.state.add_user(login, token)
        with self._lock:
            self._installation_logins.add(user.login)
        return user

    # --- the wire ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        if self.api_prefix and path.startswith(self.api_prefix):
            path = path[len(self.api_prefix) :]
        return self.faults.serve(request, path, lambda: self._serve(request, path), _error_reply)

    def _serve(self, request: httpx.Request, path: str) -> httpx.Response:
        route = self._route(request.method, path)
        if route is None:
            self._violate(f"{request.method} {path}: no such endpoint in the fake")
            return _error_reply(404, {})
        template, handler, params = route
        try:
            user = self._authenticate(request, path)
            self._check_headers(request)
            try:
                check_request("github", request, path)
            except ContractViolation as exc:
                raise _Refused(422, "Validation Failed", violation=True) from exc
            status, body, headers = handler(request, user, **params)
        except _Refused as exc:
            if exc.violation:
                cause = exc.__cause__ or exc
                self._violate(f"{request.method} {path}: {cause}")
            status, body, headers = exc.status, _error_body(exc.status, exc.message), {}
        except ForgeStateError as exc:
            text = "Not Found" if isinstance(exc, NotFoundError) else exc.message
            status, body, headers = exc.status, _error_body(exc.status, text), {}
        self._check_reply(request, path, template, status, body)
        headers = {**headers, **self._extra_headers(request, path, status)}
        return httpx.Response(
            status,
            headers={"content-type": "application/json; charset=utf-8", **headers},
            content=b"" if body is None else json.dumps(body).encode(),
        )

    def _route(
        self, method: str, path: str
    ) -> tuple[str, Callable[..., _Reply], dict[str, str]] | None:
        for route_method, pattern, template, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method.upper():
                return template, handler, {k: unquote(v) for k, v in match.groupdict().items()}
        return None

    def _extra_headers(self, request: httpx.Request, path: str, status: int) -> dict[str, str]:
        """Headers every reply carries besides its route's own (none in the core)."""
        return {}

    def _app_user(self, request: httpx.Request, path: str) -> User | None:
        """The caller when it authenticates as a GitHub App (none in the core)."""
        return None

    def _check_run_app(self, request: httpx.Request, run: CheckRun) -> dict[str, Any] | None:
        """A check run's ``app`` (none in the core)."""
        return None

    def _extra_routes(self) -> list[tuple[str, str, Callable[..., _Reply]]]:
        """Routes beyond the core's (none in the core)."""
        return []

    def _violate(self, what: str) -> None:
        with self._lock:
            self._violations.append(what)

    def _authenticate(self, request: httpx.Request, path: str = "") -> User:
        app_user = self._app_user(request, path)
        if app_user is not None:
            return app_user
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if not token:
            raise _Refused(401, "Requires authentication")
        user = None
        if scheme.lower() in ("bearer", "token"):
            user = self.state.user_for_token(token.strip())
        if user is None:
            raise _Refused(401, "Bad credentials")
        return user

    def _check_headers(self, request: httpx.Request) -> None:
        version = request.headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            raise _Refused(400, f"Invalid API version: {version}", violation=True)
        content = request.content
        if content:
            try:
                json.loads(content)
            except ValueError:
                raise _Refused(400, "Problems parsing JSON", violation=True) from None

    def _check_reply(
        self, request: httpx.Request, path: str, template: str, status: int, body: Any
    ) -> None:
        """A fake bug (a body GitHub could not send) fails the test that caused it."""
        if status in _declared().get((request.method.upper(), template), frozenset()):
            try:
                check_response("github", request, path, status, _nullable_enums(body))
            except ContractViolation as exc:
                raise AssertionError(f"FakeGitHub served an invalid reply: {exc}") from None
        elif status < 400 or not isinstance(body, dict) or not isinstance(body.get("message"), str):
            raise AssertionError(f"FakeGitHub served an undeclared {status} to {path}")

    # --- routes -----------------------------------------------------------------------------

    def _table(self) -> list[tuple[str, str, Callable[..., _Reply]]]:
        return self._core_table() + self._extra_routes()

    def _core_table(self) -> list[tuple[str, str, Callable[..., _Reply]]]:
        repo = "/repos/{owner}/{repo}"
        issue = f"{repo}/issues/{{issue_number}}"
        commit = f"{repo}/commits/{{ref}}"
        return [
            ("GET", "/user", self._get_user),
            ("GET", repo, self._get_repo),
            ("GET", f"{repo}/issues", self._list_issues),
            ("GET", issue, self._get_issue),
            ("PATCH", issue, self._patch_issue),
            ("GET", f"{repo}/labels", self._list_labels),
            ("POST", f"{issue}/labels", self._add_labels),
            ("DELETE", f"{issue}/labels/{{name}}", self._remove_label),
            ("GET", f"{issue}/comments", self._list_comments),
            ("POST", f"{issue}/comments", self._create_comment),
            ("PATCH", f"{repo}/issues/comments/{{comment_id}}", self._edit_comment),
            ("GET", f"{issue}/events", self._list_events),
            ("GET", commit, self._get_commit),
            ("GET", f"{commit}/status", self._combined_status),
            ("GET", f"{commit}/check-runs", self._check_runs),
            ("GET", f"{repo}/deployments", self._list_deployments),
            ("GET", f"{repo}/deployments/{{deployment_id}}/statuses", self._deployment_statuses),
        ]

    def _get_user(self, request: httpx.Request, user: User) -> _Reply:
        _only_params(request, ())
        with self._lock:
            installation = user.login in self._installation_logins
        if installation:
            raise _Refused(403, "Resource not accessible by integration")
        return 200, self._private_user(request, user), {}

    def _list_issues(self, request: httpx.Request, user: User, owner: str, repo: str) -> _Reply:
        query = _only_params(request, ("state", "labels", "sort", "direction", "per_page", "page"))
        full = self._repo(owner, repo)
        label_ids = []
        for name in filter(None, (n.strip() for n in query.get("labels", "").split(","))):
            label = self.state.find_label(full, name, ignore_case=True)
            if label is None:
                return 200, [], {}
            label_ids.append(label.id)
        if query.get("sort", "created") != "created":
            raise _Refused(422, "the fake sorts by created only", violation=True)
        issues = self.state.list_issues(
            full,
            state=query.get("state", "open"),  # type: ignore[arg-type]
            label_ids=label_ids,
        )
        if query.get("direction") == "asc":
            issues.reverse()
        page, headers = _paginate(request, issues)
        return 200, [self._issue(request, i) for i in page], headers

    def _get_issue(
        self, request: httpx.Request, user: User, owner: str, repo: str, issue_number: str
    ) -> _Reply:
        _only_params(request, ())
        issue = self.state.issue(self._repo(owner, repo), int(issue_number))
        return 200, self._issue(request, issue), {}

    def _patch_issue(
        self, request: httpx.Request, user: User, owner: str, repo: str, issue_number: str
    ) -> _Reply:
        _only_params(request, ())
        body = _json(request) or {}
        unknown = set(body) - {"title", "body", "state", "state_reason"}
        if unknown:
            raise _Refused(422, f"the fake does not edit {sorted(unknown)}", violation=True)
        full = self._repo(owner, repo)
        current = self.state.issue(full, int(issue_number))
        state = body.get("state")
        changes_state = state is not None and state != current.state
        reason = body.get("state_reason") if changes_state else None
        if changes_state and state == "open":
            reason = reason or "reopened"
        issue = self.state.edit_issue(
            full,
            int(issue_number),
            actor=user.login,
            title=None if body.get("title") is None else str(body["title"]),
            body=body.get("body"),
            state=state,
            state_reason=reason,
        )
        return 200, self._issue(request, issue), {}

    def _list_labels(self, request: httpx.Request, user: User, owner: str, repo: str) -> _Reply:
        _only_params(request, ("per_page", "page"))
        page, headers = _paginate(request, self.state.labels(self._repo(owner, repo)))
        return 200, [self._label(request, owner, repo, label) for label in page], headers

    def _add_labels(
        self, request: httpx.Request, user: User, owner: str, repo: str, issue_number: str
    ) -> _Reply:
        _only_params(request, ())
        body = _json(request)
        items = body["labels"] if isinstance(body, dict) else body
        full = self._repo(owner, repo)
        self.state.issue(full, int(issue_number))
        ids = []
        for item in items:
            name = item if isinstance(item, str) else item["name"]
            label = self.state.find_label(full, name, ignore_case=True)
            if label is None:
                raise _Refused(422, f"the fake never creates labels: {name!r} does not exist")
            ids.append(label.id)
        issue = self.state.add_labels(full, int(issue_number), ids, actor=user.login)
        return 200, [self._label(request, owner, repo, label) for label in issue.labels], {}

    def _remove_label(
        self,
        request: httpx.Request,
        user: User,
        owner: str,
        repo: str,
        issue_number: str,
        name: str,
    ) -> _Reply:
        _only_params(request, ())
        full = self._repo(owner, repo)
        label = self.state.find_label(full, name, ignore_case=True)
        number = int(issue_number)
        if label is None or not self.state.remove_label(full, number, label.id, actor=user.login):
            raise _Refused(404, "Label does not exist")
        issue = self.state.issue(full, number)
        return 200, [self._label(request, owner, repo, item) for item in issue.labels], {}

    def _list_comments(
        self, request: httpx.Request, user: User, owner: str, repo: str, issue_number: str
    ) -> _Reply:
        _only_params(request, ("per_page", "page"))
        comments = self.state.comments(self._repo(owner, repo), int(issue_number))
        page, headers = _paginate(request, sorted(comments, key=lambda c: c.id))
        return 200, [self._comment(request, owner, repo, c) for c in page], headers

    def _create_comment(
        self, request: httpx.Request, user: User, owner: str, repo: str, issue_number: str
    ) -> _Reply:
        _only_params(request, ())
        text = _json(request)["body"]
        comment = self.state.add_comment(
            self._repo(owner, repo), int(issue_number), text, user=user.login
        )
        return 201, self._comment(request, owner, repo, comment), {}

    def _edit_comment(
        self, request: httpx.Request, user: User, owner: str, repo: str, comment_id: str
    ) -> _Reply:
        _only_params(request, ())
        comment = self.state.edit_comment(
            self._repo(owner, repo), int(comment_id), _json(request)["body"], actor=user.login
        )
        return 200, self._comment(request, owner, repo, comment), {}

    def _list_events(
        self, request: httpx.Request, user: User, owner: str, repo: str, issue_number: str
    ) -> _Reply:
        _only_params(request, ("per_page", "page"))
        events = self.state.label_events(self._repo(owner, repo), int(issue_number))
        page, headers = _paginate(request, events)
        return 200, [self._event(request, owner, repo, e) for e in page], headers

    def _get_commit(
        self, request: httpx.Request, user: User, owner: str, repo: str, ref: str
    ) -> _Reply:
        _only_params(request, ())
        sha = self._sha(owner, repo, ref, status=422)
        return 200, self._commit(request, owner, repo, sha), {}

    def _combined_status(
        self, request: httpx.Request, user: User, owner: str, repo: str, ref: str
    ) -> _Reply:
        _only_params(request, ("per_page", "page"))
        full = self._repo(owner, repo)
        sha = self._sha(owner, repo, ref, status=404)
        latest = self.state.latest_statuses(full, sha)
        page, headers = _paginate(request, latest)
        states = {s.state for s in latest}
        if states - _STATUS_STATES:
            raise AssertionError(f"GitHub has no commit status state {states - _STATUS_STATES}")
        if states & {"error", "failure"}:
            combined = "failure"
        elif not states or "pending" in states:
            combined = "pending"
        else:
            combined = "success"
        base = self._base(request)
        body = {
            "state": combined,
            "statuses": [self._status(request, owner, repo, s) for s in page],
            "sha": sha,
            "total_count": len(latest),
            "repository": self._minimal_repo(request, owner, repo),
            "commit_url": f"{base}/repos/{owner}/{repo}/commits/{sha}",
            "url": f"{base}/repos/{owner}/{repo}/commits/{sha}/status",
        }
        return 200, body, headers

    def _check_runs(
        self, request: httpx.Request, user: User, owner: str, repo: str, ref: str
    ) -> _Reply:
        query = _only_params(request, ("check_name", "status", "filter", "per_page", "page"))
        full = self._repo(owner, repo)
        sha = self._sha(owner, repo, ref, status=422)
        runs = self.state.check_runs(full, sha)
        if query.get("filter", "latest") == "latest":
            newest: dict[str, CheckRun] = {}
            for run in runs:
                newest[run.name] = run
            runs = list(newest.values())
        runs = [
            run
            for run in sorted(runs, key=lambda r: r.id, reverse=True)
            if query.get("check_name", run.name) == run.name
            and query.get("status", run.status) == run.status
        ]
        page, headers = _paginate(request, runs)
        body = {
            "total_count": len(runs),
            "check_runs": [self._check_run(request, owner, repo, run) for run in page],
        }
        return 200, body, headers

    def _list_deployments(
        self, request: httpx.Request, user: User, owner: str, repo: str
    ) -> _Reply:
        query = _only_params(request, ("sha", "ref", "environment", "task", "per_page", "page"))
        found = [
            d
            for d in self.state.deployments(self._repo(owner, repo))
            if query.get("sha", d.sha) == d.sha
            and query.get("ref", d.ref) == d.ref
            and query.get("environment", d.environment) == d.environment
            and query.get("task", "deploy") == "deploy"
        ]
        page, headers = _paginate(request, found)
        return 200, [self._deployment(request, owner, repo, d) for d in page], headers

    def _deployment_statuses(
        self, request: httpx.Request, user: User, owner: str, repo: str, deployment_id: str
    ) -> _Reply:
        _only_params(request, ("per_page", "page"))
        deployment = self.state.deployment(self._repo(owner, repo), int(deployment_id))
        newest_first = sorted(deployment.statuses, key=lambda s: s.id, reverse=True)
        page, headers = _paginate(request, newest_first)
        body = [self._deployment_status(request, owner, repo, deployment, s) for s in page]
        return 200, body, headers

    # --- lookups ----------------------------------------------------------------------------

    def _repo(self, owner: str, repo: str) -> str:
        full = f"{owner}/{repo}"
        if not self.state.has_repo(full):
            raise _Refused(404, "Not Found")
        return full

    def _sha(self, owner: str, repo: str, ref: str, *, status: int) -> str:
        sha = self.state.resolve_ref(self._repo(owner, repo), ref)
        if sha is None:
            raise _Refused(status, f"No commit found for SHA: {ref}")
        return sha

    # --- JSON shapes (required fields per GitHub's description) ------------------------------

    def _base(self, request: httpx.Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc.decode('ascii')}{self.api_prefix}"

    def _user(self, request: httpx.Request, login: str) -> dict[str, Any]:
        try:
            user = self.state.user(login)
        except NotFoundError:
            user = User(id=0, login=login)
        api = f"{self._base(request)}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.state.web_url}/{user.login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": "Bot" if user.login.endswith("[bot]") else "User",
            "site_admin": user.is_admin,
        }

    def _private_user(self, request: httpx.Request, user: User) -> dict[str, Any]:
        epoch = _iso(datetime(2020, 1, 1, tzinfo=UTC))
        profile: dict[str, Any] = {
            "name": None,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": epoch,
            "updated_at": epoch,
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
            "user_view_type": "private",
        }
        return {**self._user(request, user.login), **profile}

    def _repo_url(self, request: httpx.Request, owner: str, repo: str) -> str:
        return f"{self._base(request)}/repos/{owner}/{repo}"

    def _issue(self, request: httpx.Request, issue: Issue) -> dict[str, Any]:
        owner, _, name = issue.repo.partition("/")
        repo_url = self._repo_url(request, owner, name)
        url = f"{repo_url}/issues/{issue.number}"
        body: dict[str, Any] = {
            "id": issue.id,
            "node_id": f"I_{issue.id}",
            "url": url,
            "repository_url": repo_url,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": issue.html_url,
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body or None,
            "user": self._user(request, issue.user),
            "labels": [self._label(request, owner, name, label) for label in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(self.state.comments(issue.repo, issue.number)),
            "closed_at": None if issue.closed_at is None else _iso(issue.closed_at),
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "author_association": "OWNER" if issue.user == owner else "CONTRIBUTOR",
        }
        if issue.is_pull_request:
            pull = f"{repo_url}/pulls/{issue.number}"
            merged_at = None
            if self.state.is_pull(issue.repo, issue.number):
                merged_at = self.state.pull(issue.repo, issue.number).merged_at
            body["pull_request"] = {
                "url": pull,
                "html_url": issue.html_url,
                "diff_url": f"{issue.html_url}.diff",
                "patch_url": f"{issue.html_url}.patch",
                "merged_at": None if merged_at is None else _iso(merged_at),
            }
        return body

    def _label(self, request: httpx.Request, owner: str, repo: str, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": f"LA_{label.id}",
            "url": f"{self._repo_url(request, owner, repo)}/labels/{label.name}",
            "name": label.name,
            "description": label.description or None,
            "color": label.color,
            "default": False,
        }

    def _comment(
        self, request: httpx.Request, owner: str, repo: str, comment: Comment
    ) -> dict[str, Any]:
        repo_url = self._repo_url(request, owner, repo)
        html = f"{self.state.web_url}/{owner}/{repo}/issues/{comment.issue_number}"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": f"{repo_url}/issues/comments/{comment.id}",
            "html_url": f"{html}#issuecomment-{comment.id}",
            "body": comment.body,
            "user": self._user(request, comment.user),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "issue_url": f"{repo_url}/issues/{comment.issue_number}",
            "author_association": "OWNER" if comment.user == owner else "CONTRIBUTOR",
        }

    def _event(
        self, request: httpx.Request, owner: str, repo: str, event: LabelEvent
    ) -> dict[str, Any]:
        return {
            "id": event.id,
            "node_id": f"LE_{event.id}",
            "url": f"{self._repo_url(request, owner, repo)}/issues/events/{event.id}",
            "actor": self._user(request, event.actor),
            "event": "labeled" if event.added else "unlabeled",
            "commit_id": None,
            "commit_url": None,
            "created_at": _iso(event.created_at),
            "performed_via_github_app": None,
            "label": {"name": event.label.name, "color": event.label.color},
        }

    def _commit(self, request: httpx.Request, owner: str, repo: str, sha: str) -> dict[str, Any]:
        """Authored by the repo owner: the model keeps no authors, and the validator refuses the
        ``null`` GitHub sends for an unknown author (a nullable ``oneOf``). The date and the
        parents are the model's (provenance reads the committer date)."""
        repo_url = self._repo_url(request, owner, repo)
        full_name = self._repo(owner, repo)
        git_user = {
            "name": owner,
            "email": f"{owner}@users.noreply.github.com",
            "date": _iso(self.state.committed_at(full_name, sha)),
        }
        parents = [
            {"sha": parent, "url": f"{repo_url}/commits/{parent}"}
            for parent in self.state.commit_parents(full_name, sha)
        ]
        return {
            "url": f"{repo_url}/commits/{sha}",
            "sha": sha,
            "node_id": f"C_{sha[:12]}",
            "html_url": f"{self.state.web_url}/{owner}/{repo}/commit/{sha}",
            "comments_url": f"{repo_url}/commits/{sha}/comments",
            "commit": {
                "url": f"{repo_url}/git/commits/{sha}",
                "author": git_user,
                "committer": git_user,
                "message": "",
                "comment_count": 0,
                "tree": {"sha": sha, "url": f"{repo_url}/git/trees/{sha}"},
            },
            "author": self._user(request, owner),
            "committer": self._user(request, owner),
            "parents": parents,
        }

    def _status(
        self, request: httpx.Request, owner: str, repo: str, status: CommitStatus
    ) -> dict[str, Any]:
        return {
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description or None,
            "target_url": status.target_url,
            "context": status.context,
            "avatar_url": None,
            "url": f"{self._repo_url(request, owner, repo)}/statuses/{status.sha}",
            "created_at": _iso(status.created_at),
            "updated_at": _iso(status.updated_at),
        }

    def _get_repo(self, request: httpx.Request, user: User, owner: str, repo: str) -> _Reply:
        """The repository and its default branch (``afk doctor --deep`` reads it)."""
        _only_params(request, ())
        self._repo(owner, repo)
        record = self.state.repo(f"{owner}/{repo}")
        epoch = _iso(datetime(2020, 1, 1, tzinfo=UTC))
        host = request.url.host
        full = {
            **self._minimal_repo(request, owner, repo),
            "clone_url": f"{self.state.web_url}/{record.full_name}.git",
            "git_url": f"git://{host}/{record.full_name}.git",
            "ssh_url": f"git@{host}:{record.full_name}.git",
            "svn_url": f"{self.state.web_url}/{record.full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "license": None,
            "default_branch": record.default_branch,
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "size": 0,
            "forks": 0,
            "forks_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "network_count": 0,
            "subscribers_count": 0,
            "pushed_at": epoch,
            "created_at": epoch,
            "updated_at": epoch,
        }
        return 200, full, {}

    def _minimal_repo(self, request: httpx.Request, owner: str, repo: str) -> dict[str, Any]:
        record = self.state.repo(f"{owner}/{repo}")
        url = self._repo_url(request, record.owner, record.name)
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        return {
            "id": record.id,
            "node_id": f"R_{record.id}",
            "name": record.name,
            "full_name": record.full_name,
            "owner": self._user(request, record.owner),
            "private": False,
            "html_url": f"{self.state.web_url}/{record.full_name}",
            "description": None,
            "fork": False,
            "url": url,
            **{key: url + tail for key, tail in templated.items()},
        }

    def _check_run(
        self, request: httpx.Request, owner: str, repo: str, run: CheckRun
    ) -> dict[str, Any]:
        url = f"{self._repo_url(request, owner, repo)}/check-runs/{run.id}"
        return {
            "id": run.id,
            "head_sha": run.sha,
            "node_id": f"CR_{run.id}",
            "external_id": "",
            "url": url,
            "html_url": f"{self.state.web_url}/{owner}/{repo}/runs/{run.id}",
            "details_url": run.details_url,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": _iso(run.started_at),
            "completed_at": None if run.completed_at is None else _iso(run.completed_at),
            "output": {
                "title": run.output_title,
                "summary": run.output_summary,
                "text": None,
                "annotations_count": len(run.annotations),
                "annotations_url": f"{url}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": run.id},
            "app": self._check_run_app(request, run),
            "pull_requests": [],
        }

    def _deployment(
        self, request: httpx.Request, owner: str, repo: str, deployment: Deployment
    ) -> dict[str, Any]:
        repo_url = self._repo_url(request, owner, repo)
        url = f"{repo_url}/deployments/{deployment.id}"
        return {
            "url": url,
            "id": deployment.id,
            "node_id": f"DE_{deployment.id}",
            "sha": deployment.sha,
            "ref": deployment.ref,
            "task": "deploy",
            "payload": {},
            "original_environment": deployment.environment,
            "environment": deployment.environment,
            "description": None,
            "creator": self._user(request, deployment.creator),
            "created_at": _iso(deployment.created_at),
            "updated_at": _iso(deployment.created_at),
            "statuses_url": f"{url}/statuses",
            "repository_url": repo_url,
            "transient_environment": False,
            "production_environment": deployment.environment.casefold() == "production",
        }

    def _deployment_status(
        self,
        request: httpx.Request,
        owner: str,
        repo: str,
        deployment: Deployment,
        status: DeploymentStatus,
    ) -> dict[str, Any]:
        repo_url = self._repo_url(request, owner, repo)
        deployment_url = f"{repo_url}/deployments/{deployment.id}"
        return {
            "url": f"{deployment_url}/statuses/{status.id}",
            "id": status.id,
            "node_id": f"DES_{status.id}",
            "state": status.state,
            "creator": self._user(request, status.creator),
            "description": status.description,
            "environment": deployment.environment,
            "target_url": status.log_url or "",
            "log_url": status.log_url or "",
            "environment_url": status.environment_url or "",
            "created_at": _iso(status.created_at),
            "updated_at": _iso(status.created_at),
            "deployment_url": deployment_url,
            "repository_url": repo_url,
        }


# --- helpers ----------------------------------------------------------------------------------


def _error_reply(status: int, headers: Mapping[str, str]) -> httpx.Response:
    """A scripted fault as GitHub (or its rate limiter) would word it."""
    messages = {
        403: "You have exceeded a secondary rate limit. Please wait a few minutes.",
        429: "API rate limit exceeded",
        404: "Not Found",
    }
    message = messages.get(status, "Server Error" if status >= 500 else "Error")
    return httpx.Response(status, headers=dict(headers), json=_error_body(status, message))


def _nullable_enums(value: Any) -> Any:
    """The body as the validator must see it: ``null`` in GitHub's nullable enums made valid.

    GitHub's description marks ``state_reason`` (issue) and ``conclusion`` (check run)
    ``nullable`` with an ``enum`` that does not list null; openapi-core then refuses the null a
    real GitHub sends for an open issue or an unfinished run. A stand-in member keeps the rest of
    the object checked.
    """
    if isinstance(value, list):
        return [_nullable_enums(item) for item in value]
    if not isinstance(value, dict):
        return value
    view = {key: _nullable_enums(item) for key, item in value.items()}
    for key, stand_in in _NULLABLE_ENUMS.items():
        if key in view and view[key] is None:
            view[key] = stand_in
    return view
