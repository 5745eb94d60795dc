"""GitHub as afk's tracker (issues, labels, run comment) and CI source (statuses, checks, deploys).

Facts behind the choices (FORGE_API.md, GitHub column): every pull request is also an issue, so
lists drop items with a ``pull_request`` key; GitHub would create a label that does not exist, so
names are resolved against the repo's labels first and a missing one fails clearly; removing a
label the issue does not carry answers 404, which is success here; the combined commit status
ignores check runs (GitHub Actions reports there) and says ``pending`` forever on a repo with no
statuses, so both are read and reduced together. Every call goes through ``afk.adapters.http``
(retry budget, ``Retry-After``, error mapping) with the bearer read afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from afk.adapters.http import ErrorKinds, JsonApi, RetryPolicy, json_of
from afk.adapters.issue_comments import IssueComments
from afk.core.ports import BearerProvider, RunComment
from afk.core.types import (
    CiCheck,
    CiState,
    CiStatus,
    DeployState,
    DeployStatus,
    Issue,
    RepoRef,
)
from afk.errors import (
    LabelMissing,
    TrackerAuthError,
    TrackerBadResponse,
    TrackerNotFound,
    TrackerRejected,
    TrackerUnavailable,
)

GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"
RUN_MARKER = "<!-- afk:run "
_PER_PAGE = 100
_MAX_PAGES = 100
KINDS = ErrorKinds(
    service="GitHub",
    auth=TrackerAuthError,
    rejected=TrackerRejected,
    not_found=TrackerNotFound,
    unavailable=TrackerUnavailable,
    bad_response=TrackerBadResponse,
)


def _bad(operation: str, detail: str) -> TrackerBadResponse:
    return TrackerBadResponse(service=KINDS.service, operation=operation, detail=detail)


def _field(obj: Any, key: str, kind: type | tuple[type, ...], operation: str) -> Any:
    """``obj[key]`` when ``obj`` is an object and the value has the promised type."""
    if not isinstance(obj, dict) or key not in obj:
        raise _bad(operation, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad(operation, f"field {key!r} has the wrong type")
    return value


def _login(user: Any) -> str | None:
    """The login of a (nullable) simple-user; ``None`` for a deleted account."""
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return str(user["login"])
    return None


def _timestamp(text: Any, operation: str) -> datetime:
    if not isinstance(text, str):
        raise _bad(operation, "a timestamp is not a string")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _bad(operation, "a timestamp is not ISO 8601") from None


class _GitHubApi(JsonApi):
    """What the tracker and the CI source share: GitHub's headers and pagination."""

    kinds = KINDS

    def __init__(
        self, base_url: str, http: httpx.Client, bearer: BearerProvider, *, retry: RetryPolicy
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)
        self._origin = httpx.URL(self._base).copy_with(path="/", query=None, fragment=None)

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def _pages(
        self, url: str, *, operation: str, params: dict[str, Any], items_key: str | None = None
    ) -> Iterator[tuple[Any, list[Any]]]:
        """Yield (page body, its items) for every page, following ``Link: rel="next"``.

        A next link to another origin, or one already visited, is a bad response: the bearer
        must never leave the configured host, and a loop must end.
        """
        next_url: str | None = url
        next_params: dict[str, Any] | None = {**params, "per_page": _PER_PAGE, "page": 1}
        seen: set[str] = set()
        while next_url is not None:
            if len(seen) >= _MAX_PAGES:
                raise _bad(operation, f"more than {_MAX_PAGES} pages")
            response = self._call("GET", next_url, operation=operation, params=next_params)
            seen.add(str(response.request.url))
            body = json_of(response, kinds=KINDS, operation=operation)
            items = body if items_key is None else _field(body, items_key, list, operation)
            if not isinstance(items, list):
                raise _bad(operation, "expected a list")
            yield body, items
            next_url, next_params = self._next_link(response, seen, operation), None

    def _next_link(self, response: httpx.Response, seen: set[str], operation: str) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        target = response.request.url.join(link)
        if target.copy_with(path="/", query=None, fragment=None) != self._origin:
            raise _bad(operation, "a pagination link points to another host")
        if str(target) in seen:
            raise _bad(operation, "a pagination link points back to a page already read")
        return str(target)


