"""Config: ships disarmed, both gates needed, bad input named clearly, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.config import Config, load_config
from afk.core.types import RepoRef
from afk.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment with no AFK_* variable."""
    import os

    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)


def test_a_fresh_config_is_disarmed_by_both_gates() -> None:
    config = Config()
    assert config.kill_switch is True
    assert config.allowlist == ()
    assert not config.armed
    reason = config.disarmed_reason()
    assert reason is not None
    assert "AFK_KILL_SWITCH" in reason
    assert "AFK_ALLOWLIST" in reason


def test_clearing_the_kill_switch_alone_does_not_arm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_KILL_SWITCH", "false")
    config = load_config()
    assert not config.armed
    assert config.disarmed_reason() is not None
    assert "AFK_ALLOWLIST" in (config.disarmed_reason() or "")


def test_enrolling_repos_alone_does_not_arm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_ALLOWLIST", "acme/widgets")
    config = load_config()
    assert not config.armed
    assert "AFK_KILL_SWITCH" in (config.disarmed_reason() or "")


def test_both_gates_arm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_KILL_SWITCH", "false")
    monkeypatch.setenv("AFK_ALLOWLIST", " acme/widgets , acme/gadgets,acme/widgets ")
    config = load_config()
    assert config.armed
    assert config.disarmed_reason() is None
    assert config.allowlist == (RepoRef("acme", "widgets"), RepoRef("acme", "gadgets"))


@pytest.mark.parametrize("value", ["maybe", "", "nope", "2", "FALSE!", "off-ish"])
def test_an_unparseable_kill_switch_stays_on_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AFK_KILL_SWITCH", value)
    monkeypatch.setenv("AFK_ALLOWLIST", "acme/widgets")
    config = load_config()
    assert config.kill_switch is True
    assert not config.armed
    if value:  # an empty variable is "unset", not a typo
        assert len(config.warnings) == 1
        assert "AFK_KILL_SWITCH" in config.warnings[0]


