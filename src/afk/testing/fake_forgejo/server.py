"""The serving machinery of FakeForgejo: routing, authentication, visibility, contract checks.

Why apart from the routes: what makes the fake strict (every request checked against the
description of the server's own generation, every reply checked before it leaves, an untaught
call failing loudly) is the same for every route, and reads better without them.
"""

from __future__ import annotations

import abc
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import httpx

from afk.adapters.forgejo_labels import forgejo_major
from afk.testing.contracts import (
    ContractViolation,
    ForgejoGeneration,
    check_request,
    check_response,
    contract_text,
    forgejo_contract,
)
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
NO_BODY = object()
ISSUE_ROUTES = "/repos/{owner}/{repo}/issues"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any = NO_BODY
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpError(Exception):
    def __init__(self, status: int, body: Any = NO_BODY) -> None:
        super().__init__(status)
        self.reply = Reply(status, body)


@dataclass(frozen=True, slots=True)
class Call:
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
            raise HttpError(422, api_error("the request body is not JSON")) from None


Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    query: frozenset[str]
    handler: Handler


@cache
def declared_statuses(contract: ForgejoGeneration) -> dict[tuple[str, str], frozenset[int]]:
    spec = json.loads(contract_text(contract))
    found: dict[tuple[str, str], frozenset[int]] = {}
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                codes = frozenset(int(code) for code in operation["responses"] if code.isdigit())
                found[(method.upper(), template)] = codes
    return found