class GitHubTracker(_GitHubApi, IssueComments):
    """``Tracker`` over GitHub's REST API (``ports.Tracker``)."""

    def __init__(
        self,
        base_url: str = GITHUB_API,
        *,
        http: httpx.Client,
        bearer: BearerProvider,
        bot_login: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry or RetryPolicy())
        self._bot_login = bot_login or None
        self._login_lock = threading.Lock()
        self._labels: dict[RepoRef, dict[str, str]] = {}

    def bot_login(self) -> str:
        """Asked once per instance: a tick's concurrent workers wait for the first answer
        instead of each spending a request of the rate limit on the same question."""
        with self._login_lock:
            if self._bot_login is None:
                self._bot_login = self._ask_login()
            return self._bot_login

    def _ask_login(self) -> str:
        operation = "read the authenticated user"
        try:
            body = self._json("GET", f"{self._base}/user", operation=operation)
        except (TrackerNotFound, TrackerAuthError) as exc:
            if exc.status == 401:
                raise
            raise TrackerRejected(
                service=KINDS.service,
                operation=operation,
                status=exc.status,
                detail="this token cannot call GET /user (a GitHub App installation token "
                "cannot): set AFK_BOT_LOGIN to afk's account login",
            ) from None
        return str(_field(body, "login", str, operation))

    def list_issues(self, repo: RepoRef, label: str) -> list[Issue]:
        operation = f"list issues of {repo}"
        params = {"state": "open", "labels": label}
        found: list[Issue] = []
        for _, items in self._pages(self._url(repo, "/issues"), operation=operation, params=params):
            for item in items:
                if isinstance(item, dict) and "pull_request" in item:
                    continue
                issue = _issue_of(repo, item, operation)
                if issue.has_label(label):
                    found.append(issue)
        return found

    def get_issue(self, repo: RepoRef, number: int) -> Issue:
        operation = f"read issue {repo}#{number}"
        body = self._json("GET", self._url(repo, f"/issues/{number}"), operation=operation)
        return _issue_of(repo, body, operation)

    def add_label(self, repo: RepoRef, number: int, label: str) -> None:
        operation = f"add label {label!r} to {repo}#{number}"
        name = self._repo_labels(repo).get(label.casefold())
        if name is None:
            name = self._repo_labels(repo, fresh=True).get(label.casefold())
        if name is None:
            raise LabelMissing(
                service=KINDS.service,
                operation=operation,
                detail=f"the repo {repo} has no label {label!r}; create it first",
            )
        self._call(
            "POST",
            self._url(repo, f"/issues/{number}/labels"),
            operation=operation,
            json_body={"labels": [name]},
        )

    def remove_label(self, repo: RepoRef, number: int, label: str) -> None:
        operation = f"remove label {label!r} from {repo}#{number}"
        url = self._url(repo, f"/issues/{number}/labels/{quote(label, safe='')}")
        try:
            self._call("DELETE", url, operation=operation)
        except TrackerNotFound:
            return  # GitHub answers 404 when the label is not on the issue: already removed

    def find_run_comment(self, repo: RepoRef, number: int) -> RunComment | None:
        operation = f"read comments of {repo}#{number}"
        me = self.bot_login().casefold()
        url = self._url(repo, f"/issues/{number}/comments")
        mine: list[RunComment] = []
        for _, items in self._pages(url, operation=operation, params={}):
            for item in items:
                author = _login(_field(item, "user", (dict, type(None)), operation))
                body = item.get("body")
                if author is None or author.casefold() != me or not isinstance(body, str):
                    continue
                if RUN_MARKER in body:
                    mine.append(RunComment(id=_field(item, "id", int, operation), body=body))
        return min(mine, key=lambda c: c.id, default=None)

    def close_issue(self, repo: RepoRef, number: int) -> None:
        self._call(
            "PATCH",
            self._url(repo, f"/issues/{number}"),
            operation=f"close {repo}#{number}",
            json_body={"state": "closed", "state_reason": "completed"},
        )

    def label_applier(self, repo: RepoRef, number: int, label: str) -> str | None:
        operation = f"read events of {repo}#{number}"
        wanted = label.casefold()
        latest: tuple[datetime, int, str | None] | None = None
        url = self._url(repo, f"/issues/{number}/events")
        for _, items in self._pages(url, operation=operation, params={}):
            for item in items:
                if not isinstance(item, dict) or item.get("event") != "labeled":
                    continue
                name = _field(_field(item, "label", dict, operation), "name", str, operation)
                if name.casefold() != wanted:
                    continue
                key = (
                    _timestamp(item.get("created_at"), operation),
                    _field(item, "id", int, operation),
                    _login(item.get("actor")),
                )
                if latest is None or key[:2] > latest[:2]:
                    latest = key
        return None if latest is None else latest[2]

    def missing_labels(self, repo: RepoRef, labels: tuple[str, ...]) -> tuple[str, ...]:
        known = self._repo_labels(repo, fresh=True)
        return tuple(label for label in labels if label.casefold() not in known)

    def _repo_labels(self, repo: RepoRef, *, fresh: bool = False) -> dict[str, str]:
        """The repo's label names keyed by their casefold, read once per instance unless fresh."""
        if fresh or repo not in self._labels:
            operation = f"list labels of {repo}"
            names: dict[str, str] = {}
            for _, items in self._pages(self._url(repo, "/labels"), operation=operation, params={}):
                for item in items:
                    name = _field(item, "name", str, operation)
                    names[name.casefold()] = name
            self._labels[repo] = names
        return self._labels[repo]


