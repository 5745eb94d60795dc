"""Check one real reply against the contract it answers to, and tell every divergence.

The strict fakes raise at the first problem (``afk.testing.contracts``); here every problem of a
real server's reply is wanted, each with its JSON path, so the schema errors are taken from
openapi-core (forges) and jsonschema (T3) one by one. The descriptions are the same packaged
copies. Forgejo's are validated with null-valued fields dropped (Swagger 2.0 cannot say
``nullable``; see ``afk.testing.contracts``); GitHub's nullable enums are read as the
description means them (``divergence._validator_artifact``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection
from importlib import resources
from typing import Any

import httpx
import jsonschema

from afk.doctor_deep.divergence import Divergence, divergences_of
from afk.metrics.labels import route_of
from afk.testing.contracts import contract_text, drop_nulls

_DESCRIPTION_HOST = "https://forge.invalid"
"""The host a relative ``servers`` URL (Forgejo's ``/api/v1``) is resolved against."""

T3_ROUTES: dict[str, tuple[str, str]] = {
    # path (or path prefix, ending in "/") → (packaged schema file, definition)
    "/api/orchestration/snapshot": ("t3.schema.json", "ReadModel"),
    "/api/orchestration/shell": ("t3_shell.schema.json", "ShellSnapshot"),
    "/api/orchestration/threads/": ("t3.schema.json", "ThreadDetailSnapshot"),
}
T3_OPERATIONS = {
    "/api/orchestration/snapshot": "GET /api/orchestration/snapshot",
    "/api/orchestration/shell": "GET /api/orchestration/shell",
    "/api/orchestration/threads/": "GET /api/orchestration/threads/{threadId}",
}


@functools.cache
def _description(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(contract_text(name))
    return loaded


@functools.cache
def _openapi(name: str) -> Any:
    from openapi_core import OpenAPI  # heavy: only a deep doctor needs it

    return OpenAPI.from_dict(_description(name))


@functools.cache
def _templates(name: str) -> list[tuple[str, str, re.Pattern[str]]]:
    """(method, path template, pattern), most literal segments first (``/repos/issues/search``
    before ``/repos/{owner}/{repo}``)."""
    found = []
    for template, operations in _description(name)["paths"].items():
        pattern = re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)))
        for method in operations:
            if method in {"get", "put", "post", "patch", "delete", "head"}:
                found.append((method.upper(), template, pattern))
    return sorted(found, key=lambda item: -sum(not s.startswith("{") for s in item[1].split("/")))


def operation_of(description: str, method: str, api_path: str) -> str | None:
    """``GET /repos/{owner}/{repo}/issues`` for a request path below the API base."""
    for verb, template, pattern in _templates(description):
        if verb == method.upper() and pattern.fullmatch(api_path):
            return f"{verb} {template}"
    return None


def _server(description: str) -> tuple[str, str]:
    url = str(_description(description).get("servers", [{"url": ""}])[0]["url"]).rstrip("/")
    return (_DESCRIPTION_HOST, url) if url.startswith("/") else (url, "")


def forge_reply(
    description: str,
    request: httpx.Request,
    api_path: str,
    response: httpx.Response,
    *,
    subject: str,
    secrets: Collection[str],
) -> tuple[str, list[Divergence]]:
    """The operation a reply answers and how it differs from ``description``'s promise."""
    from openapi_core.testing import MockRequest, MockResponse

    operation = operation_of(description, request.method, api_path)
    if operation is None:
        operation = f"{request.method} {route_of(api_path)}"
        return operation, [
            Divergence(
                operation,
                subject,
                "$",
                "an operation of the description",
                "a reply to a request it does not describe (an afk bug: please report it)",
            )
        ]
    content_type = response.headers.get("content-type", "application/json")
    data = response.content
    if description != "github" and "json" in content_type and data:
        try:
            kept = drop_nulls(json.loads(data))
        except ValueError:
            pass  # the validator below tells it
        else:
            if kept is None:  # Go's empty (nil) list: nothing in it can diverge
                return operation, []
            data = json.dumps(kept).encode()
    host, prefix = _server(description)
    mock_request = MockRequest(host, request.method.lower(), prefix + api_path)
    mock_response = MockResponse(
        data,
        status_code=response.status_code,
        content_type=content_type,
        headers=dict(response.headers.items()),
    )
    try:
        _openapi(description).validate_response(mock_request, mock_response)
    except Exception as exc:  # openapi-core raises many classes; each is told below
        return operation, _told(exc, operation, subject, response, secrets)
    return operation, []


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _told(
    exc: Exception,
    operation: str,
    subject: str,
    response: httpx.Response,
    secrets: Collection[str],
) -> list[Divergence]:
    """The exception's meaning; never its message, which quotes the reply's values."""
    chain = _causes(exc)
    for cause in chain:
        errors = getattr(cause, "schema_errors", None)
        if errors:
            return divergences_of(errors, operation=operation, subject=subject, secrets=secrets)
    names = {type(cause).__name__ for cause in chain}
    status = response.status_code
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    if "ResponseNotFound" in names:
        expected, got = "one of the statuses it declares", f"status {status}"
    elif "MediaTypeNotFound" in names:
        expected, got = "a declared content type (JSON)", f"content type {kind}"
    elif "MediaTypeDeserializeError" in names:
        expected, got = "a JSON body", "a body that is not JSON"
    elif names & {"MissingRequiredHeader", "MissingHeader"}:
        expected, got = "its required reply headers", "a reply without one of them"
    else:
        expected, got = "a reply it describes", f"a reply it refuses ({type(exc).__name__})"
    return [Divergence(operation, subject, "$", expected, got)]


@functools.cache
def _t3_schema(file: str) -> dict[str, Any] | None:
    path = resources.files("afk.testing") / "contracts" / file
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def t3_route(path: str) -> str | None:
    for route in T3_ROUTES:
        if path == route or (route.endswith("/") and path.startswith(route) and path != route):
            return route
    return None


def t3_reply(
    path: str, response: httpx.Response, *, secrets: Collection[str]
) -> tuple[str, list[Divergence]]:
    """A T3 read's reply against T3's JSON Schema (T3 Code publishes no OpenAPI document)."""
    route = t3_route(path)
    if route is None:
        operation = f"GET {route_of(path)}"
        return operation, [
            Divergence(
                operation,
                "T3",
                "$",
                "a route of the T3 contract",
                "a reply to another route (an afk bug: please report it)",
            )
        ]
    operation = T3_OPERATIONS[route]
    file, definition = T3_ROUTES[route]
    schema = _t3_schema(file)
    if schema is None:
        return operation, []
    try:
        body = json.loads(response.content)
    except ValueError:
        return operation, [
            Divergence(operation, "T3", "$", "a JSON body", "a body that is not JSON")
        ]
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    errors = validator.iter_errors(body)
    return operation, divergences_of(errors, operation=operation, subject="T3", secrets=secrets)
