"""A strict fake of the two Vault endpoints afk uses: Kubernetes auth login and a KV v2 read.

It answers exactly the request shapes hvac sends (``hvac/api/auth_methods/kubernetes.py`` and
``hvac/api/secrets_engines/kv_v2.py``: a JSON ``{role, jwt}`` POST, a bodiless GET carrying
``X-Vault-Token``, both with ``X-Vault-Request: true``) and Vault's error bodies
(``{"errors": [...]}`` with ``Content-Type: application/json``, which hvac needs to read them).
It is stricter than Vault in one place on purpose: a login that carries a stale token is refused,
so an adapter that forgets to drop its expired token before logging in again is caught.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

from afk.testing.serving import DropConnection

_DATA_PREFIX = "/data/"


@dataclass(slots=True)
class _Token:
    expires_at: float
    revoked: bool = False


@dataclass(slots=True)
class _Secret:
    versions: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    errors: tuple[str, ...]
    drop: bool
    method: str | None


def _errors(status: int, *messages: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": list(messages)})


def _envelope(**fields: Any) -> dict[str, Any]:
    """Vault's common response envelope around ``data`` or ``auth``."""
    body: dict[str, Any] = {
        "request_id": "00000000-0000-4000-8000-000000000000",
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": None,
        "wrap_info": None,
        "warnings": None,
        "auth": None,
    }
    body.update(fields)
    return body


class FakeVault:
    """Vault with one Kubernetes auth role and one KV v2 mount; every write is recorded."""

    def __init__(
        self,
        role: str,
        jwt: str,
        secrets: dict[str, dict[str, str]],
        *,
        mount: str = "secret",
        auth_mount: str = "kubernetes",
        token_ttl_s: int = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.role = role
        self.jwt = jwt
        self.mount = mount
        self.auth_mount = auth_mount
        self.token_ttl_s = token_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._secrets = {path: _Secret([dict(data)]) for path, data in secrets.items()}
        self._tokens: dict[str, _Token] = {}
        self._failures: list[_Failure] = []
        self.logins = 0
        self.reads: list[str] = []
        self.requests: list[tuple[str, str]] = []

    # controls

    def set_secret(self, path: str, data: dict[str, str]) -> None:
        """Write a new version of ``path`` (a rotation): the next read sees it."""
        with self._lock:
            self._secrets.setdefault(path, _Secret()).versions.append(dict(data))

    def expire_tokens(self) -> None:
        """Every client token issued so far stops working, as when its TTL runs out."""
        with self._lock:
            for token in self._tokens.values():
                token.revoked = True

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        errors: tuple[str, ...] = (),
        drop: bool = False,
        method: str | None = None,
    ) -> None:
        """The next ``n`` requests (of ``method``, when given) answer ``status`` with ``errors``.

        ``drop=True`` closes the connection without an answer instead.
        """
        with self._lock:
            self._failures.extend([_Failure(status, errors, drop, method)] * n)

    @property
    def issued_tokens(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._tokens)

    # the server

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.method, request.url.path))
            failure = self._take_failure(request.method)
            if failure is not None:
                if failure.drop:
                    raise DropConnection
                return _errors(failure.status, *failure.errors)
            return self._route(request)

    def _take_failure(self, method: str) -> _Failure | None:
        for index, failure in enumerate(self._failures):
            if failure.method in (None, method):
                return self._failures.pop(index)
        return None

    def _route(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-vault-request") != "true":
            # hvac always sends it; Vault listeners may require it (SSRF protection).
            return _errors(412, "missing 'X-Vault-Request' header")
        path = unquote(request.url.path)
        login_path = f"/v1/auth/{self.auth_mount}/login"
        data_prefix = f"/v1/{self.mount}{_DATA_PREFIX}"
        if path == login_path:
            if request.method != "POST":
                return _errors(405)
            return self._login(request)
        if path.startswith(data_prefix) and len(path) > len(data_prefix):
            if request.method != "GET":
                return _errors(405)
            return self._read(request, path[len(data_prefix) :])
        route = path.removeprefix("/v1/")
        return _errors(404, f'no handler for route "{route}". route entry not found.')

    def _login(self, request: httpx.Request) -> httpx.Response:
        stale = request.headers.get("x-vault-token")
        if stale is not None and not self._valid(stale):
            return _errors(403, "permission denied")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _errors(400, "failed to parse JSON input: content type is not JSON")
        try:
            body = json.loads(request.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _errors(400, "failed to parse JSON input")
        if not isinstance(body, dict):
            return _errors(400, "failed to parse JSON input: not an object")
        unknown = sorted(set(body) - {"role", "jwt"})
        if unknown:
            return _errors(400, f"unexpected fields: {', '.join(unknown)}")
        role, jwt = body.get("role"), body.get("jwt")
        if not isinstance(role, str) or not role:
            return _errors(400, "missing role")
        if not isinstance(jwt, str) or not jwt:
            return _errors(400, "missing jwt")
        if role != self.role:
            return _errors(400, f'invalid role name "{role}"')
        if jwt != self.jwt:
            return _errors(403, "permission denied")
        self.logins += 1
        token = f"fake-vault-client-token-{self.logins:04d}"
        self._tokens[token] = _Token(expires_at=self._clock() + self.token_ttl_s)
        auth = {
            "client_token": token,
            "accessor": f"fake-accessor-{self.logins:04d}",
            "policies": ["default", "afk"],
            "token_policies": ["default", "afk"],
            "metadata": {"role": role, "service_account_name": "afk"},
            "lease_duration": self.token_ttl_s,
            "renewable": True,
            "entity_id": "00000000-0000-4000-8000-000000000001",
            "token_type": "service",
            "orphan": True,
        }
        return httpx.Response(200, json=_envelope(auth=auth))

    def _valid(self, token: str) -> bool:
        known = self._tokens.get(token)
        return known is not None and not known.revoked and self._clock() < known.expires_at

    def _read(self, request: httpx.Request, path: str) -> httpx.Response:
        token = request.headers.get("x-vault-token")
        if not token or not self._valid(token):
            return _errors(403, "permission denied")
        if request.content:
            return _errors(400, "a read takes no body")
        params = dict(request.url.params)
        if set(params) - {"version"}:
            return _errors(400, f"unexpected query parameters: {sorted(params)}")
        secret = self._secrets.get(path)
        if secret is None or not secret.versions:
            return _errors(404)
        version = len(secret.versions)
        if "version" in params:
            if not params["version"].isdigit():
                return _errors(400, "version must be an integer")
            version = int(params["version"]) or version
            if version > len(secret.versions):
                return _errors(404)
        self.reads.append(path)
        data = {
            "data": dict(secret.versions[version - 1]),
            "metadata": {
                "created_time": "2024-01-01T00:00:00.000000Z",
                "custom_metadata": None,
                "deletion_time": "",
                "destroyed": False,
                "version": version,
            },
        }
        return httpx.Response(200, json=_envelope(data=data))