@given(st.text())
def test_only_a_clear_false_clears_the_kill_switch(value: str) -> None:
    config = Config(kill_switch=value)
    cleared = value.strip().lower() in {"0", "false", "no", "off"}
    assert config.kill_switch is (not cleared)


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off", " FALSE "])
def test_spellings_of_false_clear_the_switch(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("AFK_KILL_SWITCH", value)
    assert load_config().kill_switch is False


@pytest.mark.parametrize("entry", ["acme", "acme/", "/widgets", "acme/widgets/extra", "a b/c"])
def test_a_bad_allowlist_entry_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("AFK_ALLOWLIST", f"good/repo,{entry}")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.setting == "AFK_ALLOWLIST"
    assert repr(entry.strip()) in str(caught.value) or entry.strip() in str(caught.value)


@pytest.mark.parametrize("twin", ["Acme/Widgets", "ACME/widgets", "acme/WIDGETS"])
def test_one_repo_in_two_spellings_is_an_error_naming_both(
    monkeypatch: pytest.MonkeyPatch, twin: str
) -> None:
    """Both forges ignore case in repo names: two spellings would put two agents (two thread
    ids, two checkouts) on one issue."""
    monkeypatch.setenv("AFK_ALLOWLIST", f"acme/widgets,{twin}")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.setting == "AFK_ALLOWLIST"
    assert "acme/widgets" in str(caught.value) and twin in str(caught.value)


def test_the_same_spelling_twice_is_enrolled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_ALLOWLIST", "acme/widgets, acme/widgets")
    assert [str(r) for r in load_config().allowlist] == ["acme/widgets"]


def test_a_bad_tracker_kind_names_the_variable_the_value_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFK_TRACKER_KIND", "gitlab")
    with pytest.raises(ConfigError) as caught:
        load_config()
    message = str(caught.value)
    assert caught.value.setting == "AFK_TRACKER_KIND"
    assert "gitlab" in message
    assert "forgejo" in message
    assert "github" in message


def test_a_secret_value_never_appears_in_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-secret-7f3a"
    monkeypatch.setenv("AFK_T3_TOKEN", canary)
    monkeypatch.setenv("AFK_MAX_CONCURRENT", "lots")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert canary not in str(caught.value)
    assert "AFK_MAX_CONCURRENT" in str(caught.value)


def test_secrets_are_masked_in_repr_and_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-secret-9b1c"
    for name in ("AFK_T3_TOKEN", "AFK_TRACKER_TOKEN", "AFK_SLACK_TOKEN", "AFK_SLACK_WEBHOOK_URL"):
        monkeypatch.setenv(name, canary)
    config = load_config()
    assert canary not in repr(config)
    assert canary not in str(config.model_dump())
    assert config.t3_token is not None
    assert config.t3_token.get_secret_value() == canary


def test_env_overrides_the_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "afk.toml"
    toml.write_text(
        'kill_switch = false\nallowlist = ["acme/widgets"]\nmax_concurrent = 7\n'
        'tracker_kind = "forgejo"\n'
    )
    monkeypatch.setenv("AFK_MAX_CONCURRENT", "2")
    config = load_config(toml)
    assert config.armed
    assert config.max_concurrent == 2
    assert config.tracker_kind == "forgejo"


def test_an_unknown_toml_key_is_a_config_error(tmp_path: Path) -> None:
    toml = tmp_path / "afk.toml"
    toml.write_text("kill_swich = false\n")
    with pytest.raises(ConfigError, match="kill_swich"):
        load_config(toml)


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_github_gets_its_default_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_TRACKER_KIND", "github")
    assert load_config().tracker_api_url == "https://api.github.com"


def test_operational_problems_name_each_missing_variable() -> None:
    problems = " ".join(Config(kill_switch=False, allowlist="a/b").operational_problems())
    for name in ("AFK_TRACKER_KIND", "AFK_TRACKER_TOKEN", "AFK_T3_URL", "AFK_T3_TOKEN"):
        assert name in problems


def test_a_complete_config_has_no_operational_problems() -> None:
    config = Config(
        kill_switch=False,
        allowlist="a/b",
        tracker_kind="forgejo",
        tracker_url="https://git.example.com/api/v1/",
        tracker_token="x",
        t3_url="http://t3:3773",
        t3_token="y",
    )
    assert config.operational_problems() == []
    assert config.tracker_api_url == "https://git.example.com/api/v1"


def test_limits_and_policy_follow_the_settings() -> None:
    config = Config(max_fix_forwards=1, stall_minutes=5, deploy_context="deploy/prod")
    limits = config.limits()
    assert (limits.max_fix_forwards, limits.stall_minutes, limits.deploy_configured) == (1, 5, True)
    assert Config().limits().deploy_configured is False


def test_trusted_labelers_parse_from_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_TRUSTED_LABELERS", "alice, bob,,")
    assert load_config().trusted_labelers == frozenset({"alice", "bob"})
    monkeypatch.setenv("AFK_TRUSTED_LABELERS", " , ")
    assert load_config().trusted_labelers == frozenset()  # set, but to nobody: fails closed


def test_env_names_cover_every_documented_variable() -> None:
    documented = {
        "AFK_KILL_SWITCH", "AFK_ALLOWLIST", "AFK_TRACKER_KIND", "AFK_TRACKER_URL",
        "AFK_TRACKER_TOKEN", "AFK_BOT_LOGIN", "AFK_T3_URL", "AFK_T3_TOKEN", "AFK_T3_MODEL",
        "AFK_T3_WORKSPACE_BASE", "AFK_SLACK_TOKEN", "AFK_SLACK_CHANNEL", "AFK_SLACK_WEBHOOK_URL",
        "AFK_VAULT_ADDR", "AFK_VAULT_ROLE", "AFK_VAULT_MOUNT", "AFK_VAULT_PATH",
        "AFK_LABEL_READY", "AFK_LABEL_IN_PROGRESS", "AFK_LABEL_HUMAN", "AFK_MAX_CONCURRENT",
        "AFK_MAX_FIX_FORWARDS", "AFK_STALL_MINUTES", "AFK_MAX_RUN_MINUTES", "AFK_DEPLOY_CONTEXT",
        "AFK_TRUSTED_LABELERS", "AFK_HTTP_TIMEOUT_SECONDS", "AFK_HTTP_RETRY_SECONDS",
        "AFK_LOG_FORMAT",
    }  # fmt: skip
    assert documented <= Config.env_names()