def compile_template(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
    return re.compile(f"^{regex}$")


class ForgejoServer(FaultControls, abc.ABC):
    """Serves ``routes()`` from ``state`` as a Forgejo of ``version`` would."""

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
        self.major = forgejo_major(version) or 0
        self.contract: ForgejoGeneration = forgejo_contract(version)
        self.faults = FaultPlan()
        self._violations: list[str] = []
        self._lock = threading.Lock()
        self._routes = [
            Route(method, template, compile_template(template), frozenset(query), handler)
            for method, template, query, handler in self.routes()
        ]

    @abc.abstractmethod
    def routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        """(method, path template as the description spells it, taught query names, handler)."""

    @property
    def violations(self) -> list[str]:
        """Requests refused because they broke the description or used an untaught call."""
        with self._lock:
            return list(self._violations)

    # --- serving --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        # Routed on the path as sent, as Forgejo does: a branch name's ``%2F`` (``afk/issue-3-1``
        # in ``…/pulls/{base}/{head}``) stays inside its segment; each parameter is decoded.
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        api_path = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else path
        return self.faults.serve(
            request, api_path, lambda: self._respond(request, api_path), self._fault_reply
        )

    def _fault_reply(self, status: int, headers: Mapping[str, str]) -> httpx.Response:
        return httpx.Response(status, json=api_error("scripted failure"), headers=dict(headers))

    def _violation(self, message: str) -> None:
        with self._lock:
            self._violations.append(message)

    def _untaught(self, message: str) -> AssertionError:
        self._violation(message)
        return AssertionError(message)

    def _respond(self, request: httpx.Request, api_path: str) -> httpx.Response:
        route, params = self._match(request.method.upper(), api_path)
        if route is None:
            self._violation(f"no such Forgejo route: {request.method} {request.url.path}")
            return self._render(request, None, Reply(404, not_found()))
        user = self._authenticate(request)
        if user is None:
            return self._render(request, None, Reply(401, api_error("token is required")))
        query = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
        untaught = sorted(set(query) - route.query)
        if untaught:
            raise self._untaught(
                f"FakeForgejo was not taught {route.method} {route.template} {untaught}"
            )
        try:
            check_request(self.contract, request, api_path)
        except ContractViolation as exc:
            self._violation(str(exc))
            return self._render(request, None, Reply(422, api_error(str(exc))))
        call = Call(request, user, params, query)
        try:
            self._admit(route, call)
            reply = route.handler(call)
        except HttpError as exc:
            reply = exc.reply
        except ForbiddenError:
            reply = Reply(403)
        except NotFoundError as exc:
            reply = Reply(404, not_found(exc.message))
        except ForgeStateError as exc:
            reply = Reply(exc.status, api_error(exc.message))
        return self._render(request, route, reply, api_path)

    def _admit(self, route: Route, call: Call) -> None:
        """Forgejo's repo middleware: a repo the token cannot read does not exist for it, and
        from v13 neither do issue URLs of a repo whose Issues unit is not on."""
        if "owner" not in call.params or not self.state.has_repo(call.repo):
            return
        if not self.state.can_read(call.repo, call.user.login):
            raise HttpError(404, not_found())
        unit = self.state.repo(call.repo).issues_unit
        if unit == "internal" or not route.template.startswith(ISSUE_ROUTES):
            return
        if self.major < 13:
            raise self._untaught(
                f"FakeForgejo was not taught how Forgejo {self.version} answers issue URLs of a "
                f"repo whose Issues unit is {unit}"
            )
        raise HttpError(404, not_found())

    def _match(self, method: str, api_path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method != method:
                continue
            match = route.pattern.match(api_path)
            if match is not None:
                return route, {name: unquote(value) for name, value in match.groupdict().items()}
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
        route: Route | None,
        reply: Reply,
        api_path: str = "",
    ) -> httpx.Response:
        self._check_reply(request, route, reply, api_path)
        headers = {"content-type": "application/json;charset=utf-8", **reply.headers}
        if reply.body is NO_BODY:
            headers.pop("content-type")
            return httpx.Response(reply.status, headers=headers)
        content = json.dumps(reply.body).encode()
        return httpx.Response(reply.status, content=content, headers=headers)

    def _check_reply(
        self, request: httpx.Request, route: Route | None, reply: Reply, api_path: str
    ) -> None:
        """Every reply must be one Forgejo could send; a mismatch is a bug in this fake."""
        declared = frozenset[int]()
        if route is not None:
            declared = declared_statuses(self.contract).get(
                (route.method, route.template), frozenset()
            )
        if reply.status >= 400 and (reply.status not in declared or reply.body is NO_BODY):
            body = reply.body
            shaped = body is NO_BODY or (
                isinstance(body, dict) and isinstance(body.get("message"), str)
            )
            if not shaped:
                raise AssertionError(f"FakeForgejo error reply is not an APIError: {body!r}")
            return
        if reply.status not in declared:
            raise AssertionError(f"FakeForgejo replied {reply.status}, undeclared for {api_path}")
        if reply.body is None:
            return  # Forgejo's literal ``null`` (an empty timeline page), which no schema admits
        body = None if reply.body is NO_BODY else reply.body
        try:
            check_response(self.contract, request, api_path, reply.status, body)
        except ContractViolation as exc:
            raise AssertionError(f"FakeForgejo served a reply Forgejo could not: {exc}") from None

    # --- what the routes share ------------------------------------------------------------

    def _wire(self, call: Call) -> ForgejoWire:
        url = call.request.url
        return ForgejoWire(self.state, f"{url.scheme}://{url.netloc.decode('ascii')}")

    def _issue(self, call: Call) -> Issue:
        self.state.repo(call.repo)
        return self.state.issue(call.repo, call.int_param("index"))

    def _page(self, call: Call, *, default_all: bool = False) -> tuple[int, int] | None:
        """(page, size) as ``GetListOptions``; None = no pagination (``default_all``, no page)."""
        page = int(call.query.get("page") or 0)
        if default_all and page <= 0:
            return None
        size = int(call.query.get("limit") or 0)
        if size <= 0:
            size = DEFAULT_PAGE_SIZE
        return max(page, 1), min(size, self.max_page_size)

    def _paged(self, call: Call) -> tuple[int, int]:
        paging = self._page(call)
        assert paging is not None
        return paging

    def _link_header(self, call: Call, total: int, page: int, size: int) -> dict[str, str]:
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
