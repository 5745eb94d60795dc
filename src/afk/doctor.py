"""``afk doctor``: is this configuration able to run, and is every endpoint it names usable?

Strictly read-only: it asks the tracker who it is and which labels exist, fetches T3's snapshot,
asks Slack ``auth.test`` (a webhook is only checked for its form: posting would ring it), and logs
in to Vault. Each check says what it saw and, when it failed, what to do. No secret is printed:
details come from ``describe()`` and from ``AfkError`` messages, which never carry one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from afk.core.config import Config
from afk.doctor_check import Check, attempt
from afk.errors import AfkError


def run_checks(config: Config) -> list[Check]:
    from afk import wiring

    checks = [Check("configuration", True, "loaded")]
    checks += [Check("configuration warning", False, w, "fix the value") for w in config.warnings]
    checks.append(
        Check("armed", True, "armed: both gates are open")
        if config.armed
        else Check("armed", True, f"{config.disarmed_reason()} (nothing will be dispatched)")
    )
    slack_problems = config.slack_problems()
    problems = [p for p in config.operational_problems() if p not in slack_problems]
    if problems:
        checks += [
            Check("setting", False, p, "set it in the environment or the --config file")
            for p in problems
        ]
        return [*checks, *([_slack_check(config)] if slack_problems else [])]
    http = wiring.http_client(config)
    with http:
        tracker, _ci = wiring.tracker_and_ci(config, http)
        checks.append(
            attempt(
                "tracker login",
                lambda: (
                    f"{config.tracker_kind} at {config.tracker_api_url} as {tracker.bot_login()}"
                ),
                "check AFK_TRACKER_URL and AFK_TRACKER_TOKEN "
                "(or set AFK_BOT_LOGIN for an app token)",
            )
        )
        if config.uses_github_app:
            from afk.doctor_app import app_checks

            checks += app_checks(config, http)
        labels = (config.label_ready, config.label_in_progress, config.label_human)
        for repo in config.allowlist:
            issues = _issues_check(tracker, repo)
            if issues is not None:
                checks.append(issues)
            checks.append(_labels_check(tracker.missing_labels, repo, labels))
        if config.uses_vault:
            bearer = wiring.t3_bearer(config)
            checks.append(
                attempt(
                    "Vault",
                    lambda: f"read the T3 token from {_describe(bearer)}" if bearer() else "",
                    "check AFK_VAULT_ADDR, AFK_VAULT_ROLE, AFK_VAULT_PATH and the pod's JWT",
                )
            )
        runner = wiring.runner(config, http)

        def t3_probe() -> str:
            generation = runner.generation()
            return (
                f"{config.t3_url} answered (read scope): {generation.describe()}. Dispatching "
                "also needs the token's orchestration:operate scope, which a read-only check "
                "cannot test"
            )

        checks.append(
            attempt(
                "T3",
                t3_probe,
                "check AFK_T3_URL and the T3 token: it needs the orchestration:read and "
                "orchestration:operate scopes",
            )
        )
        checks.append(_slack_check(config))
    return checks


def _issues_check(tracker: object, repo: object) -> Check | None:
    """Can afk use the repo's issues at all? Asked of trackers that can tell (Forgejo: from v13
    a disabled Issues unit and an unreadable repo both answer 404 on every issue URL)."""
    probe = getattr(tracker, "issues_problem", None)
    if not callable(probe):
        return None
    name = f"issues in {repo}"
    try:
        problem = probe(repo)
    except AfkError as exc:
        return Check(name, False, str(exc), "is the tracker reachable and the token valid?")
    if problem:
        return Check(name, False, str(problem), "afk reads, labels and comments on its issues")
    return Check(name, True, "visible to the token, its own Issues unit on")


def _labels_check(
    missing: Callable[..., tuple[str, ...]], repo: object, labels: tuple[str, ...]
) -> Check:
    name = f"labels in {repo}"
    try:
        absent = missing(repo, labels)
    except AfkError as exc:
        return Check(name, False, str(exc), "is the repo spelled right and readable by the token?")
    if absent:
        hint = (
            "run `afk labels` to create them in the repo itself (afk reads the repo's own "
            "labels: one defined only by its organisation does not count)"
        )
        return Check(name, False, f"missing: {', '.join(absent)}", hint)
    return Check(name, True, "all present: " + ", ".join(labels))


def _describe(bearer: object) -> str:
    describe = getattr(bearer, "describe", None)
    return str(describe()) if callable(describe) else "token configured"


def _slack_check(config: Config) -> Check:
    from afk import wiring

    hint = "check AFK_SLACK_TOKEN + AFK_SLACK_CHANNEL or AFK_SLACK_WEBHOOK_URL"
    problems = config.slack_problems()
    if problems:
        return Check("Slack", False, "; ".join(problems), hint)
    if not config.slack_configured:
        return Check("Slack", True, "not configured: escalations relabel only, no doorbell")
    if config.slack_webhook_url is not None:
        return webhook_check(config.slack_webhook_url.get_secret_value())

    def probe() -> str:
        notifier = wiring.notifier(config)
        return notifier.auth_check() if notifier is not None else "not configured"

    return attempt("Slack", probe, hint)


SLACK_WEBHOOK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
"""Slack's own incoming-webhook hosts (commercial and GovSlack); any other is a relay."""
_SLACK_WEBHOOK_PATH = re.compile(r"^/services/[A-Z0-9]+/[A-Z0-9]+/[A-Za-z0-9]+$")
_WEBHOOK_HINT = (
    "set AFK_SLACK_WEBHOOK_URL to the https URL Slack gave the webhook "
    "(https://hooks.slack.com/services/T…/B…/…, GovSlack: hooks.slack-gov.com) or of a relay"
)


