"""A strict fake of the Slack endpoints afk uses: ``chat.postMessage``, ``auth.test`` and one
incoming webhook.

It answers the way Slack does: Web API failures are HTTP 200 with ``{"ok": false, "error": ...}``
(``not_authed``, ``invalid_auth``, ``channel_not_found``, ``no_text``, ``invalid_blocks``), and the
incoming webhook answers plain text (``ok``, or ``no_service`` 404, ``invalid_payload`` 400,
``no_text`` 400). A JSON Web API body must carry its token in the ``Authorization`` header, as
Slack requires; a form body may carry it as the ``token`` field. Block Kit blocks are checked
against Slack's documented limits for the block types afk sends. slack-sdk talks through urllib,
so serve this with ``afk.testing.serving.loopback_server``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx

from afk.testing.serving import DropConnection

_JSON_HEADERS = {"content-type": "application/json; charset=utf-8"}
_TEXT_HEADERS = {"content-type": "text/html"}
_MAX_BLOCKS = 50
_LIMITS = {"header": 150, "section": 3000, "context": 3000}
_TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One message Slack accepted; ``channel`` is ``None`` for the incoming webhook."""

    via: str
    channel: str | None
    text: str
    blocks: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    error: str | None
    drop: bool


def _api(status: int = 200, **fields: Any) -> httpx.Response:
    return httpx.Response(status, json=fields, headers=_JSON_HEADERS)


def _refused(error: str) -> httpx.Response:
    return _api(ok=False, error=error)


def _hook(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, text=text, headers=_TEXT_HEADERS)


def _text_object_problem(value: Any, *, limit: int, plain_only: bool) -> bool:
    if not isinstance(value, dict) or value.get("type") not in _TEXT_TYPES:
        return True
    if plain_only and value["type"] != "plain_text":
        return True
    text = value.get("text")
    return not isinstance(text, str) or not text or len(text) > limit


def _block_problem(block: Any) -> bool:
    """True when ``block`` breaks Slack's rules for the block types afk uses."""
    if not isinstance(block, dict):
        return True
    kind = block.get("type")
    if kind == "divider":
        return set(block) - {"type", "block_id"} != set()
    if kind == "header":
        return _text_object_problem(block.get("text"), limit=_LIMITS["header"], plain_only=True)
    if kind == "section":
        return _text_object_problem(block.get("text"), limit=_LIMITS["section"], plain_only=False)
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return True
        return any(
            _text_object_problem(e, limit=_LIMITS["context"], plain_only=False) for e in elements
        )
    return True


def blocks_problem(blocks: Any) -> bool:
    """True when ``blocks`` is not a valid list of (the supported) Block Kit blocks."""
    if not isinstance(blocks, list) or len(blocks) > _MAX_BLOCKS:
        return True
    return any(_block_problem(block) for block in blocks)


class FakeSlack:
    """One workspace with one bot token, one channel and one incoming webhook."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        channel: str = "C0AFK",
        *,
        webhook_path: str = "/services/T0AFK/B0AFK/fakehooksecret",
    ) -> None:
        self.token = token
        self.channel = channel
        self.webhook_path = webhook_path
        self.messages: list[SlackMessage] = []
        self.auth_tests = 0
        self.requests: list[str] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()

    def fail_next(
        self, n: int = 1, *, status: int = 500, error: str | None = None, drop: bool = False
    ) -> None:
        """The next ``n`` requests fail: ``status`` (with ``error`` as Slack's code, when given).

        ``status=200`` with an ``error`` is a Web API ``ok: false``; 429 carries ``Retry-After``;
        ``drop=True`` closes the connection without an answer.
        """
        with self._lock:
            self._failures.extend([_Failure(status, error, drop)] * n)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request.url.path)
            if self._failures:
                return self._fail(request, self._failures.pop(0))
            if request.method != "POST":
                return _hook(405, "method_not_allowed")
            path = request.url.path
            if path == "/api/chat.postMessage":
                return self._post_message(request)
            if path == "/api/auth.test":
                return self._auth_test(request)
            if path.startswith("/api/"):
                return _api(404, ok=False, error="unknown_method")
            if path == self.webhook_path:
                return self._webhook(request)
            return _hook(404, "no_service")

    def _fail(self, request: httpx.Request, failure: _Failure) -> httpx.Response:
        if failure.drop:
            raise DropConnection
        headers = {"retry-after": "30"} if failure.status == 429 else {}
        if request.url.path.startswith("/api/") and failure.error is not None:
            return httpx.Response(
                failure.status,
                json={"ok": False, "error": failure.error},
                headers={**_JSON_HEADERS, **headers},
            )
        body = failure.error or "<html><body><h1>Service Unavailable</h1></body></html>"
        return httpx.Response(failure.status, text=body, headers={**_TEXT_HEADERS, **headers})

    def _authorised(self, request: httpx.Request) -> tuple[dict[str, Any] | None, str]:
        """The call's arguments, or ``None`` and the error code Slack would answer."""
        content_type = request.headers.get("content-type", "")
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        params: Any
        if content_type.startswith("application/json"):
            try:
                params = json.loads(request.content or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError):
                return None, "invalid_json"
            if not isinstance(params, dict):
                return None, "invalid_json"
        elif content_type.startswith("application/x-www-form-urlencoded") or not request.content:
            try:
                params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                return None, "invalid_form_data"
            token = token or params.pop("token", None)
        else:
            return None, "invalid_form_data"
        if not token:
            return None, "not_authed"
        if token != self.token:
            return None, "invalid_auth"
        return params, ""

    def _post_message(self, request: httpx.Request) -> httpx.Response:
        params, error = self._authorised(request)
        if params is None:
            return _refused(error)
        if params.get("channel") != self.channel:
            return _refused("channel_not_found")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except json.JSONDecodeError:
                return _refused("invalid_blocks_format")
        text = params.get("text")
        if not text and not blocks:
            return _refused("no_text")
        if blocks is not None and blocks_problem(blocks):
            return _refused("invalid_blocks")
        if text is not None and not isinstance(text, str):
            return _refused("invalid_arguments")
        self.messages.append(SlackMessage("api", self.channel, text or "", tuple(blocks or ())))
        ts = f"1700000000.{len(self.messages):06d}"
        return _api(ok=True, channel=self.channel, ts=ts, message={"text": text or "", "ts": ts})

    def _auth_test(self, request: httpx.Request) -> httpx.Response:
        params, error = self._authorised(request)
        if params is None:
            return _refused(error)
        self.auth_tests += 1
        return _api(
            ok=True,
            url="https://afk-fake.slack.com/",
            team="afk-fake",
            user="afk-bot",
            team_id="T0AFK",
            user_id="U0AFK",
            bot_id="B0AFK",
            is_enterprise_install=False,
        )

    def _webhook(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _hook(400, "invalid_payload")
        try:
            body = json.loads(request.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _hook(400, "invalid_payload")
        if not isinstance(body, dict):
            return _hook(400, "invalid_payload")
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return _hook(400, "no_text")
        if (text is not None and not isinstance(text, str)) or (
            blocks is not None and blocks_problem(blocks)
        ):
            return _hook(400, "invalid_blocks")
        self.messages.append(SlackMessage("webhook", None, text or "", tuple(blocks or ())))
        return _hook(200, "ok")
