"""A strict fake of the Forgejo/Gitea REST API (v11), over the shared in-memory forge model.

It serves the paths afk uses under ``/api/v1`` and behaves as Forgejo v11.0.1's source does where
the description is silent: the ``labels`` filter needs **all** names and silently drops unknown
ones; adding labels takes names or ids but not both; removing a label the issue lacks answers
204 while an unknown label id answers 422; a PATCH of an issue answers 201; an empty timeline
page is ``null``; the combined status of a commit without statuses is all zero values.

It is stricter than the real server where leniency would hide a client bug: every request must
authenticate, match the official description (else 422, recorded in ``violations``) and use only
the query parameters taught here; an issue edit may set ``state`` only to ``open`` or
``closed``; only a comment's author (or an admin) may edit it, whereas Forgejo also lets repo
writers edit. Every reply the fake produces is checked against the description: a reply outside
it is a bug in the fake and raises ``AssertionError``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from afk.testing.contracts import ContractViolation, check_request, check_response, contract_text
from afk.testing.fault_plan import FaultControls, FaultPlan
from afk.testing.forge_state import (
    ForbiddenError,
    ForgeState,
    ForgeStateError,
    Issue,
    NotFoundError,
    User,
)
from afk.testing.forgejo_wire import ForgejoWire, api_error, not_found

API_PREFIX = "/api/v1"
DEFAULT_PAGE_SIZE = 30  # Forgejo's [api] DEFAULT_PAGING_NUM
_NO_BODY = object()
_REF = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/-]*$")


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: Any = _NO_BODY
    headers: Mapping[str, str] = field(default_factory=dict)


class _HttpError(Exception):
    def __init__(self, status: int, body: Any = _NO_BODY) -> None:
        super().__init__(status)
        self.reply = _Reply(status, body)


@dataclass(frozen=True, slots=True)
class _Call:
    request: httpx.Request
    user: User
    params: Mapping[str, str]
    query: Mapping[str, str]

    @property
    def repo(self) -> str:
        return f"{self.params['owner']}/{self.params['repo']}"

    def int_param(self, name: str) -> int:
        return int(self.params[name])

    def json(self) -> Any:
        try:
            return json.loads(self.request.content or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _HttpError(422, api_error("the request body is not JSON")) from None


Route = Callable[[_Call], _Reply]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    query: frozenset[str]
    handler: Route


@cache
def _declared_statuses() -> dict[tuple[str, str], frozenset[int]]:
    spec = json.loads(contract_text("forgejo"))
    found: dict[tuple[str, str], frozenset[int]] = {}
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                codes = frozenset(int(code) for code in operation["responses"] if code.isdigit())
                found[(method.upper(), template)] = codes
    return found


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
    return re.compile(f"^{regex}$")


class FakeForgejo(FaultControls):
    """``handle`` serves Forgejo's API from ``state``; see the module docstring for its rules."""

    def __init__(
        self,
        state: ForgeState | None = None,
        *,
        max_page_size: int = 50,
        version: str = "11.0.1+gitea-1.22.0",
    ) -> None:
        self.state = state if state is not None else ForgeState()
        self.max_page_size = max_page_size
        self.version = version
        self.faults = FaultPlan()
        self._violations: list[str] = []
        self._lock = threading.Lock()
        self._routes = self._build_routes()

    # --- recording and faults (shared shape with FakeGitHub) ------------------------------

    @property
    def violations(self) -> list[str]:
        """Requests refused because they broke the description or used an untaught call."""
        with self._lock:
            return list(self._violations)

    # --- serving --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        api_path = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else path
        return self.faults.serve(
            request, api_path, lambda: self._respond(request, api_path), self._fault_reply
        )

    def _fault_reply(self, status: int, headers: Mapping[str, str]) -> httpx.Response:
        return httpx.Response(status, json=api_error("scripted failure"), headers=dict(headers))

    def _violation(self, message: str) -> None:
        with self._lock:
            self._violations.append(message)

    def _respond(self, request: httpx.Request, api_path: str) -> httpx.Response:
        route, params = self._match(request.method.upper(), api_path)
        if route is None:
            self._violation(f"no such Forgejo route: {request.method} {request.url.path}")
            return self._render(request, None, _Reply(404, not_found()))
        user = self._authenticate(request)
        if user is None:
            return self._render(request, None, _Reply(401, api_error("token is required")))
        query = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
        untaught = sorted(set(query) - route.query)
        if untaught:
            message = f"FakeForgejo was not taught {route.method} {route.template} {untaught}"
            self._violation(message)
            raise AssertionError(message)
        try:
            check_request("forgejo", request, api_path)
        except ContractViolation as exc:
            self._violation(str(exc))
            return self._render(request, None, _Reply(422, api_error(str(exc))))
        call = _Call(request, user, params, query)
        try:
            reply = route.handler(call)
        except _HttpError as exc:
            reply = exc.reply
        except ForbiddenError:
            reply = _Reply(403)
        except NotFoundError as exc:
            reply = _Reply(404, not_found(exc.message))
        except ForgeStateError as exc:
            reply = _Reply(exc.status, api_error(exc.message))
        return self._render(request, route, reply, api_path)

    def _match(self, method: str, api_path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method != method:
                continue
            match = route.pattern.match(api_path)
            if match is not None:
                return route, match.groupdict()
        return None, {}

    def _authenticate(self, request: httpx.Request) -> User | None:
        """``token <t>`` (lower-case only, as Forgejo's parseToken) or ``Bearer <t>`` (any case)."""
        parts = request.headers.get("authorization", "").split()
        if len(parts) != 2 or not (parts[0] == "token" or parts[0].lower() == "bearer"):
            return None
        return self.state.user_for_token(parts[1])

    def _render(
        self,
        request: httpx.Request,
        route: _Route | None,
        reply: _Reply,
        api_path: str = "",
    ) -> httpx.Response:
        self._check_reply(request, route, reply, api_path)
        headers = {"content-type": "application/json;charset=utf-8", **reply.headers}
        if reply.body is _NO_BODY:
            headers.pop("content-type")
            return httpx.Response(reply.status, headers=headers)
        content = json.dumps(reply.body).encode()
        return httpx.Response(reply.status, content=content, headers=headers)

    def _check_reply(
        self, request: httpx.Request, route: _Route | None, reply: _Reply, api_path: str
    ) -> None:
        """Every reply must be one Forgejo could send; a mismatch is a bug in this fake."""
        declared = frozenset[int]()
        if route is not None:
            declared = _declared_statuses().get((route.method, route.template), frozenset())
        if reply.status >= 400 and (reply.status not in declared or reply.body is _NO_BODY):
            body = reply.body
            shaped = body is _NO_BODY or (
                isinstance(body, dict) and isinstance(body.get("message"), str)
            )
            if not shaped:
                raise AssertionError(f"FakeForgejo error reply is not an APIError: {body!r}")
            return
        if reply.status not in declared:
            raise AssertionError(f"FakeForgejo replied {reply.status}, undeclared for {api_path}")
        if reply.body is None:
            return  # Forgejo's literal ``null`` (an empty timeline page), which no schema admits
        body = None if reply.body is _NO_BODY else reply.body
        try:
            check_response("forgejo", request, api_path, reply.status, body)
        except ContractViolation as exc:
            raise AssertionError(f"FakeForgejo served a reply Forgejo could not: {exc}") from None

    # --- routes ---------------------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        repo = "/repos/{owner}/{repo}"
        table: list[tuple[str, str, tuple[str, ...], Route]] = [
            ("GET", "/user", (), self._get_user),
            ("GET", "/version", (), self._get_version),
            ("PATCH", repo + "/issues/comments/{id}", (), self._edit_comment),
            (
                "GET",
                repo + "/issues",
                ("state", "type", "labels", "page", "limit"),
                self._list_issues,
            ),
            ("GET", repo + "/issues/{index}", (), self._get_issue),
            ("PATCH", repo + "/issues/{index}", (), self._edit_issue),
            ("GET", repo + "/issues/{index}/labels", (), self._issue_labels),
            ("POST", repo + "/issues/{index}/labels", (), self._add_labels),
            ("DELETE", repo + "/issues/{index}/labels/{id}", (), self._remove_label),
            ("GET", repo + "/labels", ("page", "limit"), self._repo_labels),
            ("GET", repo + "/issues/{index}/comments", (), self._list_comments),
            ("POST", repo + "/issues/{index}/comments", (), self._create_comment),
            ("GET", repo + "/issues/{index}/timeline", ("page", "limit"), self._timeline),
            ("GET", repo + "/commits/{ref}/status", ("page", "limit"), self._combined_status),
            ("GET", repo + "/statuses/{sha}", ("page", "limit"), self._statuses),
            (
                "GET",
                repo + "/git/commits/{sha}",
                ("stat", "verification", "files"),
                self._git_commit,
            ),
        ]
        return [
            _Route(method, template, _compile(template), frozenset(query), handler)
            for method, template, query, handler in table
        ]

    def _wire(self, call: _Call) -> ForgejoWire:
        url = call.request.url
        return ForgejoWire(self.state, f"{url.scheme}://{url.netloc.decode('ascii')}")

    def _issue(self, call: _Call) -> Issue:
        self.state.repo(call.repo)
        return self.state.issue(call.repo, call.int_param("index"))

    def _page(self, call: _Call, *, default_all: bool = False) -> tuple[int, int] | None:
        """(page, size) as ``GetListOptions``; None = no pagination (``default_all``, no page)."""
        page = int(call.query.get("page") or 0)
        if default_all and page <= 0:
            return None
        size = int(call.query.get("limit") or 0)
        if size <= 0:
            size = DEFAULT_PAGE_SIZE
        return max(page, 1), min(size, self.max_page_size)

    def _link_header(self, call: _Call, total: int, page: int, size: int) -> dict[str, str]:
        """``Link`` as Forgejo's genAPILinks builds it (next, last, first, prev)."""
        pages = max(1, -(-total // size))
        current = min(page, pages)
        url = call.request.url

        def at(number: int) -> str:
            query = dict(parse_qsl(url.query.decode("ascii"), keep_blank_values=True))
            query["page"] = str(number)
            return str(url.copy_with(query=urlencode(sorted(query.items())).encode("ascii")))

        has_next = total > current * size
        is_last = total == 0 or (total > (current - 1) * size and not has_next)
        links = []
        if has_next:
            links.append(f'<{at(current + 1)}>; rel="next"')
        if not is_last:
            links.append(f'<{at(pages)}>; rel="last"')
        if current != 1:
            links.append(f'<{at(1)}>; rel="first"')
        if current > 1:
            links.append(f'<{at(current - 1)}>; rel="prev"')
        headers = {"X-Total-Count": str(total)}
        if links:
            headers["Link"] = ",".join(links)
        return headers

    def _get_user(self, call: _Call) -> _Reply:
        return _Reply(200, self._wire(call).user(call.user))

    def _get_version(self, call: _Call) -> _Reply:
        return _Reply(200, {"version": self.version})

    def _list_issues(self, call: _Call) -> _Reply:
        self.state.repo(call.repo)
        wanted = call.query.get("state", "open")
        kind = call.query.get("type")
        label_ids = []
        for name in call.query.get("labels", "").split(","):
            label = self.state.find_label(call.repo, name)
            if label is not None:
                label_ids.append(label.id)
        issues = self.state.list_issues(
            call.repo,
            state="all" if wanted == "all" else "closed" if wanted == "closed" else "open",
            pull_requests=True if kind == "pulls" else False if kind == "issues" else None,
            label_ids=label_ids,
        )
        paging = self._page(call)
        assert paging is not None
        page, size = paging
        chunk = issues[(page - 1) * size : page * size]
        wire = self._wire(call)
        headers = self._link_header(call, len(issues), page, size)
        return _Reply(200, [wire.issue(issue) for issue in chunk], headers)

    def _get_issue(self, call: _Call) -> _Reply:
        return _Reply(200, self._wire(call).issue(self._issue(call)))

    def _edit_issue(self, call: _Call) -> _Reply:
        issue = self._issue(call)
        form = call.json()
        if not isinstance(form, dict):
            raise _HttpError(422, api_error("the body must be an EditIssueOption object"))
        state = form.get("state")
        if state is not None and state not in ("open", "closed"):
            raise _HttpError(422, api_error(f"FakeForgejo accepts state open or closed: {state}"))
        updated = self.state.edit_issue(
            call.repo,
            issue.number,
            actor=call.user.login,
            title=form.get("title") or None,
            body=form.get("body"),
            state=state,
        )
        return _Reply(201, self._wire(call).issue(updated))

    def _issue_labels(self, call: _Call) -> _Reply:
        issue = self._issue(call)
        wire = self._wire(call)
        return _Reply(200, [wire.label(label) for label in issue.labels])

    def _add_labels(self, call: _Call) -> _Reply:
        """prepareForReplaceOrAdd: ids or names, never both; unknown/foreign ones are dropped."""
        issue = self._issue(call)
        form = call.json()
        items = form.get("labels") if isinstance(form, dict) else None
        ids: list[int] = []
        names: list[str] = []
        for item in items or []:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                raise _HttpError(400, api_error("a label must be an integer or a string"))
            if isinstance(item, str):
                names.append(item)
            else:
                ids.append(int(item))
        if ids and names:
            raise _HttpError(400, api_error("labels should be an array of strings or integers"))
        if names and self._major_version() < 8:
            raise _HttpError(
                422, api_error("json: cannot unmarshal string into Go value of type int64")
            )
        resolved = [label.id for name in names if (label := self.state.find_label(call.repo, name))]
        for label_id in ids:
            label = self.state.label_anywhere(label_id)
            if label is not None and self.state.find_label(call.repo, label.name) == label:
                resolved.append(label_id)
        updated = self.state.add_labels(call.repo, issue.number, resolved, actor=call.user.login)
        wire = self._wire(call)
        return _Reply(200, [wire.label(label) for label in updated.labels])

    def _major_version(self) -> int:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    def _remove_label(self, call: _Call) -> _Reply:
        """Unknown id → 422; a label of another repo or one the issue lacks → 204, no change."""
        issue = self._issue(call)
        label_id = call.int_param("id")
        label = self.state.label_anywhere(label_id)
        if label is None:
            raise _HttpError(422, api_error(f"label does not exist [id: {label_id}]"))
        if self.state.find_label(call.repo, label.name) == label:
            self.state.remove_label(call.repo, issue.number, label_id, actor=call.user.login)
        return _Reply(204)

    def _repo_labels(self, call: _Call) -> _Reply:
        """Sorted by name; without ``page`` every label comes back (GetLabelsByRepoID)."""
        labels = sorted(self.state.labels(call.repo), key=lambda label: label.name)
        paging = self._page(call, default_all=True)
        if paging is not None:
            page, size = paging
            labels_page = labels[(page - 1) * size : page * size]
        else:
            labels_page = labels
        wire = self._wire(call)
        body = [wire.label(label) for label in labels_page]
        return _Reply(200, body, {"X-Total-Count": str(len(labels))})

    def _list_comments(self, call: _Call) -> _Reply:
        issue = self._issue(call)
        comments = self.state.comments(call.repo, issue.number)
        wire = self._wire(call)
        headers = {"X-Total-Count": str(len(comments))}
        return _Reply(200, [wire.comment(comment) for comment in comments], headers)

    def _comment_body(self, call: _Call) -> str:
        form = call.json()
        body = form.get("body") if isinstance(form, dict) else None
        if not isinstance(body, str):
            raise _HttpError(422, api_error("[Body]: Required"))
        return body

    def _create_comment(self, call: _Call) -> _Reply:
        issue = self._issue(call)
        body = self._comment_body(call)
        comment = self.state.add_comment(call.repo, issue.number, body, user=call.user.login)
        return _Reply(201, self._wire(call).comment(comment))

    def _edit_comment(self, call: _Call) -> _Reply:
        self.state.repo(call.repo)
        comment = self.state.comment(call.repo, call.int_param("id"))
        body = self._comment_body(call)
        edited = self.state.edit_comment(call.repo, comment.id, body, actor=call.user.login)
        return _Reply(200, self._wire(call).comment(edited))

    def _timeline(self, call: _Call) -> _Reply:
        """Comments and label events, oldest first, paginated without a Link header."""
        issue = self._issue(call)
        wire = self._wire(call)
        entries: list[tuple[int, dict[str, Any]]] = [
            (c.id, wire.timeline_comment(c)) for c in self.state.comments(call.repo, issue.number)
        ]
        entries += [
            (e.id, wire.timeline_label(e)) for e in self.state.label_events(call.repo, issue.number)
        ]
        entries.sort(key=lambda entry: entry[0])
        paging = self._page(call)
        assert paging is not None
        page, size = paging
        chunk = [body for _, body in entries[(page - 1) * size : page * size]]
        body = chunk or None  # Forgejo encodes an empty page as ``null``
        return _Reply(200, body, {"X-Total-Count": str(len(chunk))})

    def _combined_status(self, call: _Call) -> _Reply:
        repo = self.state.repo(call.repo)
        ref = call.params["ref"]
        sha = self.state.resolve_ref(call.repo, ref) or ref
        known = self.state.has_commit(call.repo, sha)
        latest = self.state.latest_statuses(call.repo, sha) if known else []
        if not latest:
            return _Reply(
                200,
                {
                    "state": "",
                    "sha": "",
                    "total_count": 0,
                    "statuses": None,
                    "repository": None,
                    "commit_url": "",
                    "url": "",
                },
            )
        paging = self._page(call)
        assert paging is not None
        page, size = paging
        chunk = latest[(page - 1) * size : page * size]
        wire = self._wire(call)
        rendered = [wire.commit_status(s, i + 1) for i, s in enumerate(chunk)]
        body = {
            "state": _combine([s.state for s in chunk]),
            "sha": sha,
            "total_count": len(chunk),
            "statuses": rendered,
            "repository": wire.repository(repo),
            "commit_url": "",
            "url": "",
        }
        return _Reply(200, body, {"X-Total-Count": str(len(latest))})

    def _statuses(self, call: _Call) -> _Reply:
        self.state.repo(call.repo)
        sha = call.params["sha"]
        found = self.state.statuses(call.repo, sha) if self.state.has_commit(call.repo, sha) else []
        found = list(reversed(found))  # newest first, Forgejo's default sort
        paging = self._page(call)
        assert paging is not None
        page, size = paging
        wire = self._wire(call)
        chunk = found[(page - 1) * size : page * size]
        body = [wire.commit_status(s, len(found) - i) for i, s in enumerate(chunk)]
        return _Reply(200, body, self._link_header(call, len(found), page, size))

    def _git_commit(self, call: _Call) -> _Reply:
        repo = self.state.repo(call.repo)
        sha = call.params["sha"]
        if not _REF.match(sha) or ".." in sha:
            raise _HttpError(422, api_error(f"no valid ref or sha: {sha}"))
        resolved = self.state.resolve_ref(call.repo, sha)
        if resolved is None:
            raise _HttpError(404, not_found(sha))
        return _Reply(200, self._wire(call).commit(repo, resolved))


_WORST_FIRST = ("error", "failure", "warning", "pending", "success")


def _combine(states: list[str]) -> str:
    """Forgejo's ToCombinedStatus: the worst known state wins; ``error`` reads as ``failure``."""
    combined = ""
    for state in states:
        if combined == "" or (
            state in _WORST_FIRST
            and combined in _WORST_FIRST
            and _WORST_FIRST.index(state) <= _WORST_FIRST.index(combined)
        ):
            combined = state
    return "failure" if combined == "error" else combined