def webhook_check(url: str) -> Check:
    """The webhook URL's form only: posting would ring the doorbell, and doctor never writes.

    Any well-formed https URL passes, since GovSlack and corporate relays live on other hosts,
    with a note when the host is not Slack's; on Slack's hosts the path must be a webhook's.
    The URL is never shown (its path is the credential); an unknown host's name is.
    """
    name = "Slack"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = (parts.hostname or "").casefold()
    except ValueError:
        return Check(name, False, "AFK_SLACK_WEBHOOK_URL is not a well-formed URL", _WEBHOOK_HINT)
    if any(char.isspace() or ord(char) < 0x20 for char in url.strip()) or not host:
        return Check(name, False, "AFK_SLACK_WEBHOOK_URL is not a well-formed URL", _WEBHOOK_HINT)
    if parts.scheme != "https":
        return Check(
            name,
            False,
            "AFK_SLACK_WEBHOOK_URL is not https: escalations would cross the network in clear "
            "text (the value is secret, so not shown)",
            _WEBHOOK_HINT,
        )
    if parts.username is not None or parts.password is not None or parts.fragment:
        return Check(
            name,
            False,
            "AFK_SLACK_WEBHOOK_URL holds a user name, a password or a #fragment: no webhook does",
            _WEBHOOK_HINT,
        )
    if host in SLACK_WEBHOOK_HOSTS:
        if port not in (None, 443) or parts.query or not _SLACK_WEBHOOK_PATH.match(parts.path):
            return Check(
                name,
                False,
                f"AFK_SLACK_WEBHOOK_URL is on {host} but not of the form "
                f"https://{host}/services/T…/B…/…",
                _WEBHOOK_HINT,
            )
        return Check(name, True, f"incoming webhook on {host} is well formed (not posted to)")
    return Check(
        name,
        True,
        f"incoming webhook is a well-formed https URL (not posted to); note: {host} is not a "
        f"known Slack host ({', '.join(SLACK_WEBHOOK_HOSTS)}): make sure it relays to Slack",
    )
