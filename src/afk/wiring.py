"""The one composition root: a ``Config`` becomes real adapters behind the loops' ports.

Nothing happens at import time and nothing here does I/O: clients are built, credentials are
only read when a request needs them (bearer providers are called per request). Tests and the demo
pass their own ``http`` client (a mock transport or a loopback fake) and Slack base URL; the CLI
passes nothing.
"""

from __future__ import annotations

import httpx

from afk import __version__
from afk.adapters.deadline import TickDeadline
from afk.adapters.fleet_tracker import FleetTracker
from afk.adapters.forgejo import ForgejoCi, ForgejoTracker
from afk.adapters.forgejo_fleet import ForgejoSearchLister
from afk.adapters.github import GitHubCi, GitHubTracker
from afk.adapters.github_app import (
    AppGitHubCi,
    AppGitHubSearchLister,
    AppGitHubTracker,
    GitHubApp,
)
from afk.adapters.github_fleet import GitHubIssuesLister, GitHubSearchLister
from afk.adapters.http import RetryPolicy
from afk.adapters.rate_meter import RateMeter
from afk.adapters.secrets import EnvBearer, FileBearer, VaultBearer
from afk.adapters.slack import SlackNotifier
from afk.adapters.t3 import T3Client
from afk.adapters.transport import DeadlineTransport, environment_mounts
from afk.core.config import Config
from afk.core.ports import BearerProvider, CiSource, Notifier, PullRequests, Tracker
from afk.core.types import Delivery
from afk.errors import ConfigError
from afk.loops.deps import MAX_WORKERS, Deps


def http_client(config: Config) -> httpx.Client:
    """One pooled client for the tick: afk's User-Agent, the configured timeouts, and afk's
    transport, which holds every socket operation to its call's whole deadline (the
    environment's proxies go through it too)."""
    timeout = config.http_timeout_seconds
    limits = httpx.Limits(max_connections=MAX_WORKERS * 2)
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": f"afk/{__version__}"},
        transport=DeadlineTransport(limits=limits),
        mounts=environment_mounts(limits),
        follow_redirects=False,
    )


def retry_policy(config: Config, deadline: TickDeadline | None = None) -> RetryPolicy:
    """Each call's retry budget and whole deadline (one timeout plus the retries), the tick's
    deadline above them all."""
    return RetryPolicy(
        budget_s=config.http_retry_seconds,
        overall_s=config.http_timeout_seconds + config.http_retry_seconds,
        tick=deadline,
    )


def _bearer(config: Config, *, value: object, file: object, variable: str) -> BearerProvider:
    from pathlib import Path

    if isinstance(file, Path):
        return FileBearer(file, setting=f"{variable}_FILE")
    if value is not None:
        from pydantic import SecretStr

        assert isinstance(value, SecretStr)
        return EnvBearer(value, source=variable)
    raise ConfigError(f"{variable} is not set", setting=variable)


def tracker_bearer(config: Config) -> BearerProvider:
    return _bearer(
        config,
        value=config.tracker_token,
        file=config.tracker_token_file,
        variable="AFK_TRACKER_TOKEN",
    )


def t3_bearer(config: Config, deadline: TickDeadline | None = None) -> BearerProvider:
    if config.t3_token is None and config.t3_token_file is None and config.uses_vault:
        return VaultBearer(
            config.vault_addr or "",
            config.vault_role or "",
            config.vault_mount,
            config.vault_path or "",
            jwt_path=config.vault_jwt_path,
            timeout_s=config.http_timeout_seconds,
            deadline=deadline,
        )
    return _bearer(
        config, value=config.t3_token, file=config.t3_token_file, variable="AFK_T3_TOKEN"
    )


