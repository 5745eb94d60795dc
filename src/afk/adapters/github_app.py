"""afk as a GitHub App: a short-lived JWT, exchanged for an installation token per owner.

Facts (FORGE_API.md section 16a): the JWT is RS256 with the App's private key, ``iat`` 60 s in
the past (clock drift), ``exp`` at most 10 minutes ahead, ``iss`` the App id or client id; only
``GET /app``, ``GET /repos/{o}/{r}/installation`` and ``POST /app/installations/{id}/
access_tokens`` take it. An installation token lives an hour and answers 401 once expired; it
cannot call ``GET /user``, so afk's own login is ``<slug>[bot]`` from ``GET /app``.

Why this shape: a token is minted once per owner and reused until ``RENEW_BEFORE`` ahead of its
``expires_at`` (a tick then never spends requests on tokens), and a token the forge calls expired
anyway (a clock skew, a revoked installation) is renewed once, on the next call, never in a loop.
Neither the key, the JWT nor a token is ever put in a message or a log line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from afk.adapters.github import GitHubCi, GitHubTracker
from afk.adapters.github_api import GitHubApi
from afk.adapters.github_api import field as _field
from afk.adapters.github_api import timestamp as _timestamp
from afk.adapters.github_fleet import GitHubSearchLister
from afk.adapters.http import RetryPolicy, json_of, request
from afk.core.types import RepoRef
from afk.errors import ConfigError, TrackerAuthError

JWT_BACKDATE_S = 60
"""``iat`` this far in the past, as GitHub recommends against clock drift."""

JWT_LIFETIME_S = 540
"""``exp`` nine minutes after now: inside GitHub's ten minutes even with a second of skew."""

RENEW_BEFORE_S = 300
"""A cached installation token is renewed this long before its ``expires_at``: a tick (at most
an hour, usually a minute) never starts with a token about to lapse under it."""


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


