"""``afk doctor`` for a GitHub App: the key, the JWT, an installation per owner, each repo read.

Apart from ``doctor`` because each step needs the one before it (no JWT without a key, no token
without an installation) and says which link of that chain is broken. Read-only, like every
doctor check; the key, the JWT and the tokens are never shown.
"""

from __future__ import annotations

import httpx

from afk.adapters.github_app import GitHubApp
from afk.core.config import Config
from afk.core.types import RepoRef
from afk.doctor_check import Check, attempt

_KEY_HINT = "download a private key from the App's settings page and mount it at that path"
_JWT_HINT = (
    "check AFK_GITHUB_APP_ID (the App id or client id) and that the key belongs to this App; "
    "a JWT is also refused when this machine's clock is more than a minute off"
)


def app_checks(config: Config, http: httpx.Client) -> list[Check]:
    from afk import wiring

    app = wiring.github_app(config, http, wiring.retry_policy(config))
    key = attempt(
        "GitHub App key", lambda: "an RSA private key" if app.private_key() else "", _KEY_HINT
    )
    if not key.ok:
        return [key]
    checks = [
        key,
        attempt("GitHub App JWT", lambda: f"accepted: afk is {app.bot_login()}", _JWT_HINT),
    ]
    if not checks[-1].ok:
        return checks
    owners: dict[str, list[RepoRef]] = {}
    for repo in config.allowlist:
        owners.setdefault(repo.owner.casefold(), []).append(repo)
    for repos in owners.values():
        checks.extend(_owner_checks(app, repos))
    return checks


def _owner_checks(app: GitHubApp, repos: list[RepoRef]) -> list[Check]:
    owner = repos[0].owner
    installed = attempt(
        f"GitHub App installation for {owner}",
        lambda: f"installation {app.installation_for(repos[0])}",
        f"install the App on {owner} (or set AFK_GITHUB_APP_INSTALLATION_ID)",
    )
    if not installed.ok:
        return [installed]
    return [installed] + [_reads(app, repo) for repo in repos]


def _reads(app: GitHubApp, repo: RepoRef) -> Check:
    return attempt(
        f"GitHub App reads {repo}",
        lambda: f"the installation reads {app.reads(repo)}",
        f"give the App's installation access to {repo} (all repositories, or select it)",
    )
