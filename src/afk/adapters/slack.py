"""The Slack doorbell: tells a human which issue needs them and why (slack-sdk).

Two ways in: a bot token posting with ``chat.postMessage`` to a channel, or an incoming webhook.
Both send the same Block Kit blocks with a plain-text fallback. Issue and agent text is escaped
for mrkdwn (``&``, ``<``, ``>``), so an issue titled ``<!channel>`` cannot ping a channel.

Every slack-sdk or HTTP failure becomes a ``NotifyError`` carrying the API method, the status and
Slack's error code, never the bot token nor the webhook URL (its path is the credential), raised
outside the ``except`` block (a ``SlackApiError`` holds the request, its Authorization header
included). slack-sdk's own retry handlers are off and its logger is silenced (it logs the webhook
URL at debug level): a tick is short, and posting twice is worse than posting late.

Each call is held to a whole deadline, the timeout cut to what is left of the tick: slack-sdk
speaks urllib, whose timeouts bound each socket operation only, so the call runs under
``afk.adapters.deadline.bounded``. A post (a write) starts only when the tick has room for it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from http.client import HTTPException
from typing import Any, Protocol, TypeVar
from urllib.error import URLError
from urllib.parse import urlsplit

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from afk.adapters.deadline import Overran, TickDeadline, bounded
from afk.adapters.server_replies import scrub
from afk.core.ports import BearerProvider, EscalationNotice
from afk.core.types import EscalationReason
from afk.errors import ConfigError, NotifyError, SecretError

SLACK = "Slack"
DEFAULT_BASE_URL = "https://slack.com/api/"
REPORT_LIMIT = 1500
DETAIL_LIMIT = 500
TITLE_LIMIT = 200
REASON_TEXT: dict[EscalationReason, str] = {
    EscalationReason.AGENT_FAILED: "the agent stopped without finishing (it errored, stalled, "
    "ran out of time or went idle before pushing)",
    EscalationReason.FIX_FORWARD_EXHAUSTED: "CI or the deploy kept failing after every allowed "
    "fix-forward attempt",
    EscalationReason.DEPLOY_FAILED: "the deploy failed",
    EscalationReason.AGENT_BLOCKED: "the agent stopped to wait for a person (an approval or an "
    "answer to its question); afk stopped it",
    EscalationReason.CI_TIMEOUT: "CI or the deploy did not finish in the time allowed after the "
    "agent's verified push",
    EscalationReason.PR_CLOSED: "the pull request was closed without being merged",
    EscalationReason.REVIEW_ROUNDS_EXHAUSTED: "reviewers still asked for changes after every "
    "allowed review round",
}
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_WEBHOOK_PATH = re.compile(r"^/services/[A-Z0-9]+/[A-Z0-9]+/[A-Za-z0-9]+$")
_TRANSPORT_ERRORS = (SlackClientError, OSError, HTTPException, ValueError)
T = TypeVar("T")


def escape(text: str) -> str:
    """Escape Slack's three mrkdwn control characters."""
    return "".join(_ESCAPES.get(char, char) for char in text)


def _escaped_head(text: str, limit: int) -> str:
    """The escaped start of ``text``, at most ``limit`` characters, never cutting an entity."""
    pieces = _fit([_ESCAPES.get(char, char) for char in text], limit)
    return "".join(pieces) + ("…" if len(pieces) < len(text) else "")


def _escaped_tail(text: str, limit: int) -> str:
    """The escaped end of ``text``: an agent's last words say where it stopped."""
    pieces = _fit([_ESCAPES.get(char, char) for char in reversed(text)], limit)
    return ("…" if len(pieces) < len(text) else "") + "".join(reversed(pieces))


def _fit(pieces: list[str], limit: int) -> list[str]:
    kept: list[str] = []
    size = 0
    for piece in pieces:
        if size + len(piece) > limit:
            break
        kept.append(piece)
        size += len(piece)
    return kept


def _link(url: str, label: str) -> str:
    if url.startswith(("https://", "http://")) and not re.search(r"[\s|]", url) and len(url) < 1000:
        return f"<{escape(url)}|{label}>"
    return label