def _issue_of(repo: RepoRef, item: Any, operation: str) -> Issue:
    _same_repo(repo, item, operation)
    labels: list[str] = []
    for label in _field(item, "labels", list, operation):
        if isinstance(label, str):
            labels.append(label)
        else:
            labels.append(_field(label, "name", str, operation))
    body = _field(item, "body", (str, type(None)), operation) if "body" in item else None
    return Issue(
        repo=repo,
        number=_field(item, "number", int, operation),
        title=_field(item, "title", str, operation),
        body=body or "",
        labels=tuple(labels),
        author=_login(_field(item, "user", (dict, type(None)), operation)) or "",
        created_at=_timestamp(_field(item, "created_at", str, operation), operation),
        url=_field(item, "html_url", str, operation),
    )


def _same_repo(repo: RepoRef, item: Any, operation: str) -> None:
    """The allowlist fence at the edge: an issue must say it belongs to the repo asked about.

    Fix (reliability suite, allowlist fence): an item of another repository in a listing was
    taken as the asked repo's issue of the same number, so a foreign issue's text could drive
    an agent in an enrolled repo, and afk labelled and commented an unrelated issue there.
    ``repository_url`` is ``{api}/repos/{owner}/{name}``; a renamed repo fails here too, which
    is right: the allowlist names repositories exactly.
    """
    url = item.get("repository_url") if isinstance(item, dict) else None
    if not isinstance(url, str):
        return
    named = "/".join(httpx.URL(url).path.rstrip("/").split("/")[-2:])
    if named.casefold() != str(repo).casefold():
        raise _bad(operation, f"the reply holds an issue of another repository ({named})")


# --- CI ------------------------------------------------------------------------------------

