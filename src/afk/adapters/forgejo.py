"""Forgejo/Gitea as afk's tracker (issues, labels, run comment) and CI source (commit statuses).

Facts behind the choices (FORGE_API.md, Forgejo column; Forgejo v11.0.1's source):

- A ``labels`` filter whose names are all unknown becomes *no filter*, and ``type=issues`` is
  the only thing keeping pull requests out, so every listed item is also checked here: it must
  carry the label (case-insensitively) and have no ``pull_request``.
- Labels are added **by id**: names work only from Forgejo v8.0, ids on every version, and an
  unknown name would be dropped silently with a 200. Names are resolved against the repo's
  labels (cached per instance); a missing one raises ``LabelMissing``.
- Removing a label the issue lacks answers 204 already; an unknown label id answers 422, which
  here means the label was deleted since it was cached, so nothing can carry it: success. A 404
  means the repo or issue is gone and is raised.
- The combined status carries each context's state in ``status`` (not ``state``), is paginated,
  and for a commit without statuses is all zero values (``state: ""``): never a pass.
- A ``warning`` status is final and not a success; waiting for it would never end, so CI with a
  warning (and nothing pending or failed) is ``FAILED`` with the warning contexts as evidence.

Every call goes through ``afk.adapters.http`` (retry budget, ``Retry-After``, error mapping),
with ``Authorization: token <t>`` read afresh from the bearer provider for each request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote

import httpx

from afk.adapters.http import ErrorKinds, JsonApi, RetryPolicy, json_of
from afk.adapters.issue_comments import IssueComments
from afk.core.phase_checklist import MARKER_PREFIX
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

KINDS = ErrorKinds(
    service="Forgejo",
    auth=TrackerAuthError,
    rejected=TrackerRejected,
    not_found=TrackerNotFound,
    unavailable=TrackerUnavailable,
    bad_response=TrackerBadResponse,
)
PAGE_SIZE = 50  # Forgejo's default [api] MAX_RESPONSE_ITEMS; larger asks are capped to it
_MAX_PAGES = 200
_FAILING = frozenset({"failure", "error"})


def _bad(operation: str, detail: str) -> TrackerBadResponse:
    return TrackerBadResponse(service=KINDS.service, operation=operation, detail=detail)


def _field(obj: Any, key: str, kind: type | tuple[type, ...], operation: str) -> Any:
    """``obj[key]`` when ``obj`` is an object and the value has the promised type."""
    if not isinstance(obj, dict) or key not in obj:
        raise _bad(operation, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _bad(operation, f"field {key!r} has the wrong type")
    return value


def _text(obj: Any, key: str) -> str:
    """An optional string field; Forgejo sends ``null`` or omits many of them."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def _login(user: Any) -> str | None:
    return user["login"] if isinstance(user, dict) and isinstance(user.get("login"), str) else None