def render(notice: EscalationNotice) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and the Block Kit blocks for one escalation."""
    ref = f"{notice.repo}#{notice.issue_number}"
    title = _escaped_head(notice.issue_title.strip(), TITLE_LIMIT)
    why = REASON_TEXT.get(notice.reason, str(notice.reason).replace("_", " "))
    lines = [
        f"*{_link(notice.issue_url, f'#{notice.issue_number} {title}')}*",
        f"*Repo:* `{notice.repo}`",
        f"*Why:* {why}.",
    ]
    if notice.detail.strip():
        lines.append(f"*Detail:* {_escaped_head(notice.detail.strip(), DETAIL_LIMIT)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Needs a human: {ref}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
    ]
    report = notice.last_report.strip().replace("```", "'''")
    if report:
        quoted = _escaped_tail(report, REPORT_LIMIT)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Last agent report:*\n```{quoted}```"},
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"afk handed this issue to a human (reason `{notice.reason.value}`)",
                }
            ],
        }
    )
    text = f"afk: {ref} ({title}) needs a human: {why}. {escape(notice.issue_url)}".strip()
    return text, blocks


class _Sink(Protocol):
    def post(self, text: str, blocks: list[dict[str, Any]]) -> None: ...

    def check(self) -> str: ...


def _quiet_logger() -> logging.Logger:
    """A logger outside the logging tree: slack-sdk's debug lines quote the webhook URL."""
    logger = logging.Logger("afk.slack-sdk", level=logging.CRITICAL + 1)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


class _Time:
    """A call's timeout and the tick's deadline: how long the next Slack call may take."""

    def __init__(self, timeout_s: float, deadline: TickDeadline | None) -> None:
        self.timeout_s = timeout_s
        self.deadline = deadline

    def admit(self, operation: str, *, write: bool) -> float:
        if self.deadline is None:
            return self.timeout_s
        return self.deadline.admit(f"{SLACK} {operation}", write=write, needs_s=self.timeout_s)


def _send(operation: str, secrets: Sequence[str], call: Callable[[], T], *, within_s: float) -> T:
    """``call()`` within ``within_s``; every slack-sdk, urllib and socket failure (and a call
    that overran) becomes a ``NotifyError``."""
    failure: NotifyError
    try:
        return bounded(within_s, call)
    except Overran:
        failure = NotifyError(
            service=SLACK,
            operation=operation,
            detail=f"timed out: no complete answer within {within_s:.3g} s",
        )
    except SlackApiError as exc:
        status = exc.response.status_code
        data = exc.response.data
        code = data.get("error") if isinstance(data, dict) else None
        detail = scrub(str(code), secrets) if code else "no error code in the reply"
        failure = NotifyError(
            service=SLACK,
            operation=operation,
            status=None if status == 200 else status,
            detail=detail,
        )
    except _TRANSPORT_ERRORS as exc:
        reason = exc.reason if isinstance(exc, URLError) else exc
        what = "timed out" if isinstance(reason, TimeoutError) else "connection failed"
        failure = NotifyError(
            service=SLACK, operation=operation, detail=f"{what} ({type(reason).__name__})"
        )
    raise failure


class _Bot:
    def __init__(self, token: BearerProvider, channel: str, base_url: str, time: _Time) -> None:
        self._token = token
        self._channel = channel
        self._base_url = base_url
        self._time = time

    def _client(self, operation: str, within_s: float) -> tuple[WebClient, str]:
        try:
            token = self._token()
        except SecretError as exc:
            failure = NotifyError(service=SLACK, operation=operation, detail=f"no bot token: {exc}")
        else:
            client = WebClient(
                token=token,
                base_url=self._base_url,
                timeout=_whole_seconds(within_s),
                logger=_quiet_logger(),
                retry_handlers=[],
            )
            return client, token
        raise failure

    def post(self, text: str, blocks: list[dict[str, Any]]) -> None:
        within_s = self._time.admit("chat.postMessage", write=True)
        client, token = self._client("chat.postMessage", within_s)
        _send(
            "chat.postMessage",
            [token],
            lambda: client.chat_postMessage(
                channel=self._channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
            ),
            within_s=within_s,
        )

    def check(self) -> str:
        within_s = self._time.admit("auth.test", write=False)
        client, token = self._client("auth.test", within_s)
        reply = _send("auth.test", [token], client.auth_test, within_s=within_s)
        return f"bot token works: user {reply.get('user')} in team {reply.get('team')}"

    def __repr__(self) -> str:
        return f"bot token, channel {self._channel}"


