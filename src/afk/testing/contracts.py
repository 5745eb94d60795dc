"""Validate what crosses the wire against the official API descriptions.

The fakes call these on every request they receive and every response they serve, so a fake can
never accept a request the real server would reject, nor serve a body the real server could not
send. The descriptions are packaged copies of ``shared/contracts`` (a test keeps them identical),
so the fakes stay strict wherever afk is installed, ``afk demo`` included.

Forgejo's description is Swagger 2.0 converted to OpenAPI 3, which cannot express ``null``: real
Forgejo responses carry nulls the converted schema refuses, so responses are validated with their
null-valued fields dropped (requests are validated as sent).

Forgejo comes in two generations here: ``forgejo`` is v11.0.1 (the LTS line) and ``forgejo15`` is
v15.0.3. A server is checked against the description of its own generation (``forgejo_contract``),
because the same path is not the same operation on both: from v13 the label to remove is a name
or an id, so a description of the other generation would accept a request the server refuses.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx

from afk.adapters.forgejo_labels import forgejo_major

Forge = Literal["forgejo", "forgejo15", "github"]
ForgejoGeneration = Literal["forgejo", "forgejo15"]

_FILES: dict[str, str] = {
    "forgejo": "forgejo.openapi3.json",
    "forgejo15": "forgejo15.openapi3.json",
    "github": "github.openapi.json",
    "t3": "t3.schema.json",
}
_BASES: dict[str, tuple[str, str]] = {
    # (host URL, path prefix the description's server adds)
    "forgejo": ("https://forge.invalid", "/api/v1"),
    "forgejo15": ("https://forge.invalid", "/api/v1"),
    "github": ("https://api.github.com", ""),
}


class ContractViolation(Exception):
    """A request or response does not match the official description."""


def contract_text(name: str) -> str:
    """The packaged copy of a contract file (``forgejo``, ``forgejo15``, ``github`` or ``t3``)."""
    return (resources.files("afk.testing") / "contracts" / _FILES[name]).read_text("utf-8")


def forgejo_contract(version: str) -> ForgejoGeneration:
    """The description a Forgejo of ``version`` answers to.

    v13 changed the label-removal path to take a name or an id, and section 17 of the forge
    facts found no other change to afk's operations up to v16; so v13 and later read as the
    v15.0.3 description, anything older (or unparseable) as v11.0.1's.
    """
    major = forgejo_major(version)
    return "forgejo15" if major is not None and major >= 13 else "forgejo"


@functools.cache
def _openapi(forge: Forge) -> Any:
    from openapi_core import OpenAPI  # heavy: imported only when a fake first validates

    return OpenAPI.from_dict(json.loads(contract_text(forge)))


@functools.cache
def t3_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(contract_text("t3"))
    return loaded


def drop_nulls(value: Any) -> Any:
    """Remove null-valued object fields, recursively (see the module docstring for why)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _mock_request(forge: Forge, request: httpx.Request, api_path: str) -> Any:
    from openapi_core.testing import MockRequest

    host, prefix = _BASES[forge]
    args = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
    headers = dict(request.headers.items())
    content_type = request.headers.get("content-type", "application/json").split(";")[0]
    return MockRequest(
        host,
        request.method.lower(),
        prefix + api_path,
        args=args,
        headers=headers,
        data=request.content or None,
        content_type=content_type,
    )


def check_request(forge: Forge, request: httpx.Request, api_path: str) -> None:
    """Raise ``ContractViolation`` when ``request`` breaks the description.

    ``api_path`` is the request path below the API base (``/repos/o/r/issues``), with no query.
    """
    try:
        _openapi(forge).validate_request(_mock_request(forge, request, api_path))
    except Exception as exc:  # openapi-core raises many unrelated classes; all mean "invalid"
        raise ContractViolation(f"{forge} request {request.method} {api_path}: {exc}") from None


def check_response(
    forge: Forge, request: httpx.Request, api_path: str, status: int, body: Any
) -> None:
    """Raise ``ContractViolation`` when a fake's reply is not one the real server could send."""
    from openapi_core.testing import MockResponse

    if forge != "github":
        body = drop_nulls(body)
    data = b"" if body is None else json.dumps(body).encode()
    response = MockResponse(data, status_code=status, content_type="application/json")
    try:
        _openapi(forge).validate_response(_mock_request(forge, request, api_path), response)
    except Exception as exc:  # as above: every failure class means the fake is wrong
        raise ContractViolation(f"{forge} response {status} to {api_path}: {exc}") from None


def check_t3(definition: str, value: Any) -> None:
    """Raise ``ContractViolation`` when ``value`` is not a valid T3 ``$defs/<definition>``."""
    import jsonschema

    schema = t3_schema()
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ContractViolation(f"T3 {definition} at {where}: {error.message}")