class GitHubApp(GitHubApi):
    """One App's JWT, its installations (per owner) and their tokens, for one tick or longer."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client,
        app_id: str,
        private_key_file: Path,
        installation_id: int | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(base_url, http, self.jwt, retry=retry or RetryPolicy())
        self._app_id = app_id
        self._key_file = private_key_file
        self._installation_id = installation_id
        self._clock = clock
        self._lock = threading.RLock()
        self._key: Any = None
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, _Token] = {}
        self._slug: str | None = None
        self.minted = 0

    # --- the JWT --------------------------------------------------------------------------

    def private_key(self) -> Any:
        """The parsed key (read once); a file that is missing or not an RSA key in PEM is a
        configuration error naming the variable, never showing the file's content."""
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        setting = "AFK_GITHUB_APP_PRIVATE_KEY_FILE"
        with self._lock:
            if self._key is None:
                try:
                    pem = self._key_file.read_bytes()
                except OSError as exc:
                    raise ConfigError(
                        f"{setting}: cannot read the key file ({type(exc).__name__})",
                        setting=setting,
                    ) from None
                try:
                    key = load_pem_private_key(pem, password=None)
                except (ValueError, TypeError):
                    key = None
                if not isinstance(key, RSAPrivateKey):
                    raise ConfigError(
                        f"{setting}: the file is not an RSA private key in PEM (download the "
                        "App's private key from its settings page)",
                        setting=setting,
                    )
                self._key = key
            return self._key

    def jwt(self) -> str:
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": self._app_id}
        return jwt.encode(claims, self.private_key(), algorithm="RS256")

    # --- who afk is -----------------------------------------------------------------------

    def bot_login(self) -> str:
        """``<slug>[bot]``: the author of every comment the installation writes."""
        with self._lock:
            if self._slug is None:
                body = self._json("GET", f"{self._base}/app", operation="read the GitHub App")
                self._slug = str(_field(body, "slug", str, "read the GitHub App"))
            return f"{self._slug}[bot]"

    # --- installations and their tokens ---------------------------------------------------

    def installation_for(self, repo: RepoRef) -> int:
        """The installation serving ``repo``'s owner: the configured one, else asked once."""
        if self._installation_id is not None:
            return self._installation_id
        owner = repo.owner.casefold()
        with self._lock:
            if owner not in self._installations:
                operation = f"find the GitHub App's installation for {repo}"
                url = f"{self._base}/repos/{quote(repo.owner)}/{quote(repo.name)}/installation"
                body = self._json("GET", url, operation=operation)
                self._installations[owner] = int(_field(body, "id", int, operation))
            return self._installations[owner]

    def token(self, repo: RepoRef) -> str:
        installation = self.installation_for(repo)
        with self._lock:
            cached = self._tokens.get(installation)
            if cached is not None and cached.expires_at - self._clock() > RENEW_BEFORE_S:
                return cached.value
            operation = "mint a GitHub App installation token"
            url = f"{self._base}/app/installations/{installation}/access_tokens"
            body = self._json("POST", url, operation=operation, idempotent=False)
            value = str(_field(body, "token", str, operation))
            expires: datetime = _timestamp(_field(body, "expires_at", str, operation), operation)
            self._tokens[installation] = _Token(value, expires.timestamp())
            self.minted += 1
            return value

    def renew(self, repo: RepoRef, stale: str) -> bool:
        """Forget ``stale`` (the forge called it expired); True when it was the cached token,
        so the caller retries once with a fresh one."""
        installation = self.installation_for(repo)
        with self._lock:
            cached = self._tokens.get(installation)
            if cached is None or cached.value != stale:
                return False
            del self._tokens[installation]
            return True

    def reads(self, repo: RepoRef) -> str:
        """``repo``'s full name as its installation token reads it (``afk doctor``): proof that
        the installation covers the repo and may read it."""
        token = self.token(repo)
        operation = f"read {repo} as the GitHub App's installation"
        response = request(
            self._http,
            "GET",
            f"{self._base}/repos/{quote(repo.owner)}/{quote(repo.name)}",
            kinds=self.kinds,
            operation=operation,
            policy=self._retry,
            idempotent=True,
            secrets=(token,),
            headers=self._headers(token),
        )
        body = json_of(response, kinds=self.kinds, operation=operation)
        return str(_field(body, "full_name", str, operation))

    def bearer_for(self, repo: RepoRef) -> InstallationBearer:
        return InstallationBearer(self, repo)


class InstallationBearer:
    """A ``BearerProvider`` for one owner's installation (``repo`` is any enrolled repo of it)."""

    def __init__(self, app: GitHubApp, repo: RepoRef) -> None:
        self.app = app
        self.repo = repo

    def __call__(self) -> str:
        return self.app.token(self.repo)

    def renew(self, stale: str) -> bool:
        return self.app.renew(self.repo, stale)


class RenewsExpiredToken:
    """Mixed in before a ``JsonApi`` whose bearer is an ``InstallationBearer``: a call the forge
    refuses with 401 is made once more with a freshly minted token (an expired one is a 401)."""

    _bearer: Callable[[], str]

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        bearer = self._bearer
        used = bearer() if isinstance(bearer, InstallationBearer) else None
        try:
            return super()._call(method, url, **kwargs)  # type: ignore[misc, no-any-return]
        except TrackerAuthError as exc:
            if exc.status != 401 or used is None or not isinstance(bearer, InstallationBearer):
                raise
            if not bearer.renew(used):
                raise
            return super()._call(method, url, **kwargs)  # type: ignore[misc, no-any-return]


class AppGitHubTracker(RenewsExpiredToken, GitHubTracker):
    """``GitHubTracker`` authenticated as an App installation."""


class AppGitHubCi(RenewsExpiredToken, GitHubCi):
    """``GitHubCi`` authenticated as an App installation."""


class AppGitHubSearchLister(RenewsExpiredToken, GitHubSearchLister):
    """The issue search authenticated as an App installation (an App cannot use ``/issues``)."""
