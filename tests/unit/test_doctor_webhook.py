"""``afk doctor`` on a Slack webhook: any well-formed https URL passes (a note for a host that
is not Slack's), a non-https or malformed one fails clearly, and the URL is never shown."""

from __future__ import annotations

import pytest

from afk.doctor import webhook_check

SECRET = "cnryHookSecret0042"


@pytest.mark.parametrize(
    "url",
    [
        f"https://hooks.slack.com/services/T0AFK/B0AFK/{SECRET}",
        f"https://hooks.slack-gov.com/services/T0AFK/B0AFK/{SECRET}",
        f"https://HOOKS.SLACK.COM:443/services/T0AFK/B0AFK/{SECRET}",
    ],
)
def test_slacks_own_hosts_pass_without_a_note(url: str) -> None:
    check = webhook_check(url)
    assert check.ok, check.detail
    assert "note" not in check.detail and "well formed" in check.detail
    assert SECRET not in check.detail


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (f"https://slack-relay.corp.example/hooks/{SECRET}", "slack-relay.corp.example"),
        (f"https://proxy.example:8443/services/T0/B0/{SECRET}?team=x", "proxy.example"),
        (f"https://hooks.slack.com.evil.example/services/T0/B0/{SECRET}", "evil.example"),
    ],
)
def test_any_other_https_host_passes_with_a_note_naming_it(url: str, host: str) -> None:
    check = webhook_check(url)
    assert check.ok, check.detail
    assert "not a known Slack host" in check.detail and host in check.detail
    assert "hooks.slack-gov.com" in check.detail
    assert SECRET not in check.detail


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"http://hooks.slack.com/services/T0/B0/{SECRET}", "not https"),
        (f"http://relay.example/{SECRET}", "not https"),
        (f"https://hooks.slack.com:notaport/services/T0/B0/{SECRET}", "not a well-formed URL"),
        (f"https:///services/T0/B0/{SECRET}", "not a well-formed URL"),
        (f"https://relay.example/a b/{SECRET}", "not a well-formed URL"),
        (f"https://user:{SECRET}@relay.example/hook", "user name, a password"),
        (f"https://relay.example/hook#{SECRET}", "fragment"),
        (f"https://hooks.slack.com/workflows/T0/B0/{SECRET}", "not of the form"),
        (f"https://hooks.slack-gov.com/services/T0/B0/{SECRET}?x=1", "not of the form"),
        (f"https://hooks.slack.com:8443/services/T0/B0/{SECRET}", "not of the form"),
        (f"hooks.slack.com/services/T0/B0/{SECRET}", "not"),
    ],
)
def test_non_https_or_malformed_fails_clearly(url: str, words: str) -> None:
    check = webhook_check(url)
    assert not check.ok
    assert words in check.detail
    assert "AFK_SLACK_WEBHOOK_URL" in check.detail and check.hint
    assert SECRET not in check.detail + check.hint
