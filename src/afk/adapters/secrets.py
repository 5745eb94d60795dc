"""Bearer providers: where afk gets the T3 (or other) credential each time it needs it.

Each provider is a ``BearerProvider`` (a ``() -> str``) that reads its source on every call,
because tokens rotate under a running process: a Kubernetes-mounted secret is rewritten in place,
a Vault KV value is replaced. Each also has ``describe()`` for ``afk doctor``, which names the
source and never the value. Every failure is a ``SecretError`` whose message names the source,
the operation and the status, never the credential, the service-account JWT or a Vault token.

Vault calls are not retried here: a tick is short, and the next tick asks again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import hvac
import hvac.exceptions
import requests
from pydantic import SecretStr

from afk.adapters.deadline import Overran, TickDeadline, bounded
from afk.adapters.server_replies import scrub
from afk.errors import ConfigError, SecretError

DEFAULT_JWT_PATH = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
_VAULT = "Vault"
_PRINTABLE_ASCII = (0x21, 0x7E)

_HVAC_STATUS: tuple[tuple[type[hvac.exceptions.VaultError], int], ...] = (
    (hvac.exceptions.InvalidRequest, 400),
    (hvac.exceptions.Unauthorized, 401),
    (hvac.exceptions.Forbidden, 403),
    (hvac.exceptions.InvalidPath, 404),
    (hvac.exceptions.PreconditionFailed, 412),
    (hvac.exceptions.RateLimitExceeded, 429),
    (hvac.exceptions.InternalServerError, 500),
    (hvac.exceptions.VaultNotInitialized, 501),
    (hvac.exceptions.BadGateway, 502),
    (hvac.exceptions.VaultDown, 503),
)
_TOKEN_REFUSED = (
    hvac.exceptions.Forbidden,
    hvac.exceptions.Unauthorized,
    hvac.exceptions.InvalidRequest,
)


class DescribedBearer(Protocol):
    """A bearer provider that can say where it reads from (for ``afk doctor``)."""

    def __call__(self) -> str: ...

    def describe(self) -> str: ...


def _usable(
    value: str, *, service: str, operation: str, setting: str, source: str | None = None
) -> str:
    """The value stripped, or an error that says what is wrong with it (never what it is).

    A token goes into an HTTP header, which carries printable ASCII only: anything else (a
    byte-order mark, a typographic quote pasted from a document, a control character) would make
    httpx raise an exception holding the whole header. It is a ``ConfigError`` naming
    ``setting``, as the fix is in the configuration.
    """
    value = value.strip()
    if not value:
        raise SecretError(service=service, operation=operation, detail="the value is empty")
    if any(char.isspace() for char in value):
        raise SecretError(
            service=service, operation=operation, detail="the value holds whitespace inside it"
        )
    if not all(_PRINTABLE_ASCII[0] <= ord(char) <= _PRINTABLE_ASCII[1] for char in value):
        where = f"{setting} ({source})" if source else setting
        raise ConfigError(
            f"{where}: the token holds a character that is not printable ASCII (a byte-order "
            "mark inside, a typographic quote, a control character?): save it as plain text",
            setting=setting,
        )
    return value


class EnvBearer:
    """A static credential from the configuration (an ``AFK_*`` variable or the TOML file)."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: SecretStr | str, *, source: str = "the configuration") -> None:
        self._value = value if isinstance(value, SecretStr) else SecretStr(value)
        self._source = source

    def __call__(self) -> str:
        return _usable(
            self._value.get_secret_value(),
            service="secret",
            operation=f"read {self._source}",
            setting=self._source,
        )

    def describe(self) -> str:
        return f"static value from {self._source}"

    def __repr__(self) -> str:
        return f"EnvBearer({self.describe()!r})"


class FileBearer:
    """A credential file, re-read on every call: a Kubernetes secret volume rewrites it in place."""

    __slots__ = ("_path", "_setting")

    def __init__(self, path: Path, *, setting: str = "the token file") -> None:
        self._path = path
        self._setting = setting

    def __call__(self) -> str:
        return _read_file(self._path, service="secret file", setting=self._setting)

    def describe(self) -> str:
        return f"file {self._path}"

    def __repr__(self) -> str:
        return f"FileBearer({self.describe()!r})"


