"""FakeSlack answers as Slack does and refuses what Slack would refuse."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from afk.testing.fake_slack import FakeSlack, blocks_problem
from afk.testing.serving import mock_transport

TOKEN = "xoxb-fake-for-tests"
HOOK = "/services/T0AFK/B0AFK/fakehooksecret"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}


@pytest.fixture
def fake() -> FakeSlack:
    return FakeSlack(TOKEN, "C0AFK", webhook_path=HOOK)


@pytest.fixture
def http(fake: FakeSlack) -> httpx.Client:
    return httpx.Client(base_url="http://slack.test", transport=mock_transport(fake.handle))


def post_message(http: httpx.Client, bearer: str | None = TOKEN, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return http.post("/api/chat.postMessage", json=params, headers=headers)


def slack_error(response: httpx.Response) -> str:
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    error = body["error"]
    assert isinstance(error, str)
    return error


def test_post_message_is_recorded_and_answered(http: httpx.Client, fake: FakeSlack) -> None:
    response = post_message(http, channel="C0AFK", text="hi", blocks=[SECTION])
    assert response.json()["ok"] is True
    assert response.json()["channel"] == "C0AFK"
    assert len(fake.messages) == 1
    message = fake.messages[0]
    assert (message.via, message.channel, message.text) == ("api", "C0AFK", "hi")
    assert message.blocks == (SECTION,)


def test_a_form_body_may_carry_the_token_and_json_blocks(
    http: httpx.Client, fake: FakeSlack
) -> None:
    form = {"token": TOKEN, "channel": "C0AFK", "blocks": json.dumps([SECTION])}
    response = http.post("/api/chat.postMessage", data=form)
    assert response.json()["ok"] is True
    assert fake.messages[0].blocks == (SECTION,)


@pytest.mark.parametrize(
    ("token", "params", "error"),
    [
        (None, {"channel": "C0AFK", "text": "hi"}, "not_authed"),
        (None, {"token": TOKEN, "channel": "C0AFK", "text": "hi"}, "not_authed"),
        ("xoxb-wrong", {"channel": "C0AFK", "text": "hi"}, "invalid_auth"),
        (TOKEN, {"channel": "C0OTHER", "text": "hi"}, "channel_not_found"),
        (TOKEN, {"text": "hi"}, "channel_not_found"),
        (TOKEN, {"channel": "C0AFK"}, "no_text"),
        (TOKEN, {"channel": "C0AFK", "text": "", "blocks": []}, "no_text"),
        (
            TOKEN,
            {"channel": "C0AFK", "text": "hi", "blocks": [{"type": "video"}]},
            "invalid_blocks",
        ),
        (TOKEN, {"channel": "C0AFK", "text": 5}, "invalid_arguments"),
    ],
)
def test_post_message_refusals_are_ok_false_with_slacks_codes(
    http: httpx.Client, fake: FakeSlack, token: str | None, params: dict[str, Any], error: str
) -> None:
    """A JSON body's ``token`` field is ignored: Slack wants it in the header for JSON."""
    assert slack_error(post_message(http, token, **params)) == error
    assert fake.messages == []


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]"])
def test_post_message_refuses_malformed_json(http: httpx.Client, content: bytes) -> None:
    response = http.post(
        "/api/chat.postMessage",
        content=content,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert slack_error(response) == "invalid_json"


def test_post_message_refuses_an_unknown_body_type(http: httpx.Client) -> None:
    response = http.post(
        "/api/chat.postMessage", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert slack_error(response) == "invalid_form_data"


@pytest.mark.parametrize(
    "blocks",
    [
        "not a list",
        [SECTION] * 51,
        [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}],
        [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}],
        [{"type": "section", "text": {"type": "markdown", "text": "x"}}],
        [{"type": "context", "elements": []}],
        [{"type": "divider", "text": "x"}],
        ["section"],
    ],
)
def test_blocks_outside_slacks_rules_are_refused(blocks: Any) -> None:
    assert blocks_problem(blocks)


def test_the_block_types_afk_sends_are_accepted() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "x" * 150}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}]},
        {"type": "divider"},
    ]
    assert not blocks_problem(blocks)


def test_auth_test_names_the_bot_and_team(http: httpx.Client, fake: FakeSlack) -> None:
    ok = http.post("/api/auth.test", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert (ok["ok"], ok["user"], ok["team"]) == (True, "afk-bot", "afk-fake")
    assert slack_error(http.post("/api/auth.test")) == "not_authed"
    assert fake.auth_tests == 1


def test_unknown_methods_and_verbs_are_refused(http: httpx.Client) -> None:
    assert http.post("/api/chat.delete").status_code == 404
    assert http.post("/api/chat.delete").json()["error"] == "unknown_method"
    assert http.get("/api/chat.postMessage").status_code == 405


def test_webhook_accepts_a_message_with_plain_ok(http: httpx.Client, fake: FakeSlack) -> None:
    response = http.post(HOOK, json={"text": "hi", "blocks": [SECTION]})
    assert (response.status_code, response.text) == (200, "ok")
    message = fake.messages[0]
    assert (message.via, message.channel, message.blocks) == ("webhook", None, (SECTION,))


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "text"),
    [
        ("/services/T0AFK/B0AFK/wrong", {"json": {"text": "hi"}}, 404, "no_service"),
        (
            HOOK,
            {"content": b"{bad", "headers": {"Content-Type": "application/json"}},
            400,
            "invalid_payload",
        ),
        (HOOK, {"json": ["text"]}, 400, "invalid_payload"),
        (HOOK, {"data": {"text": "hi"}}, 400, "invalid_payload"),
        (HOOK, {"json": {"text": ""}}, 400, "no_text"),
        (HOOK, {"json": {"text": "hi", "blocks": [{"type": "x"}]}}, 400, "invalid_blocks"),
    ],
)
def test_webhook_refusals(
    http: httpx.Client,
    fake: FakeSlack,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    text: str,
) -> None:
    response = http.post(path, **kwargs)
    assert (response.status_code, response.text) == (status, text)
    assert fake.messages == []


def test_fail_next_serves_canned_failures_in_order(http: httpx.Client, fake: FakeSlack) -> None:
    fake.fail_next(1, status=429, error="ratelimited")
    fake.fail_next(1, status=200, error="fatal_error")
    fake.fail_next(1, status=503)
    limited = post_message(http, channel="C0AFK", text="hi")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "30")
    assert limited.json() == {"ok": False, "error": "ratelimited"}
    assert slack_error(post_message(http, channel="C0AFK", text="hi")) == "fatal_error"
    unavailable = http.post(HOOK, json={"text": "hi"})
    assert unavailable.status_code == 503
    assert "html" in unavailable.headers["content-type"]
    assert post_message(http, channel="C0AFK", text="hi").json()["ok"] is True
    assert len(fake.messages) == 1


def test_fail_next_can_drop_the_connection(http: httpx.Client, fake: FakeSlack) -> None:
    fake.fail_next(1, drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(HOOK, json={"text": "hi"})
    assert fake.messages == []