def tracker_and_ci(
    config: Config, http: httpx.Client, deadline: TickDeadline | None = None
) -> tuple[Tracker, CiSource]:
    url = config.tracker_api_url
    if config.tracker_kind is None or url is None:
        raise ConfigError(
            "AFK_TRACKER_KIND and AFK_TRACKER_URL must be set", setting="AFK_TRACKER_KIND"
        )
    retry = retry_policy(config, deadline)
    if config.tracker_kind == "github":
        return _github(config, url, http, retry)
    bearer = tracker_bearer(config)
    tracker = ForgejoTracker(url, http=http, bearer=bearer, bot_login=config.bot_login, retry=retry)
    lister = None
    if config.fleet_listing():
        lister = ForgejoSearchLister(url, http, bearer, retry=retry)
    return (
        FleetTracker(tracker, lister=lister) if lister is not None else tracker,
        ForgejoCi(
            url,
            http=http,
            bearer=bearer,
            retry=retry,
            deploy_context=config.deploy_context,
            required_checks=config.required_checks,
        ),
    )


def pull_requests(
    config: Config, http: httpx.Client, deadline: TickDeadline | None = None
) -> PullRequests | None:
    """The forge's pull requests, in pull-request delivery only (push delivery reads none)."""
    if config.delivery is not Delivery.PULL_REQUEST or config.tracker_url is None:
        return None
    from afk.adapters.forgejo_pulls import ForgejoPulls
    from afk.adapters.github_pulls import GitHubPulls

    kind = GitHubPulls if config.tracker_kind == "github" else ForgejoPulls
    url, retry = config.tracker_api_url or "", retry_policy(config, deadline)
    if config.uses_github_app:  # the App's installation token, and its <slug>[bot] login
        app = github_app(config, http, retry)
        pulls = GitHubPulls(
            url,
            http=http,
            bearer=app.bearer_for(config.allowlist[0]),
            retry=retry,
            bot_login=config.bot_login,
        )
        if config.bot_login is None:
            pulls.bot_login = app.bot_login  # type: ignore[method-assign]
        return pulls
    bearer = tracker_bearer(config)
    return kind(url, http=http, bearer=bearer, retry=retry, bot_login=config.bot_login)


def _github(
    config: Config, url: str, http: httpx.Client, retry: RetryPolicy
) -> tuple[Tracker, CiSource]:
    """GitHub with a token or as an App; its rate budget metered on every reply; the fleet
    listed through the issue search when ``AFK_LISTING`` says so."""
    app = None
    if config.uses_github_app:
        _one_installation(config)
        app = github_app(config, http, retry)
    tracker_cls, ci_cls = GitHubTracker, GitHubCi
    bearer: BearerProvider
    if app is not None:
        bearer = app.bearer_for(config.allowlist[0])
        tracker_cls, ci_cls = AppGitHubTracker, AppGitHubCi
    else:
        bearer = tracker_bearer(config)
    bot = config.bot_login
    tracker = tracker_cls(url, http=http, bearer=bearer, bot_login=bot, retry=retry)
    if app is not None and bot is None:
        tracker.bot_login = app.bot_login  # type: ignore[method-assign]
    # CI is judged without the deploy check's context and waits for every required check.
    ci = ci_cls(
        url,
        http=http,
        bearer=bearer,
        retry=retry,
        deploy_context=config.deploy_context,
        required_checks=config.required_checks,
    )
    meter = RateMeter(url, reserve_of=config.rate_reserve_of)
    meter.attach(http)
    search = (AppGitHubSearchLister if app is not None else GitHubSearchLister)(
        url,
        http,
        bearer,
        retry=retry,
        per_repo=lambda r, lbl, st: tracker.list_issues(r, lbl, state=st),
    )
    # A personal token lists through GET /issues (no index lag); an App must search.
    fleet_lister = search if app is not None else GitHubIssuesLister(url, http, bearer, retry=retry)
    lister = fleet_lister if config.fleet_listing() else None
    # Fleet mode reads every budget first (free); per-repo mode learns them from its listings.
    primer = search if lister is not None else None
    return FleetTracker(tracker, lister=lister, meter=meter, primer=primer), ci