def _timestamp(text: Any, operation: str) -> datetime:
    if not isinstance(text, str):
        raise _bad(operation, "a timestamp is not a string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(operation, "a timestamp is not ISO 8601") from None
    if moment.tzinfo is None:
        raise _bad(operation, "a timestamp has no timezone")
    return moment


def _same_repo(repo: RepoRef, item: Any, operation: str) -> None:
    """The allowlist fence at the edge: an issue must say it belongs to the repo asked about.

    Fix (reliability suite, allowlist fence): an item of another repository in a listing was
    taken as the asked repo's issue of the same number, so a foreign issue's text could drive
    an agent in an enrolled repo, and afk labelled and commented an unrelated issue there.
    """
    meta = item.get("repository") if isinstance(item, dict) else None
    named = meta.get("full_name") if isinstance(meta, dict) else None
    if isinstance(named, str) and named.casefold() != str(repo).casefold():
        raise _bad(operation, f"the reply holds an issue of another repository ({named})")


def _list(body: Any, operation: str) -> list[Any]:
    """A JSON array; ``null`` is Forgejo's empty page (an empty timeline page, for one)."""
    if body is None:
        return []
    if not isinstance(body, list):
        raise _bad(operation, "expected a list")
    return body


class _ForgejoApi(JsonApi):
    """What the tracker and the CI source share: the token scheme and pagination."""

    kinds = KINDS

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}

    def _pages(
        self,
        url: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        total_header: bool = False,
        items_key: str | None = None,
    ) -> Iterator[list[Any]]:
        """Yield each page's items, ``limit=50&page=N`` from page 1.

        The next page is the one a ``Link: rel="next"`` names (only its page number is used: the
        token never follows a link to another host); without a Link header, reading goes on
        while ``X-Total-Count`` (when ``total_header``: the endpoints where it counts every
        item) says more remain, else while pages come back full.
        """
        page, seen = 1, 0
        while True:
            if page > _MAX_PAGES:
                raise _bad(operation, f"more than {_MAX_PAGES} pages")
            query = {**(params or {}), "limit": PAGE_SIZE, "page": page}
            response = self._call("GET", url, operation=operation, params=query)
            body = json_of(response, kinds=KINDS, operation=operation)
            if items_key is not None:
                body = _field(body, items_key, (list, type(None)), operation)
            items = _list(body, operation)
            yield items
            seen += len(items)
            following = self._next_page(response, page, seen, len(items), total_header, operation)
            if following is None:
                return
            page = following

    @staticmethod
    def _next_page(
        response: httpx.Response,
        page: int,
        seen: int,
        count: int,
        total_header: bool,
        operation: str,
    ) -> int | None:
        if "link" in response.headers:
            link = response.links.get("next", {}).get("url")
            if not link:
                return None
            numbers = parse_qs(httpx.URL(link).query.decode("ascii")).get("page", [])
            if len(numbers) != 1 or not numbers[0].isdigit() or int(numbers[0]) <= page:
                raise _bad(operation, "a pagination link does not name a later page")
            return int(numbers[0])
        if count == 0:
            return None
        total = response.headers.get("x-total-count", "")
        if total_header and total.isdigit():
            return page + 1 if seen < int(total) else None
        return page + 1 if count >= PAGE_SIZE else None


