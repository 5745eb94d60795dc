"""Config at the edges: odd secrets, malformed Slack settings, the tick deadline, the config file.

Every command loads the same ``Config``, so a setting refused here is refused by all of them
with the same words (exit 2, naming the variable, never a secret's value).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afk.core.config import load_config
from afk.errors import ConfigError

CANARY = "cnry-token-5a4b3c2d1e"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)


def chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


@pytest.mark.parametrize("variable", ["AFK_TRACKER_TOKEN", "AFK_T3_TOKEN", "AFK_SLACK_TOKEN"])
@pytest.mark.parametrize(
    "odd",
    ["\u00e9", "\ufeff", "\x1b", "\x7f", "\u200b"],
    ids=["e-acute", "bom", "esc", "del", "zwsp"],
)
def test_a_token_variable_that_no_header_can_carry_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, odd: str
) -> None:
    monkeypatch.setenv(variable, f"{CANARY}{odd}")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.setting == variable
    assert variable in str(caught.value)
    assert "printable ASCII" in str(caught.value)
    for error in chain(caught.value):
        assert CANARY not in f"{error} {error!r} {error.args}"


def test_a_refused_secret_leaves_no_validation_error_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pydantic's error keeps the input; it must not ride along as the ConfigError's context."""
    monkeypatch.setenv("AFK_TRACKER_TOKEN", f"{CANARY}\x1b")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


# --- Slack settings -----------------------------------------------------------------------------

HOOK = "hooks.slack.com/services/T0AFK/B0AFK/cnryHookSecret"


def armed(**overrides: Any) -> dict[str, Any]:
    return {
        "kill_switch": "false",
        "allowlist": "acme/widgets",
        "tracker_kind": "forgejo",
        "tracker_url": "https://git.example.com/api/v1",
        "tracker_token": "tracker-token",
        "t3_url": "http://t3.example.com:3773",
        "t3_token": "t3-token",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        pytest.param({"slack_webhook_url": HOOK}, "AFK_SLACK_WEBHOOK_URL", id="webhook-no-scheme"),
        pytest.param(
            {"slack_webhook_url": "ftp://hooks.slack.com/services/T/B/x"},
            "AFK_SLACK_WEBHOOK_URL",
            id="webhook-other-scheme",
        ),
        pytest.param(
            {"slack_token": "xoxb-1", "slack_channel": "   "}, "AFK_SLACK_CHANNEL", id="blank"
        ),
    ],
)
def test_a_malformed_slack_setting_is_a_problem_naming_it(
    overrides: dict[str, Any], setting: str
) -> None:
    config = load_config(**armed(**overrides))
    problems = config.slack_problems()
    assert len(problems) == 1
    assert problems[0].startswith(setting)
    assert problems == [p for p in config.operational_problems() if p.startswith("AFK_SLACK")]
    assert "cnryHookSecret" not in " ".join(problems)


def test_well_formed_slack_settings_have_no_problem() -> None:
    hook = "https://hooks.slack.com/services/T0AFK/B0AFK/secret"
    assert load_config(**armed(slack_webhook_url=hook)).slack_problems() == []
    assert load_config(**armed(slack_token="xoxb-1", slack_channel="C0AFK")).slack_problems() == []


# --- trusted labelers ---------------------------------------------------------------------------


def test_an_empty_trusted_labeler_list_trusts_nobody(tmp_path: Path) -> None:
    """``trusted_labelers = []`` used to turn the check off, trusting everyone."""
    toml = tmp_path / "afk.toml"
    toml.write_text("trusted_labelers = []\n")
    assert load_config(toml).trusted_labelers == frozenset()
    assert load_config(trusted_labelers=",").trusted_labelers == frozenset()


def test_trusted_labelers_left_unset_turn_the_check_off(tmp_path: Path) -> None:
    toml = tmp_path / "afk.toml"
    toml.write_text('log_format = "json"\n')
    assert load_config(toml).trusted_labelers is None
    assert load_config(trusted_labelers=["alice", " Bob "]).trusted_labelers == frozenset(
        {"alice", "Bob"}
    )


# --- the config file ----------------------------------------------------------------------------


def test_a_config_file_that_cannot_be_read_is_a_config_error() -> None:
    """A file that exists but cannot be read (here: an I/O error, whoever runs the test)."""
    unreadable = Path("/proc/self/mem")
    assert unreadable.is_file()
    with pytest.raises(ConfigError) as caught:
        load_config(unreadable)
    assert caught.value.setting == "--config"
    assert str(unreadable) in str(caught.value)
    assert "cannot be read" in str(caught.value)


# --- the tick deadline --------------------------------------------------------------------------


def test_a_tick_has_sixty_seconds_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config().tick_seconds == 60
    monkeypatch.setenv("AFK_TICK_SECONDS", "45")
    assert load_config().tick_seconds == 45
    assert "AFK_TICK_SECONDS" in load_config().env_names()


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"tick_seconds": 20}, "more than AFK_HTTP_TIMEOUT_SECONDS + AFK_HTTP_RETRY_SECONDS"),
        (
            {"tick_seconds": 30, "http_timeout_seconds": 25, "http_retry_seconds": 5},
            "(30 s)",
        ),
        ({"tick_seconds": 0}, "greater than 0"),
    ],
)
def test_a_tick_too_short_for_one_whole_call_is_refused(settings: dict[str, Any], why: str) -> None:
    """A write starts only when its whole call fits in what is left of the tick."""
    with pytest.raises(ConfigError) as caught:
        load_config(**settings)
    assert caught.value.setting == "AFK_TICK_SECONDS"
    assert why in str(caught.value)
