"""Config at the edges: odd secrets, malformed Slack settings, the tick deadline, the config file.

Every command loads the same ``Config``, so a setting refused here is refused by all of them
with the same words (exit 2, naming the variable, never a secret's value).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