_CHECK_PASS = frozenset({"success", "neutral", "skipped"})
_CHECK_FAIL = frozenset({"failure", "cancelled", "timed_out", "action_required"})
_STATUS_FAIL = frozenset({"failure", "error"})
_DEPLOY_PENDING = frozenset({"pending", "queued", "in_progress"})
_DEPLOY_FAILED = frozenset({"failure", "error"})


class GitHubCi(_GitHubApi):
    """``CiSource`` over GitHub: combined status + check runs, and deployments by environment."""

    def __init__(
        self,
        base_url: str = GITHUB_API,
        *,
        http: httpx.Client,
        bearer: BearerProvider,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry or RetryPolicy())

    def sha_exists(self, repo: RepoRef, sha: str) -> bool:
        """GitHub answers 422 ("No commit found for SHA") for an unknown ref, 404 for no access."""
        operation = f"read commit {sha} of {repo}"
        try:
            body = self._json(
                "GET", self._url(repo, f"/commits/{quote(sha, safe='')}"), operation=operation
            )
        except TrackerNotFound:
            return False
        except TrackerRejected as exc:
            if exc.status == 422:
                return False
            raise
        _field(body, "sha", str, operation)
        return True

    def ci_state(self, repo: RepoRef, sha: str) -> CiState:
        verdicts = [*self._status_verdicts(repo, sha), *self._check_verdicts(repo, sha)]
        return reduce_ci(verdicts)

    def _status_verdicts(self, repo: RepoRef, sha: str) -> list[tuple[CiStatus, CiCheck]]:
        """The combined status as one verdict, plus each failing context as evidence.

        ``total_count == 0`` means no statuses at all: GitHub then says ``pending`` forever, which
        is no signal, not a pending one.
        """
        operation = f"read commit status of {sha} in {repo}"
        url = self._url(repo, f"/commits/{quote(sha, safe='')}/status")
        combined: str | None = None
        total = 0
        statuses: list[Any] = []
        for body, items in self._pages(url, operation=operation, params={}, items_key="statuses"):
            if combined is None:
                combined = _field(body, "state", str, operation)
                total = _field(body, "total_count", int, operation)
            statuses.extend(items)
        if total == 0 and not statuses:
            return []
        failing = [
            (CiStatus.FAILED, _status_check(item, operation))
            for item in statuses
            if _field(item, "state", str, operation) in _STATUS_FAIL
        ]
        if combined in _STATUS_FAIL:
            return failing or [(CiStatus.FAILED, CiCheck(context="commit status", state=combined))]
        status = {"success": CiStatus.PASSED, "pending": CiStatus.PENDING}.get(
            combined or "", CiStatus.UNKNOWN
        )
        return [(status, CiCheck(context="commit status", state=combined or ""))]

    def _check_verdicts(self, repo: RepoRef, sha: str) -> list[tuple[CiStatus, CiCheck]]:
        operation = f"read check runs of {sha} in {repo}"
        url = self._url(repo, f"/commits/{quote(sha, safe='')}/check-runs")
        verdicts: list[tuple[CiStatus, CiCheck]] = []
        for _, items in self._pages(url, operation=operation, params={}, items_key="check_runs"):
            verdicts.extend(_check_run_verdict(item, operation) for item in items)
        return verdicts

    def deploy_state(self, repo: RepoRef, sha: str, target: str) -> DeployState:
        """The latest deployment of ``sha`` to environment ``target``, by its latest status.

        No deployment (or no status) yet is PENDING. ``inactive`` means a later deployment
        replaced this one: GitHub only marks deployments that had succeeded inactive
        automatically, so it counts as SUCCEEDED when an earlier status of this deployment was
        ``success``, else UNKNOWN (someone set it by hand).
        """
        operation = f"read deployments of {sha} to {target} in {repo}"
        params = {"sha": sha, "environment": target}
        deployments = [
            item
            for _, items in self._pages(
                self._url(repo, "/deployments"), operation=operation, params=params
            )
            for item in items
            if _field(item, "sha", str, operation) == sha
            and _field(item, "environment", str, operation).casefold() == target.casefold()
        ]
        if not deployments:
            return DeployState(DeployStatus.PENDING, description=f"no deployment to {target} yet")
        latest = max(deployments, key=lambda d: _newest_key(d, operation))
        deployment_id = _field(latest, "id", int, operation)
        url = self._url(repo, f"/deployments/{deployment_id}/statuses")
        statuses = [
            item for _, items in self._pages(url, operation=operation, params={}) for item in items
        ]
        if not statuses:
            return DeployState(
                DeployStatus.PENDING, description=f"deployment {deployment_id} has no status yet"
            )
        ordered = sorted(statuses, key=lambda s: _newest_key(s, operation), reverse=True)
        return _deploy_of(ordered, operation)