def _one_installation(config: Config) -> None:
    """One installation serves a tick's fleet: enrolled repos of several owners need
    ``AFK_GITHUB_APP_INSTALLATION_ID`` or one afk instance per owner (docs/scaling.md)."""
    owners = {repo.owner.casefold() for repo in config.allowlist}
    if len(owners) > 1 and config.github_app_installation_id is None:
        raise ConfigError(
            "AFK_GITHUB_APP_ID: the enrolled repos have several owners, and an App installation "
            "token serves one: run one afk per owner, or set AFK_GITHUB_APP_INSTALLATION_ID",
            setting="AFK_GITHUB_APP_INSTALLATION_ID",
        )
    if not config.allowlist:
        raise ConfigError(
            "AFK_ALLOWLIST is empty: an App is found per enrolled owner", setting="AFK_ALLOWLIST"
        )


def github_app(config: Config, http: httpx.Client, retry: RetryPolicy) -> GitHubApp:
    """The configured App (its installations are found per owner unless one is configured)."""
    assert config.github_app_id is not None and config.github_app_private_key_file is not None
    return GitHubApp(
        config.tracker_api_url or "",
        http=http,
        app_id=config.github_app_id,
        private_key_file=config.github_app_private_key_file,
        installation_id=config.github_app_installation_id,
        retry=retry,
    )


def runner(config: Config, http: httpx.Client, deadline: TickDeadline | None = None) -> T3Client:
    if config.t3_url is None:
        raise ConfigError("AFK_T3_URL is not set", setting="AFK_T3_URL")
    return T3Client(
        config.t3_url,
        http=http,
        bearer=t3_bearer(config, deadline),
        model=config.t3_model,
        workspace_base=config.t3_workspace_base,
        retry=retry_policy(config, deadline),
    )


def notifier(config: Config, deadline: TickDeadline | None = None) -> SlackNotifier | None:
    """Slack is optional: ``None`` when neither a webhook nor a bot token + channel is set."""
    timeout = config.http_timeout_seconds
    if config.slack_webhook_url is not None:
        return SlackNotifier.with_webhook(
            config.slack_webhook_url.get_secret_value(), timeout_s=timeout, deadline=deadline
        )
    if config.slack_token is not None and config.slack_channel:
        return SlackNotifier.with_bot(
            config.slack_token.get_secret_value(),
            config.slack_channel,
            base_url=config.slack_api_url,
            timeout_s=timeout,
            deadline=deadline,
        )
    return None


def build(
    config: Config,
    *,
    http: httpx.Client,
    max_workers: int = MAX_WORKERS,
    deadline: TickDeadline | None = None,
) -> Deps:
    """Real adapters over ``http`` (the caller owns and closes it: see ``http_client``), all
    under one tick deadline: ``deadline``, else ``AFK_TICK_SECONDS`` from now."""
    problems = config.operational_problems()
    if problems:
        raise ConfigError("; ".join(problems), setting=problems[0].split(" ", 1)[0])
    tick = deadline if deadline is not None else TickDeadline(config.tick_seconds)
    tracker, ci = tracker_and_ci(config, http, tick)
    _redact_in_evidence(config, ci)
    slack: Notifier | None = notifier(config, tick)
    return Deps(
        tracker=tracker,
        ci=ci,
        runner=runner(config, http, tick),
        notifier=slack,
        max_workers=max_workers,
        pulls=pull_requests(config, http, tick),
    )


def _redact_in_evidence(config: Config, ci: CiSource) -> None:
    """The other credentials afk holds, removed from CI evidence as the forge token is: the T3
    token (unless read from Vault, which would cost a login per read) and Slack's."""
    redact = getattr(ci, "redact_also", None)
    if not callable(redact):
        return
    secrets: list[BearerProvider] = []
    if config.t3_token is not None or config.t3_token_file is not None or not config.uses_vault:
        secrets.append(t3_bearer(config))
    for value in (config.slack_token, config.slack_webhook_url):
        if value is not None:
            secrets.append(value.get_secret_value)
    redact(*secrets)
