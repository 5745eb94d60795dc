"""FakeGitHub at fleet scale: the issue search, the rate-limit countdown, and App authentication.

Each behaves as GitHub documents it (FORGE_API.md sections 9, 11, 16a), checked against GitHub's
description like every other route of the fake:

- ``GET /issues?filter=all`` lists every repo the caller owns or collaborates on, from the
  database; an installation token is refused (403).
- ``GET /search/issues`` reads an *index*: with ``fleet(fake).index_lag = N`` it answers from the
  state as it was N calls of ``refresh_index()`` ago (a test calls it once per tick), so a label
  just added may be missing and one just removed may still match. Qualifiers taught: ``is:issue``
  (required: afk never searches pull requests), ``is:open``/``is:closed``, ``label:``, ``repo:``,
  ``user:`` (a person's or an organisation's repos) and ``org:`` (an organisation's only); a repo
  or owner the caller cannot see answers 422, and no page past the first 1,000 results is served.
- With ``fleet(fake).rate_limits(core=…, search=…)`` every reply carries ``x-ratelimit-limit``,
  ``-remaining``, ``-used``, ``-reset`` and ``-resource``; ``search`` is a bucket of its own, per
  minute, ``core`` per hour (on the forge clock). A request past the limit answers 403 with
  ``x-ratelimit-remaining: 0`` and counts nothing (GitHub's primary limit). ``GET /rate_limit``
  counts against none.
- ``register_app`` makes an App: ``GET /app``, ``GET /repos/{o}/{r}/installation`` and ``POST
  /app/installations/{id}/access_tokens`` take only its JWT, verified with its public key (RS256,
  ``iss`` = the App id or client id, ``exp`` at most 10 minutes after ``iat``, not expired, ``iat``
  not in the future): anything else answers 401. Minted tokens act as ``<slug>[bot]`` for an hour
  (``token_lifetime``), cannot call ``GET /user``, and answer 401 once expired. JWTs and tokens
  are judged on real time, like afk's signer; the forge clock moves only the rate windows.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
import jwt

from afk.testing.forge_state import Issue, User

if TYPE_CHECKING:
    from afk.testing.fake_github_core import FakeGitHubCore

Route = tuple[str, str, Callable[..., Any]]
_Reply = tuple[int, Any, dict[str, str]]

SEARCH_CAP = 1000
JWT_ONLY = (
    re.compile(r"/app"),
    re.compile(r"/repos/[^/]+/[^/]+/installation"),
    re.compile(r"/app/installations/\d+/access_tokens"),
)
_QUALIFIER = re.compile(r'(\w+):("[^"]*"|\S+)')


@dataclass(slots=True)
class _App:
    app_id: int
    client_id: str
    slug: str
    public_key: Any
    installations: dict[str, int] = field(default_factory=dict)  # owner (casefold) → id


@dataclass(slots=True)
class _Bucket:
    limit: int
    window_s: int
    used: int = 0
    window_start: float = 0.0


class FleetControls:
    """What a test sets and reads about the fleet routes of one ``FakeGitHubCore``."""

    def __init__(self, fake: FakeGitHubCore) -> None:
        self._fake = fake
        self._lock = threading.Lock()
        self.index_lag = 0
        self._snapshots: list[list[Issue]] = []
        self._buckets: dict[str, _Bucket] = {}
        self.refused_for_rate = 0
        self.app: _App | None = None
        self.token_lifetime = timedelta(hours=1)
        self._minted: dict[str, tuple[str, datetime]] = {}  # token → (owner, expires_at)
        self.minted_count = 0

    # --- the search index ---------------------------------------------------------------

    def refresh_index(self) -> None:
        """The index catches up with one more moment of the state (call once per tick)."""
        with self._lock:
            self._snapshots.append(_all_issues(self._fake))
            del self._snapshots[: max(0, len(self._snapshots) - 64)]

    def indexed(self) -> list[Issue]:
        with self._lock:
            lag, snapshots = self.index_lag, list(self._snapshots)
        if lag <= 0 or not snapshots:
            return _all_issues(self._fake)
        return snapshots[max(0, len(snapshots) - lag)]

    # --- rate limits --------------------------------------------------------------------

    def rate_limits(self, *, core: int = 5000, search: int = 30) -> None:
        """Count requests from now on: ``core`` an hour, ``search`` a minute."""
        with self._lock:
            self._buckets = {"core": _Bucket(core, 3600), "search": _Bucket(search, 60)}

    def remaining(self, resource: str) -> int | None:
        with self._lock:
            bucket = self._buckets.get(resource)
            if bucket is None:
                return None
            self._roll(bucket)
            return bucket.limit - bucket.used

    def _roll(self, bucket: _Bucket) -> None:
        now = self._fake.state.clock().timestamp()
        if now >= bucket.window_start + bucket.window_s:
            bucket.window_start, bucket.used = now - now % bucket.window_s, 0

    def _spend(self, resource: str) -> bool:
        """Count one request; False when the bucket is empty (nothing is counted then)."""
        with self._lock:
            bucket = self._buckets.get(resource)
            if bucket is None:
                return True
            self._roll(bucket)
            if bucket.used >= bucket.limit:
                self.refused_for_rate += 1
                return False
            bucket.used += 1
            return True

    def headers(self, resource: str) -> dict[str, str]:
        with self._lock:
            bucket = self._buckets.get(resource)
            if bucket is None:
                return {}
            self._roll(bucket)
            return {
                "x-ratelimit-limit": str(bucket.limit),
                "x-ratelimit-remaining": str(bucket.limit - bucket.used),
                "x-ratelimit-used": str(bucket.used),
                "x-ratelimit-reset": str(int(bucket.window_start + bucket.window_s)),
                "x-ratelimit-resource": resource,
            }

    def overview(self) -> dict[str, Any]:
        resources = {}
        for name in ("core", "search"):
            h = self.headers(name) or {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "5000",
                "x-ratelimit-used": "0",
                "x-ratelimit-reset": str(int(self._fake.state.clock().timestamp()) + 3600),
            }
            resources[name] = {
                "limit": int(h["x-ratelimit-limit"]),
                "remaining": int(h["x-ratelimit-remaining"]),
                "used": int(h["x-ratelimit-used"]),
                "reset": int(h["x-ratelimit-reset"]),
            }
        return {"resources": resources, "rate": resources["core"]}

    # --- the App ------------------------------------------------------------------------

    def register_app(
        self, *, app_id: int, slug: str, public_key_pem: bytes, client_id: str = ""
    ) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        self.app = _App(
            app_id, client_id or f"Iv23li{app_id}", slug, load_pem_public_key(public_key_pem)
        )

    def install(self, owner: str, installation_id: int) -> None:
        """The App installed on ``owner``'s account (one installation may serve several owners
        in a test: afk then names it with ``AFK_GITHUB_APP_INSTALLATION_ID``)."""
        assert self.app is not None, "register_app first"
        self._fake.state.add_user(owner)
        self.app.installations[owner.casefold()] = installation_id

    def installations_only(self, *owners: str) -> None:
        """Test control: the App stays installed on ``owners`` only."""
        assert self.app is not None
        keep = {owner.casefold() for owner in owners}
        self.app.installations = {o: i for o, i in self.app.installations.items() if o in keep}

    def expire_tokens(self) -> None:
        """Every minted token expires now (a token that lapses mid-tick)."""
        with self._lock:
            past = _wall_clock() - timedelta(seconds=1)
            self._minted = {token: (owner, past) for token, (owner, _) in self._minted.items()}

    def mint(self, owner: str) -> tuple[str, datetime]:
        assert self.app is not None
        token = "ghs_" + secrets.token_urlsafe(30)
        expires = _wall_clock() + self.token_lifetime
        with self._lock:
            self._minted[token] = (owner, expires)
            self.minted_count += 1
        self._fake.add_installation_token(f"{self.app.slug}[bot]", token)
        return token, expires

    def expired(self, token: str) -> bool:
        with self._lock:
            minted = self._minted.get(token)
        return minted is not None and minted[1] <= _wall_clock()


def _wall_clock() -> datetime:
    """The App's JWTs and tokens live on real time, as afk's signer does (the forge clock of a
    simulated day moves the rate-limit windows only)."""
    return datetime.now(UTC)


def fleet(fake: object) -> FleetControls:
    """The fleet controls of ``fake``, a FakeGitHubCore (made on first use)."""
    assert hasattr(fake, "state") and hasattr(fake, "_installation_logins"), (
        "fleet controls belong to a FakeGitHubCore"
    )
    controls = fake.__dict__.get("_fleet_controls")
    if controls is None:
        controls = fake.__dict__.setdefault(
            "_fleet_controls", FleetControls(cast("FakeGitHubCore", fake))
        )
    assert isinstance(controls, FleetControls)
    return controls


def _all_issues(fake: FakeGitHubCore) -> list[Issue]:
    state = fake.state
    names = [data.repo.full_name for data in list(state._repos.values())]
    return [issue for name in names for issue in state.list_issues(name, state="all")]


# --- the hooks FakeGitHubCore calls --------------------------------------------------------------


def routes(fake: FakeGitHubCore) -> list[Route]:
    handlers = _Handlers(fake)
    return [
        ("GET", "/search/issues", handlers.search),
        ("GET", "/issues", handlers.user_issues),
        ("GET", "/rate_limit", handlers.rate_limit),
        ("GET", "/app", handlers.get_app),
        ("GET", "/repos/{owner}/{repo}/installation", handlers.repo_installation),
        ("POST", "/app/installations/{installation_id}/access_tokens", handlers.access_token),
    ]


def authenticate(fake: FakeGitHubCore, request: httpx.Request, path: str) -> User | None:
    """The App for its JWT-only routes (refused unless the JWT verifies); ``None`` elsewhere,
    after refusing an expired installation token and a request past the rate limit."""
    from afk.testing.fake_github_wire import _Refused

    controls = fleet(fake)
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if any(pattern.fullmatch(path) for pattern in JWT_ONLY):
        return _verify_jwt(controls, token if scheme.lower() == "bearer" else "")
    if controls.expired(token):
        raise _Refused(401, "Bad credentials")
    if path == "/rate_limit":
        return None
    if not controls._spend("search" if path.startswith("/search/") else "core"):
        raise _Refused(403, "API rate limit exceeded (FakeGitHubCore's countdown)")
    return None


def reply_headers(
    fake: FakeGitHubCore, request: httpx.Request, path: str, status: int
) -> dict[str, str]:
    """The rate-limit headers of a reply (none for the App's JWT routes, none until counted)."""
    if any(pattern.fullmatch(path) for pattern in JWT_ONLY):
        return {}
    return fleet(fake).headers("search" if path.startswith("/search/") else "core")


def _verify_jwt(controls: FleetControls, token: str) -> User:
    from afk.testing.fake_github_wire import _Refused

    app = controls.app
    if app is None or not token:
        raise _Refused(401, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(
            token,
            app.public_key,
            algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"], "verify_iat": False},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise _Refused(401, "'Expiration time' claim ('exp') is too far in the past") from None
    except jwt.PyJWTError:
        raise _Refused(401, "A JSON web token could not be decoded") from None
    now = _wall_clock().timestamp()
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise _Refused(401, "A JSON web token could not be decoded")
    if exp <= now:
        raise _Refused(401, "'Expiration time' claim ('exp') is too far in the past")
    if exp - iat > 600 or exp - now > 600:
        raise _Refused(401, "'Expiration time' claim ('exp') is too far in the future")
    if iat > now + 1:
        raise _Refused(401, "'Issued at' claim ('iat') must be an Integer representing the time")
    if str(claims["iss"]) not in (str(app.app_id), app.client_id):
        raise _Refused(401, "'Issuer' claim ('iss') must be an Integer or the App's client ID")
    return User(id=app.app_id, login=app.slug)


class _Handlers:
    def __init__(self, fake: FakeGitHubCore) -> None:
        self.fake = fake
        self.controls = fleet(fake)

    def rate_limit(self, request: httpx.Request, user: User) -> _Reply:
        _only(request, ())
        return 200, self.controls.overview(), self.controls.headers("core")

    def search(self, request: httpx.Request, user: User) -> _Reply:
        from afk.testing.fake_github_wire import _paginate, _Refused

        query = _only(request, ("q", "per_page", "page", "sort", "order"))
        terms = _parse_query(query.get("q", ""))
        if "issue" not in terms["is"]:
            raise _Refused(422, "the fake searches issues only (add is:issue)", violation=True)
        repos = self._scope(user, terms)
        state = next((s for s in terms["is"] if s in ("open", "closed")), None)
        labels = [name.casefold() for name in terms["label"]]
        found = [
            issue
            for issue in self.controls.indexed()
            if not issue.is_pull_request
            and (repos is None or issue.repo.casefold() in repos)
            and self.fake.state.can_read(issue.repo, user.login)
            and (state is None or issue.state == state)
            and all(any(lbl.name.casefold() == n for lbl in issue.labels) for n in labels)
        ]
        found.sort(key=lambda i: (i.created_at, i.number), reverse=True)
        per_page = min(int(query.get("per_page") or 30), 100)
        page = int(query.get("page") or 1)
        if page * per_page > SEARCH_CAP and (page - 1) * per_page >= SEARCH_CAP:
            raise _Refused(422, "Only the first 1000 search results are available")
        chunk, headers = _paginate(request, found[:SEARCH_CAP])
        items = [_search_item(self.fake._issue(request, issue)) for issue in chunk]
        body = {
            "total_count": len(found),
            "incomplete_results": False,
            "items": items,
            "search_type": "lexical",
        }
        return 200, body, headers

    def user_issues(self, request: httpx.Request, user: User) -> _Reply:
        """``GET /issues?filter=all``: the issues (pull requests too) of every repo the caller
        owns or collaborates on, read from the database (no index, no lag); an installation
        token cannot call it (``enabledForGitHubApps: false``)."""
        from afk.testing.fake_github_wire import _paginate, _Refused

        query = _only(request, ("filter", "state", "labels", "per_page", "page"))
        if user.login in self.fake._installation_logins:
            raise _Refused(403, "Resource not accessible by integration")
        if query.get("filter") != "all":
            raise _Refused(422, "the fake was taught filter=all only", violation=True)
        wanted = query.get("state", "open")
        names = [n for n in query.get("labels", "").split(",") if n.strip()]
        state = self.fake.state
        repos = [data.repo.full_name for data in list(state._repos.values())]
        found = [
            issue
            for repo in repos
            if state.has_write_access(repo, user.login)
            for issue in state.list_issues(repo, state=wanted)  # type: ignore[arg-type]
            if all(
                any(lbl.name.casefold() == n.strip().casefold() for lbl in issue.labels)
                for n in names
            )
        ]
        found.sort(key=lambda i: (i.created_at, i.id), reverse=True)
        chunk, headers = _paginate(request, found)
        return 200, [self.fake._issue(request, issue) for issue in chunk], headers

    def _scope(self, user: User, terms: dict[str, list[str]]) -> set[str] | None:
        """The repos the qualifiers name (``None``: every repo the caller can read)."""
        from afk.testing.fake_github_wire import _Refused

        state = self.fake.state
        if not (terms["repo"] or terms["user"] or terms["org"]):
            return None
        cannot = _Refused(
            422,
            "The listed users and repositories cannot be searched either because the "
            "resources do not exist or you do not have permission to view them.",
        )
        names = [data.repo.full_name for data in list(state._repos.values())]
        scope: set[str] = set()
        for repo in terms["repo"]:
            if not state.has_repo(repo) or not state.can_read(repo, user.login):
                raise cannot
            scope.add(repo.casefold())
        for kind in ("user", "org"):
            for owner in terms[kind]:
                try:
                    account = state.user(owner)
                except Exception:
                    raise cannot from None
                if kind == "org" and not account.is_org:
                    raise cannot
                prefix = account.login.casefold() + "/"
                scope.update(n.casefold() for n in names if n.casefold().startswith(prefix))
        return scope

    def get_app(self, request: httpx.Request, user: User) -> _Reply:
        _only(request, ())
        app = self.controls.app
        assert app is not None
        body = {
            "id": app.app_id,
            "slug": app.slug,
            "node_id": f"A_{app.app_id}",
            "client_id": app.client_id,
            "owner": self.fake._user(request, "acme-apps"),
            "name": app.slug,
            "description": None,
            "external_url": "https://afk.example",
            "html_url": f"{self.fake.state.web_url}/apps/{app.slug}",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "permissions": {"issues": "write", "metadata": "read"},
            "events": [],
            "installations_count": len(app.installations),
        }
        return 200, body, {}

    def repo_installation(
        self, request: httpx.Request, user: User, owner: str, repo: str
    ) -> _Reply:
        from afk.testing.fake_github_wire import _Refused

        _only(request, ())
        app = self.controls.app
        assert app is not None
        installation = app.installations.get(owner.casefold())
        if installation is None or not self.fake.state.has_repo(f"{owner}/{repo}"):
            raise _Refused(404, "Not Found")
        return 200, self._installation(request, installation, owner), {}

    def _installation(
        self, request: httpx.Request, installation: int, owner: str
    ) -> dict[str, Any]:
        app = self.controls.app
        assert app is not None
        base = self.fake._base(request)
        account = self.fake.state.user(owner)
        return {
            "id": installation,
            "account": self.fake._user(request, account.login),
            "repository_selection": "all",
            "access_tokens_url": f"{base}/app/installations/{installation}/access_tokens",
            "repositories_url": f"{base}/installation/repositories",
            "html_url": f"{self.fake.state.web_url}/settings/installations/{installation}",
            "app_id": app.app_id,
            "client_id": app.client_id,
            "target_id": account.id,
            "target_type": "Organization" if account.is_org else "User",
            "permissions": {"issues": "write", "metadata": "read"},
            "events": [],
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "single_file_name": None,
            "app_slug": app.slug,
            "suspended_by": None,
            "suspended_at": None,
        }

    def access_token(self, request: httpx.Request, user: User, installation_id: str) -> _Reply:
        from afk.testing.fake_github_wire import _Refused

        _only(request, ())
        app = self.controls.app
        assert app is not None
        owner = next((o for o, i in app.installations.items() if str(i) == installation_id), None)
        if owner is None:
            raise _Refused(404, "Not Found")
        token, expires = self.controls.mint(owner)
        body = {
            "token": token,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": {"issues": "write", "metadata": "read"},
            "repository_selection": "all",
        }
        return 201, body, {}


def _only(request: httpx.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    from afk.testing.fake_github_wire import _only_params

    return _only_params(request, allowed)


def _parse_query(text: str) -> dict[str, list[str]]:
    """The qualifiers of a search ``q``; a bare word or an untaught qualifier is refused."""
    from afk.testing.fake_github_wire import _Refused

    terms: dict[str, list[str]] = {"is": [], "label": [], "repo": [], "user": [], "org": []}
    rest = _QUALIFIER.sub(lambda m: _take(terms, m.group(1), m.group(2)), text)
    if rest.strip():
        raise _Refused(
            422, f"the fake was not taught free text in q: {rest.strip()!r}", violation=True
        )
    if "?" in terms:
        raise _Refused(422, "the fake was not taught that qualifier", violation=True)
    return terms


def _take(terms: dict[str, list[str]], key: str, value: str) -> str:
    if key not in terms:
        terms["?"] = [key]
        return ""
    terms[key].append(value[1:-1] if value.startswith('"') else value)
    return ""


def _search_item(issue: dict[str, Any]) -> dict[str, Any]:
    """An issue as a search result: a ``score``, and no ``body`` when it has none (the search
    item's ``body`` is a string, not nullable)."""
    item = {**issue, "score": 1.0}
    if item.get("body") is None:
        item.pop("body", None)
    return item
