"""SlackNotifier over slack-sdk against a loopback FakeSlack: content, Block Kit, failures."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from afk.adapters.slack import REASON_TEXT, REPORT_LIMIT, SlackNotifier, render
from afk.core.ports import EscalationNotice
from afk.core.types import EscalationReason, RepoRef
from afk.errors import ConfigError, NotifyError, SecretError
from afk.testing.fake_slack import FakeSlack, SlackMessage
from afk.testing.serving import Handler, loopback_server

CHANNEL = "C0AFK"
ISSUE_URL = "https://git.example.com/acme/widgets/issues/42"


def unique(kind: str) -> str:
    return f"{kind}{uuid.uuid4().hex}"


def notice(
    *,
    title: str = "Add the frobnicator",
    reason: EscalationReason = EscalationReason.AGENT_FAILED,
    detail: str = "thread idle without a push",
    last_report: str = "AFK-PHASE: green",
    url: str = ISSUE_URL,
) -> EscalationNotice:
    return EscalationNotice(
        repo=RepoRef("acme", "widgets"),
        issue_number=42,
        issue_title=title,
        issue_url=url,
        reason=reason,
        detail=detail,
        last_report=last_report,
    )


class Switch:
    """One loopback server for the module; each test plugs its own fake in."""

    def __init__(self) -> None:
        self.handler: Handler | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert self.handler is not None
        return self.handler(request)


class World:
    def __init__(self, url: str, switch: Switch) -> None:
        self.url = url
        self.token = f"xoxb-{unique('canary')}"
        self.hook_secret = unique("hooksecret")
        self.fake = FakeSlack(
            self.token, CHANNEL, webhook_path=f"/services/T0AFK/B0AFK/{self.hook_secret}"
        )
        switch.handler = self.fake.handle

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.fake.webhook_path}"

    def bot(self, token: Any = None, channel: str = CHANNEL) -> SlackNotifier:
        return SlackNotifier.with_bot(
            self.token if token is None else token,
            channel,
            base_url=f"{self.url}/api/",
            timeout_s=1,
        )

    def webhook(self, url: str | None = None) -> SlackNotifier:
        return SlackNotifier.with_webhook(url or self.webhook_url, timeout_s=1)

    def secrets(self) -> tuple[str, ...]:
        return (self.token, self.webhook_url, self.fake.webhook_path, self.hook_secret)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Switch]]:
    switch = Switch()
    with loopback_server(switch) as url:
        yield url, switch


@pytest.fixture
def world(server: tuple[str, Switch]) -> World:
    return World(*server)


def assert_hidden(error: BaseException, secrets: tuple[str, ...]) -> None:
    for secret in secrets:
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in str(error.args)


def only_message(fake: FakeSlack) -> SlackMessage:
    assert len(fake.messages) == 1
    return fake.messages[0]


def block_texts(message: SlackMessage) -> list[str]:
    texts: list[str] = []
    for block in message.blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(element["text"] for element in block.get("elements", []))
    return texts


# the message


def test_bot_posts_the_escalation_to_the_channel(world: World) -> None:
    world.bot().escalate(notice())
    message = only_message(world.fake)
    assert message.via == "api"
    assert message.channel == CHANNEL
    assert [block["type"] for block in message.blocks] == [
        "header",
        "section",
        "section",
        "context",
    ]
    header, summary, report, context = block_texts(message)
    assert header == "Needs a human: acme/widgets#42"
    assert f"<{ISSUE_URL}|#42 Add the frobnicator>" in summary
    assert "`acme/widgets`" in summary
    assert REASON_TEXT[EscalationReason.AGENT_FAILED] in summary
    assert "thread idle without a push" in summary
    assert report == "*Last agent report:*\n```AFK-PHASE: green```"
    assert "`agent_failed`" in context


def test_fallback_text_names_the_issue_the_reason_and_the_link(world: World) -> None:
    world.bot().escalate(notice(reason=EscalationReason.DEPLOY_FAILED))
    text = only_message(world.fake).text
    assert "acme/widgets#42" in text
    assert "Add the frobnicator" in text
    assert REASON_TEXT[EscalationReason.DEPLOY_FAILED] in text
    assert ISSUE_URL in text


@pytest.mark.parametrize("reason", list(EscalationReason))
def test_every_reason_has_human_wording(reason: EscalationReason) -> None:
    text, blocks = render(notice(reason=reason))
    assert REASON_TEXT[reason] in text
    assert reason.value not in REASON_TEXT[reason]
    assert REASON_TEXT[reason] in blocks[1]["text"]["text"]


def test_issue_and_agent_text_are_escaped(world: World) -> None:
    """A title like ``<!channel>`` must not ping anyone, nor break the link syntax."""
    world.bot().escalate(
        notice(
            title="<!channel> & <https://evil.example|click>",
            detail="a < b && c > d",
            last_report="<@U123> said <!here>",
        )
    )
    message = only_message(world.fake)
    posted = json.dumps([message.text, message.blocks])
    for raw in ("<!channel>", "<!here>", "<@U123>", "<https://evil"):
        assert raw not in posted
    summary = block_texts(message)[1]
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in summary
    assert "a &lt; b &amp;&amp; c &gt; d" in summary
    assert "&lt;@U123&gt; said &lt;!here&gt;" in block_texts(message)[2]
    assert "&lt;!channel&gt;" in message.text


def test_the_last_report_is_trimmed_to_its_tail(world: World) -> None:
    report = "early words " + "x" * 5000 + " & the last words"
    world.bot().escalate(notice(last_report=report))
    section = block_texts(only_message(world.fake))[2]
    quoted = section.removeprefix("*Last agent report:*\n```").removesuffix("```")
    assert quoted.startswith("…")
    assert quoted.endswith("&amp; the last words")
    assert len(quoted) <= REPORT_LIMIT + 1
    assert "early words" not in quoted


def test_trimming_never_cuts_an_entity_in_half() -> None:
    _, blocks = render(notice(last_report="&" * 2000))
    quoted = blocks[2]["text"]["text"].split("```")[1]
    assert quoted == "…" + "&amp;" * (REPORT_LIMIT // len("&amp;"))


def test_a_code_fence_in_the_report_cannot_close_the_quote() -> None:
    _, blocks = render(notice(last_report="before ``` after"))
    assert blocks[2]["text"]["text"].count("```") == 2


def test_no_report_section_without_a_report(world: World) -> None:
    world.bot().escalate(notice(last_report="  "))
    types = [block["type"] for block in only_message(world.fake).blocks]
    assert types == ["header", "section", "context"]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://x.example/a|b", ""])
def test_a_doubtful_issue_url_is_not_linked(url: str) -> None:
    _, blocks = render(notice(url=url))
    assert blocks[1]["text"]["text"].startswith("*#42 Add the frobnicator*")


def test_long_titles_and_details_stay_inside_slacks_limits(world: World) -> None:
    world.bot().escalate(notice(title="<" * 1000, detail="d" * 10_000))
    summary = block_texts(only_message(world.fake))[1]
    assert len(summary) < 3000
    assert "&lt;" * 50 in summary


def test_the_token_is_read_afresh_for_every_post(world: World) -> None:
    """A rotated bot token is picked up on the next post, not at construction."""
    current = [world.token]
    notifier = world.bot(token=lambda: current[0])
    notifier.escalate(notice())
    current[0] = world.fake.token = f"xoxb-{unique('rotated')}"
    notifier.escalate(notice())
    assert len(world.fake.messages) == 2


def test_a_secretstr_token_works(world: World) -> None:
    world.bot(token=SecretStr(world.token)).escalate(notice())
    assert len(world.fake.messages) == 1


def test_webhook_posts_the_same_message(world: World) -> None:
    world.webhook().escalate(notice())
    message = only_message(world.fake)
    assert message.via == "webhook"
    assert message.channel is None
    assert render(notice()) == (message.text, list(message.blocks))


# failures


def test_wrong_bot_token_is_a_notify_error_without_the_token(world: World) -> None:
    wrong = f"xoxb-{unique('wrong')}"
    with pytest.raises(NotifyError, match="invalid_auth") as caught:
        world.bot(token=wrong).escalate(notice())
    assert caught.value.operation == "chat.postMessage"
    assert_hidden(caught.value, (wrong, *world.secrets()))
    assert world.fake.messages == []


def test_unknown_channel_is_a_notify_error(world: World) -> None:
    with pytest.raises(NotifyError, match="channel_not_found") as caught:
        world.bot(channel="C0NOWHERE").escalate(notice())
    assert_hidden(caught.value, world.secrets())


@pytest.mark.parametrize(("status", "error"), [(500, None), (503, None), (429, "ratelimited")])
def test_server_failures_are_notify_errors_and_not_retried(
    world: World, status: int, error: str | None
) -> None:
    world.fake.fail_next(1, status=status, error=error)
    with pytest.raises(NotifyError) as caught:
        world.bot().escalate(notice())
    assert caught.value.status == status
    assert world.fake.requests == ["/api/chat.postMessage"]
    assert_hidden(caught.value, world.secrets())


def test_an_error_code_echoing_the_token_is_scrubbed(world: World) -> None:
    world.fake.fail_next(1, status=200, error=f"bad token {world.token}")
    with pytest.raises(NotifyError) as caught:
        world.bot().escalate(notice())
    assert caught.value.status is None
    assert_hidden(caught.value, world.secrets())


@pytest.mark.parametrize("via", ["bot", "webhook"])
def test_a_lost_connection_is_a_notify_error(world: World, via: str) -> None:
    world.fake.fail_next(1, drop=True)
    notifier = world.bot() if via == "bot" else world.webhook()
    with pytest.raises(NotifyError, match="connection failed") as caught:
        notifier.escalate(notice())
    assert_hidden(caught.value, world.secrets())


@pytest.mark.parametrize("via", ["bot", "webhook"])
def test_an_unreachable_slack_is_a_notify_error(world: World, via: str) -> None:
    with loopback_server(world.fake.handle) as url:
        gone = url
    hook = f"{gone}{world.fake.webhook_path}"
    notifier = (
        SlackNotifier.with_bot(world.token, CHANNEL, base_url=f"{gone}/api/")
        if via == "bot"
        else SlackNotifier.with_webhook(hook)
    )
    with pytest.raises(NotifyError, match="connection failed") as caught:
        notifier.escalate(notice())
    assert_hidden(caught.value, (*world.secrets(), hook))


@pytest.mark.parametrize("via", ["bot", "webhook"])
def test_a_slow_slack_is_a_timeout_notify_error(world: World, via: str) -> None:
    with loopback_server(world.fake.handle, latency_s=1.5) as url:
        hook = f"{url}{world.fake.webhook_path}"
        notifier = (
            SlackNotifier.with_bot(world.token, CHANNEL, base_url=f"{url}/api/", timeout_s=0.5)
            if via == "bot"
            else SlackNotifier.with_webhook(hook, timeout_s=0.5)
        )
        with pytest.raises(NotifyError, match="timed out") as caught:
            notifier.escalate(notice())
    assert_hidden(caught.value, (*world.secrets(), hook))


def test_a_failing_token_provider_is_a_notify_error(world: World) -> None:
    def broken() -> str:
        raise SecretError(service="Vault", operation="read kv secret/afk/slack", status=503)

    with pytest.raises(NotifyError, match="Vault read kv secret/afk/slack failed"):
        world.bot(token=broken).escalate(notice())
    assert world.fake.requests == []


def test_wrong_webhook_path_is_a_notify_error_without_the_url(world: World) -> None:
    wrong = f"{world.url}/services/T0AFK/B0AFK/{unique('wrongsecret')}"
    with pytest.raises(NotifyError, match="no_service") as caught:
        world.webhook(wrong).escalate(notice())
    assert caught.value.status == 404
    assert_hidden(caught.value, (wrong, wrong.rsplit("/", 1)[-1], *world.secrets()))


@pytest.mark.parametrize("status", [400, 500])
def test_webhook_failures_echoing_the_url_are_scrubbed(world: World, status: int) -> None:
    world.fake.fail_next(1, status=status, error=f"invalid_payload for {world.webhook_url}")
    with pytest.raises(NotifyError) as caught:
        world.webhook().escalate(notice())
    assert caught.value.status == status
    assert "invalid_payload" in str(caught.value)
    assert_hidden(caught.value, world.secrets())


def test_nothing_secret_reaches_the_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """slack-sdk logs the webhook URL at debug level; afk keeps its logger out of the tree."""
    caplog.set_level(logging.DEBUG)
    world.webhook().escalate(notice())
    world.bot().escalate(notice())
    world.fake.fail_next(2, drop=True)
    for notifier in (world.webhook(), world.bot()):
        with pytest.raises(NotifyError):
            notifier.escalate(notice())
    for secret in world.secrets():
        assert secret not in caplog.text


# doctor and construction


def test_auth_check_with_a_bot_token_asks_auth_test(world: World) -> None:
    assert world.bot().auth_check() == "bot token works: user afk-bot in team afk-fake"
    assert world.fake.auth_tests == 1
    assert world.fake.messages == []


def test_auth_check_with_a_wrong_token_is_a_notify_error(world: World) -> None:
    wrong = f"xoxb-{unique('wrong')}"
    with pytest.raises(NotifyError, match=r"auth\.test failed: invalid_auth") as caught:
        world.bot(token=wrong).auth_check()
    assert_hidden(caught.value, (wrong,))


def test_auth_check_of_a_webhook_only_parses_it(world: World) -> None:
    """Checking a webhook by posting would ring the doorbell: doctor never writes."""
    good = f"https://hooks.slack.com/services/T0AFK/B0AFK/{world.hook_secret}"
    assert "well formed" in SlackNotifier.with_webhook(good).auth_check()
    with pytest.raises(NotifyError, match="not of the form") as caught:
        world.webhook().auth_check()
    assert_hidden(caught.value, world.secrets())
    assert world.fake.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/T0/B0/abc",
        "https://hooks.slack.com.evil.example/services/T0/B0/abc",
        "https://hooks.slack.com:8443/services/T0/B0/abc",
        "https://hooks.slack.com/services/T0/B0/abc?x=1",
        "https://hooks.slack.com/workflows/T0/B0/abc",
        "https://user@hooks.slack.com/services/T0/B0/abc",
        "https://hooks.slack.com:notaport/services/T0/B0/abc",
    ],
)
def test_auth_check_refuses_malformed_webhook_urls(url: str) -> None:
    with pytest.raises(NotifyError) as caught:
        SlackNotifier.with_webhook(url).auth_check()
    assert_hidden(caught.value, (url, "abc"))


def test_construction_refuses_bad_settings_without_echoing_them() -> None:
    secret = unique("notaurl")
    with pytest.raises(ConfigError) as caught:
        SlackNotifier.with_webhook(f"file:///{secret}")
    assert secret not in str(caught.value)
    with pytest.raises(ConfigError):
        SlackNotifier.with_bot("xoxb-x", "  ")


def test_the_notifier_repr_hides_the_token_and_url(world: World) -> None:
    for notifier in (world.bot(), world.webhook()):
        for secret in world.secrets():
            assert secret not in repr(notifier)