class ForgejoTracker(_ForgejoApi, IssueComments):
    """``Tracker`` over the Forgejo/Gitea REST API (``ports.Tracker``).

    ``base_url`` is the API base, e.g. ``https://git.example.com/api/v1``.
    """

    def __init__(
        self,
        base_url: str,
        http: httpx.Client,
        bearer: BearerProvider,
        *,
        bot_login: str | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)
        self._bot_login = bot_login or None
        self._labels: dict[RepoRef, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._login_lock = threading.Lock()

    def bot_login(self) -> str:
        """Asked once per instance: a tick's concurrent workers wait for the first answer
        instead of each spending a request on the same question."""
        with self._login_lock:
            if self._bot_login is None:
                operation = "read the authenticated user"
                body = self._json("GET", f"{self._base}/user", operation=operation)
                login = _field(body, "login", str, operation)
                if not login:
                    raise _bad(operation, "the user has an empty login")
                self._bot_login = str(login)
            return self._bot_login

    # --- issues ---------------------------------------------------------------------------

    def list_issues(self, repo: RepoRef, label: str) -> list[Issue]:
        operation = f"list open issues of {repo} labelled {label}"
        params = {"state": "open", "type": "issues", "labels": label}
        found: dict[int, Issue] = {}
        url = self._url(repo, "/issues")
        for items in self._pages(url, operation=operation, params=params, total_header=True):
            for item in items:
                if not isinstance(item, dict):
                    raise _bad(operation, "an issue is not an object")
                # Fix (reliability suite, wrong types): a non-string state used to drop the
                # issue silently; a malformed listing is reported, like any other bad field.
                state = item.get("state", "open")
                if not isinstance(state, str):
                    raise _bad(operation, "field 'state' has the wrong type")
                if item.get("pull_request") is not None or state != "open":
                    continue
                issue = self._issue(repo, item, operation)
                if issue.has_label(label):
                    found.setdefault(issue.number, issue)
        return list(found.values())

    def get_issue(self, repo: RepoRef, number: int) -> Issue:
        operation = f"read issue {repo}#{number}"
        body = self._json("GET", self._url(repo, f"/issues/{number}"), operation=operation)
        return self._issue(repo, body, operation)

    @staticmethod
    def _issue(repo: RepoRef, item: Any, operation: str) -> Issue:
        _same_repo(repo, item, operation)
        labels = _field(item, "labels", (list, type(None)), operation) or []
        names = tuple(_field(label, "name", str, operation) for label in labels)
        body = _field(item, "body", (str, type(None)), operation) if "body" in item else ""
        return Issue(
            repo=repo,
            number=_field(item, "number", int, operation),
            title=_field(item, "title", str, operation),
            body=body or "",
            labels=names,
            author=_login(item.get("user")) or "",
            created_at=_timestamp(item.get("created_at"), operation),
            url=_field(item, "html_url", str, operation),
        )

    def close_issue(self, repo: RepoRef, number: int) -> None:
        """Forgejo has no ``state_reason``; a PATCH answers 201, and closing twice is fine."""
        self._call(
            "PATCH",
            self._url(repo, f"/issues/{number}"),
            operation=f"close issue {repo}#{number}",
            json_body={"state": "closed"},
        )

    # --- labels ---------------------------------------------------------------------------

    def _repo_labels(self, repo: RepoRef, *, fresh: bool = False) -> dict[str, int]:
        """Label name → id for the repo, every page read once per instance (unless ``fresh``)."""
        with self._lock:
            cached = self._labels.get(repo)
        if cached is not None and not fresh:
            return cached
        operation = f"list the labels of {repo}"
        labels: dict[str, int] = {}
        for items in self._pages(
            self._url(repo, "/labels"), operation=operation, total_header=True
        ):
            for item in items:
                labels[_field(item, "name", str, operation)] = _field(item, "id", int, operation)
        with self._lock:
            self._labels[repo] = labels
        return labels

    def _label_id(self, repo: RepoRef, label: str) -> int | None:
        """The id of ``label``: the exact name, else its only case-insensitive match."""
        for fresh in (False, True):
            labels = self._repo_labels(repo, fresh=fresh)
            if label in labels:
                return labels[label]
            folded = [i for name, i in labels.items() if name.casefold() == label.casefold()]
            if len(folded) == 1:
                return folded[0]
        return None

    def _forget_labels(self, repo: RepoRef) -> None:
        with self._lock:
            self._labels.pop(repo, None)

    def missing_labels(self, repo: RepoRef, labels: tuple[str, ...]) -> tuple[str, ...]:
        present = {name.casefold() for name in self._repo_labels(repo, fresh=True)}
        return tuple(label for label in labels if label.casefold() not in present)

    def _missing(self, repo: RepoRef, label: str, operation: str) -> LabelMissing:
        return LabelMissing(
            service=KINDS.service,
            operation=operation,
            detail=f"the label {label!r} does not exist in {repo}",
        )

    def add_label(self, repo: RepoRef, number: int, label: str) -> None:
        """POST the label's id; adding a label the issue carries changes nothing on Forgejo."""
        operation = f"add label {label} to {repo}#{number}"
        label_id = self._label_id(repo, label)
        if label_id is None:
            raise self._missing(repo, label, operation)
        body = self._json(
            "POST",
            self._url(repo, f"/issues/{number}/labels"),
            operation=operation,
            json_body={"labels": [label_id]},
        )
        applied = {_field(item, "id", int, operation) for item in _list(body, operation)}
        if label_id not in applied:
            self._forget_labels(repo)  # deleted since it was cached: Forgejo dropped it silently
            raise self._missing(repo, label, operation)

    def remove_label(self, repo: RepoRef, number: int, label: str) -> None:
        operation = f"remove label {label} from {repo}#{number}"
        label_id = self._label_id(repo, label)
        if label_id is None:
            return  # the repo has no such label, so the issue cannot carry it
        try:
            self._call(
                "DELETE",
                self._url(repo, f"/issues/{number}/labels/{label_id}"),
                operation=operation,
            )
        except TrackerRejected as exc:
            if exc.status != 422:
                raise
            self._forget_labels(repo)  # the label was deleted since it was cached

    def label_applier(self, repo: RepoRef, number: int, label: str) -> str | None:
        """The ``user`` of the latest timeline ``label`` event that added it (body ``"1"``)."""
        operation = f"read the timeline of {repo}#{number}"
        applier: str | None = None
        wanted = label.casefold()
        for items in self._pages(
            self._url(repo, f"/issues/{number}/timeline"), operation=operation
        ):
            for event in items:
                if not isinstance(event, dict) or event.get("type") != "label":
                    continue
                if event.get("body") != "1":
                    continue
                name = _text(event.get("label"), "name")
                if name.casefold() == wanted:
                    applier = _login(event.get("user")) or applier
        return applier

    # --- the run comment ------------------------------------------------------------------

    def find_run_comment(self, repo: RepoRef, number: int) -> RunComment | None:
        """Only afk's own comments count: anyone can paste a marker into theirs."""
        operation = f"read the comments of {repo}#{number}"
        body = self._json("GET", self._url(repo, f"/issues/{number}/comments"), operation=operation)
        me = self.bot_login().casefold()
        found: list[RunComment] = []
        for item in _list(body, operation):
            text = _field(item, "body", str, operation)
            author = _login(item.get("user") if isinstance(item, dict) else None)
            if author is not None and author.casefold() == me and MARKER_PREFIX in text:
                found.append(RunComment(id=_field(item, "id", int, operation), body=text))
        return min(found, key=lambda comment: comment.id, default=None)


class ForgejoCi(_ForgejoApi):
    """``CiSource`` from Forgejo commit statuses; a deploy is a status context too."""

    def __init__(
        self,
        base_url: str,
        http: httpx.Client,
        bearer: BearerProvider,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)

    def sha_exists(self, repo: RepoRef, sha: str) -> bool:
        """404 (unknown) and 422 (not even a valid ref) both mean no such commit."""
        try:
            self._call(
                "GET",
                self._url(repo, f"/git/commits/{quote(sha, safe='')}"),
                operation=f"look up commit {sha[:12]} in {repo}",
                params={"stat": "false", "verification": "false", "files": "false"},
            )
        except TrackerNotFound:
            return False
        except TrackerRejected as exc:
            if exc.status == 422:
                return False
            raise
        return True

    def _latest(self, repo: RepoRef, sha: str) -> list[dict[str, Any]]:
        """The latest status of every context (the combined status, every page)."""
        operation = f"read the commit status of {sha[:12]} in {repo}"
        statuses: list[dict[str, Any]] = []
        for items in self._pages(
            self._url(repo, f"/commits/{quote(sha, safe='')}/status"),
            operation=operation,
            total_header=True,
            items_key="statuses",
        ):
            for item in items:
                _field(item, "context", str, operation)
                _field(item, "status", str, operation)
                statuses.append(item)
        return statuses

    def ci_state(self, repo: RepoRef, sha: str) -> CiState:
        return ci_verdict(self._latest(repo, sha))

    def deploy_state(self, repo: RepoRef, sha: str, target: str) -> DeployState:
        """The latest status of context ``target``; absent means not deployed yet."""
        for status in self._latest(repo, sha):
            if status["context"] == target:
                return deploy_verdict(status)
        return DeployState(DeployStatus.PENDING, description=f"no {target} status yet")


def _check(status: dict[str, Any]) -> CiCheck:
    return CiCheck(
        context=status["context"],
        state=status["status"],
        description=_text(status, "description"),
        url=_text(status, "target_url") or None,
    )


def ci_verdict(statuses: list[dict[str, Any]]) -> CiState:
    """Failed beats pending beats unknown beats warning; passed only when all (≥ 1) succeeded."""
    states = [status["status"] for status in statuses]
    failing = [_check(s) for s in statuses if s["status"] in _FAILING]
    if failing:
        return CiState(CiStatus.FAILED, tuple(failing))
    if not statuses or "pending" in states:
        return CiState(CiStatus.PENDING)
    known = _FAILING | {"pending", "success", "warning"}
    if any(state not in known for state in states):
        return CiState(
            CiStatus.UNKNOWN, tuple(_check(s) for s in statuses if s["status"] not in known)
        )
    warned = [_check(s) for s in statuses if s["status"] == "warning"]
    if warned:
        return CiState(CiStatus.FAILED, tuple(warned))
    return CiState(CiStatus.PASSED)


def deploy_verdict(status: dict[str, Any]) -> DeployState:
    state = status["status"]
    outcome = {
        "success": DeployStatus.SUCCEEDED,
        "failure": DeployStatus.FAILED,
        "error": DeployStatus.FAILED,
        "pending": DeployStatus.PENDING,
    }.get(state, DeployStatus.UNKNOWN)
    return DeployState(
        outcome,
        description=_text(status, "description"),
        url=_text(status, "target_url") or None,
    )