class _Webhook:
    def __init__(self, url: SecretStr, time: _Time) -> None:
        self._url = url
        self._time = time

    def _secrets(self) -> list[str]:
        url = self._url.get_secret_value()
        path = urlsplit(url).path
        return [url, path, path.rsplit("/", 1)[-1]]

    def post(self, text: str, blocks: list[dict[str, Any]]) -> None:
        within_s = self._time.admit("incoming webhook", write=True)
        secrets = self._secrets()
        client = WebhookClient(
            url=self._url.get_secret_value(),
            timeout=_whole_seconds(within_s),
            logger=_quiet_logger(),
            retry_handlers=[],
        )
        reply = _send(
            "incoming webhook",
            secrets,
            lambda: client.send(text=text, blocks=blocks, unfurl_links=False, unfurl_media=False),
            within_s=within_s,
        )
        if reply.status_code != 200:
            raise NotifyError(
                service=SLACK,
                operation="incoming webhook",
                status=reply.status_code,
                detail=scrub(str(reply.body or ""), secrets),
            )

    def check(self) -> str:
        """Only the URL's shape: posting would ring the doorbell, and doctor never writes."""
        try:
            parts = urlsplit(self._url.get_secret_value())
            port = parts.port
        except ValueError:
            parts, port = None, None
        if (
            parts is None
            or parts.scheme != "https"
            or parts.netloc != "hooks.slack.com"
            or port is not None
            or parts.query
            or parts.fragment
            or not _WEBHOOK_PATH.match(parts.path)
        ):
            raise NotifyError(
                service=SLACK,
                operation="check incoming webhook",
                detail="the URL is not of the form https://hooks.slack.com/services/T…/B…/…",
            )
        return "incoming webhook URL is well formed (not posted to)"

    def __repr__(self) -> str:
        return "incoming webhook"


class SlackNotifier:
    """The ``Notifier`` port over Slack. Build it with ``with_bot`` or ``with_webhook``."""

    __slots__ = ("_sink",)

    def __init__(self, sink: _Sink) -> None:
        self._sink = sink

    @classmethod
    def with_bot(
        cls,
        token: BearerProvider | SecretStr | str,
        channel: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10,
        deadline: TickDeadline | None = None,
    ) -> SlackNotifier:
        """Post with ``chat.postMessage``; ``token`` is read afresh for every post."""
        if not channel.strip():
            raise ConfigError("AFK_SLACK_CHANNEL is blank", setting="AFK_SLACK_CHANNEL")
        provider = _as_provider(token)
        base = base_url if base_url.endswith("/") else f"{base_url}/"
        return cls(_Bot(provider, channel.strip(), base, _Time(timeout_s, deadline)))

    @classmethod
    def with_webhook(
        cls,
        url: SecretStr | str,
        *,
        timeout_s: float = 10,
        deadline: TickDeadline | None = None,
    ) -> SlackNotifier:
        """Post to an incoming webhook (the channel is fixed by the webhook)."""
        secret = url if isinstance(url, SecretStr) else SecretStr(url)
        if not secret.get_secret_value().startswith(("https://", "http://")):
            raise ConfigError(
                "AFK_SLACK_WEBHOOK_URL is not an http(s) URL", setting="AFK_SLACK_WEBHOOK_URL"
            )
        return cls(_Webhook(secret, _Time(timeout_s, deadline)))

    def escalate(self, notice: EscalationNotice) -> None:
        text, blocks = render(notice)
        self._sink.post(text, blocks)

    def auth_check(self) -> str:
        """For ``afk doctor``: a bot token is tried with ``auth.test``; a webhook only parsed."""
        return self._sink.check()

    def __repr__(self) -> str:
        return f"SlackNotifier({self._sink!r})"


def _as_provider(token: BearerProvider | SecretStr | str) -> BearerProvider:
    if isinstance(token, str | SecretStr):
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        return secret.get_secret_value
    return token


def _whole_seconds(timeout_s: float) -> int:
    """slack-sdk takes whole seconds; round up so a short timeout never becomes 0 (no timeout)."""
    return max(1, math.ceil(timeout_s))