def _read_file(path: Path, *, service: str, setting: str) -> str:
    """The file's text without a UTF-8 byte-order mark (``utf-8-sig``), checked by ``_usable``.

    Errors are raised after the ``except`` blocks: a ``UnicodeDecodeError`` quotes the bytes it
    could not decode, and must not ride along as ``__context__``.
    """
    operation = f"read {path}"
    problem = ""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problem = "no such file"
    except PermissionError:
        problem = "permission denied"
    except IsADirectoryError:
        problem = "is a directory"
    except UnicodeDecodeError:
        problem = "not UTF-8 text"
    except OSError as exc:
        problem = f"unreadable ({type(exc).__name__})"
    if problem:
        raise SecretError(service=service, operation=operation, detail=problem)
    return _usable(text, service=service, operation=operation, setting=setting, source=str(path))


class VaultBearer:
    """A KV v2 value read through hvac after a Kubernetes auth login.

    The secret is read on every call (its value rotates); the Vault client token is reused until
    its lease is nearly over or Vault refuses it, and then afk logs in once more and retries once.
    The service-account JWT is re-read at each login because Kubernetes rotates projected tokens.
    Timeouts are whole seconds (rounded up), as hvac takes them. ``verify=None`` (the default)
    lets hvac apply Vault's own ``VAULT_CACERT``/``VAULT_CAPATH``, as every Vault client does;
    passing ``True`` would silently trust the system's CAs only.
    """

    def __init__(
        self,
        addr: str,
        role: str,
        mount: str,
        path: str,
        *,
        key: str = "token",
        jwt_path: Path = DEFAULT_JWT_PATH,
        auth_mount: str = "kubernetes",
        timeout_s: float = 10,
        verify: bool | str | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: TickDeadline | None = None,
    ) -> None:
        self._addr = addr
        self._role = role
        self._mount = mount
        self._path = path
        self._key = key
        self._jwt_path = jwt_path
        self._auth_mount = auth_mount
        self._timeout_s = timeout_s
        self._timeout = max(1, math.ceil(timeout_s))
        self._deadline = deadline
        self._verify = verify
        self._clock = clock
        self._lock = threading.Lock()
        self._client: hvac.Client | None = None
        self._token: str | None = None
        self._renew_at = 0.0
        self._seen: list[str] = []

    def describe(self) -> str:
        return (
            f"vault {self._addr} kv {self._mount}/{self._path} key {self._key} (role {self._role})"
        )

    def __repr__(self) -> str:
        return f"VaultBearer({self.describe()!r})"

    def __call__(self) -> str:
        with self._lock:
            client = self._client_once()
            fresh = False
            if self._token is None or self._clock() >= self._renew_at:
                self._login(client)
                fresh = True
            value = self._read_or_refused(client)
            if isinstance(value, str):
                return value
            if fresh:
                raise value
            self._login(client)
            value = self._read_or_refused(client)
            if isinstance(value, str):
                return value
            raise value

    def _read_or_refused(self, client: hvac.Client) -> str | SecretError:
        """The secret, or the error to raise if Vault refused the client token."""
        try:
            return self._read(client)
        except _TokenRefused as refused:
            error = refused.error
        return error

    def _client_once(self) -> hvac.Client:
        if self._client is None:
            self._client = hvac.Client(url=self._addr, timeout=self._timeout, verify=self._verify)
        return self._client

    def _login(self, client: hvac.Client) -> None:
        operation = f"login ({self._auth_mount} auth, role {self._role})"
        # Drop the old token first: it must not ride along on the login request.
        self._token = None
        client.token = None  # type: ignore[assignment]  # hvac accepts None: no token header
        jwt = _read_file(
            self._jwt_path, service="Kubernetes service-account token", setting="AFK_VAULT_JWT_PATH"
        )
        self._remember(jwt)
        started = self._clock()
        reply = self._call(
            operation,
            lambda: client.auth.kubernetes.login(
                role=self._role, jwt=jwt, use_token=False, mount_point=self._auth_mount
            ),
        )
        auth = reply.get("auth") if isinstance(reply, dict) else None
        token = auth.get("client_token") if isinstance(auth, dict) else None
        lease = auth.get("lease_duration") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token or not isinstance(lease, int):
            raise SecretError(
                service=_VAULT, operation=operation, detail="the reply has no auth.client_token"
            )
        self._remember(token)
        client.token = token
        self._token = token
        # A lease of 0 means the token does not expire by time; Vault's refusal still renews it.
        self._renew_at = started + lease - min(30.0, lease / 10) if lease > 0 else math.inf

    def _read(self, client: hvac.Client) -> str:
        operation = f"read kv {self._mount}/{self._path}"
        reply = self._call(
            operation,
            lambda: client.secrets.kv.v2.read_secret_version(
                path=self._path, mount_point=self._mount, raise_on_deleted_version=True
            ),
            refusable=True,
        )
        data = reply.get("data") if isinstance(reply, dict) else None
        values = data.get("data") if isinstance(data, dict) else None
        if not isinstance(values, dict):
            raise SecretError(service=_VAULT, operation=operation, detail="the reply has no data")
        value = values.get(self._key)
        if not isinstance(value, str):
            raise SecretError(
                service=_VAULT, operation=operation, detail=f"the secret has no key {self._key!r}"
            )
        return _usable(
            value,
            service=_VAULT,
            operation=f"{operation} key {self._key}",
            setting=f"the Vault secret {self._mount}/{self._path} key {self._key}",
        )

    def _call(self, operation: str, call: Callable[[], Any], *, refusable: bool = False) -> Any:
        """Run one hvac call; every hvac or requests failure becomes a ``SecretError``.

        The call gets its timeout, cut to what is left of the tick, for its whole exchange:
        requests' timeouts bound each socket operation only, so it runs under ``bounded``. The
        error is raised after the ``except`` blocks: a requests exception holds the request,
        ``X-Vault-Token`` included, and must not ride along as ``__context__``.
        """
        within_s = self._timeout_s
        if self._deadline is not None:
            within_s = self._deadline.admit(
                f"{_VAULT} {operation}", write=False, needs_s=self._timeout_s
            )
        failure: SecretError | None = None
        refused = False
        try:
            reply = bounded(within_s, call)
        except Overran:
            detail = f"timed out: no complete answer within {within_s:.3g} s"
            failure = SecretError(service=_VAULT, operation=operation, detail=detail)
        except hvac.exceptions.VaultError as exc:
            failure = SecretError(
                service=_VAULT,
                operation=operation,
                status=_status_of(exc),
                detail=scrub(", ".join(str(e) for e in exc.errors or ()), self._seen),
            )
            refused = refusable and isinstance(exc, _TOKEN_REFUSED)
        except requests.exceptions.Timeout as exc:
            detail = f"timed out ({type(exc).__name__})"
            failure = SecretError(service=_VAULT, operation=operation, detail=detail)
        except requests.exceptions.RequestException as exc:
            detail = f"connection failed ({type(exc).__name__})"
            failure = SecretError(service=_VAULT, operation=operation, detail=detail)
        if failure is not None:
            raise _TokenRefused(failure) if refused else failure
        if isinstance(reply, requests.Response):
            # hvac hands back the raw response when a 2xx body is not JSON.
            raise SecretError(
                service=_VAULT,
                operation=operation,
                status=reply.status_code,
                detail="the body is not JSON",
            )
        return reply

    def _remember(self, secret: str) -> None:
        """Keep the last few credentials seen so they can be scrubbed from server messages."""
        self._seen = [*self._seen[-3:], secret]


class _TokenRefused(Exception):
    """Internal: Vault refused the client token; carries the error to raise if a retry fails."""

    def __init__(self, error: SecretError) -> None:
        super().__init__(error.operation)
        self.error = error


def _status_of(exc: hvac.exceptions.VaultError) -> int | None:
    for kind, status in _HVAC_STATUS:
        if isinstance(exc, kind):
            return status
    return None