def _newest_key(item: Any, operation: str) -> tuple[datetime, int]:
    return (
        _timestamp(_field(item, "created_at", str, operation), operation),
        _field(item, "id", int, operation),
    )


def _status_check(item: Any, operation: str) -> CiCheck:
    description = item.get("description")
    target = item.get("target_url")
    return CiCheck(
        context=_field(item, "context", str, operation),
        state=_field(item, "state", str, operation),
        description=description if isinstance(description, str) else "",
        url=target if isinstance(target, str) else None,
    )


def _check_run_verdict(item: Any, operation: str) -> tuple[CiStatus, CiCheck]:
    name = _field(item, "name", str, operation)
    status = _field(item, "status", str, operation)
    conclusion = item.get("conclusion")
    output = item.get("output") if isinstance(item.get("output"), dict) else {}
    summary = output.get("summary") or output.get("title") or ""
    url = item.get("details_url") or item.get("html_url")
    check = CiCheck(
        context=name,
        state=conclusion if isinstance(conclusion, str) else status,
        description=summary if isinstance(summary, str) else "",
        url=url if isinstance(url, str) else None,
    )
    if status != "completed":
        return CiStatus.PENDING, check
    if conclusion in _CHECK_PASS:
        return CiStatus.PASSED, check
    if conclusion in _CHECK_FAIL:
        return CiStatus.FAILED, check
    return CiStatus.UNKNOWN, check


def reduce_ci(verdicts: list[tuple[CiStatus, CiCheck]]) -> CiState:
    """One verdict from many: any failure fails (naming every failing check); PASSED needs at
    least one signal and every signal passed; otherwise PENDING beats UNKNOWN, and no signal
    at all is PENDING (CI has not reported yet)."""
    failed = tuple(check for status, check in verdicts if status is CiStatus.FAILED)
    if failed:
        return CiState(CiStatus.FAILED, failed)
    statuses = {status for status, _ in verdicts}
    if not statuses or CiStatus.PENDING in statuses:
        return CiState(CiStatus.PENDING)
    if CiStatus.UNKNOWN in statuses:
        unknown = tuple(check for status, check in verdicts if status is CiStatus.UNKNOWN)
        return CiState(CiStatus.UNKNOWN, unknown)
    return CiState(CiStatus.PASSED)


def _deploy_of(statuses: list[Any], operation: str) -> DeployState:
    latest = statuses[0]
    state = _field(latest, "state", str, operation)
    text = latest.get("description")
    link = latest.get("environment_url") or latest.get("target_url") or latest.get("log_url")
    description = text if isinstance(text, str) else ""
    url = link if isinstance(link, str) and link else None
    if state == "success":
        status = DeployStatus.SUCCEEDED
    elif state in _DEPLOY_FAILED:
        status = DeployStatus.FAILED
    elif state in _DEPLOY_PENDING:
        status = DeployStatus.PENDING
    elif state == "inactive" and any(s.get("state") == "success" for s in statuses[1:]):
        status = DeployStatus.SUCCEEDED
    else:
        status = DeployStatus.UNKNOWN
    return DeployState(status, description=description, url=url)
