"""Fleet-scale settings: how a tick lists, the rate reserve, and GitHub App authentication."""

from __future__ import annotations

import pytest

from afk.core.config import AUTO_FLEET_THRESHOLD, load_config
from afk.errors import ConfigError


def _allowlist(count: int) -> str:
    return ",".join(f"acme/repo-{i}" for i in range(count))


def test_auto_lists_per_repo_below_the_threshold_and_fleet_wide_from_it() -> None:
    small = load_config(allowlist=_allowlist(AUTO_FLEET_THRESHOLD - 1))
    large = load_config(allowlist=_allowlist(AUTO_FLEET_THRESHOLD))
    assert small.listing == "auto" and not small.fleet_listing()
    assert large.fleet_listing()


@pytest.mark.parametrize(("listing", "fleet"), [("per-repo", False), ("fleet", True)])
def test_an_explicit_listing_wins_over_the_fleet_size(listing: str, fleet: bool) -> None:
    assert load_config(listing=listing, allowlist=_allowlist(500)).fleet_listing() is fleet
    assert load_config(listing=listing, allowlist="acme/one").fleet_listing() is fleet


def test_an_unknown_listing_is_a_configuration_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(listing="search")
    assert caught.value.setting == "AFK_LISTING"
    assert "auto" in str(caught.value) and "per-repo" in str(caught.value)


@pytest.mark.parametrize(("text", "share"), [("10%", 0.10), ("0.25", 0.25), (" 5 % ", 0.05)])
def test_the_reserve_reads_as_a_percentage_or_a_share(text: str, share: float) -> None:
    assert load_config(rate_reserve=text).rate_reserve == pytest.approx(share)


def test_the_default_reserve_keeps_a_tenth_of_each_limit_and_at_least_one_request() -> None:
    config = load_config()
    assert config.rate_reserve_of(5000) == 500
    assert config.rate_reserve_of(30) == 3
    assert config.rate_reserve_of(5) == 1
    assert load_config(rate_reserve="0").rate_reserve_of(5000) == 0


@pytest.mark.parametrize("text", ["ten", "95%", "-1", "abc%"])
def test_a_bad_reserve_is_a_configuration_error_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(rate_reserve=text)
    assert caught.value.setting == "AFK_RATE_RESERVE"


def test_an_app_needs_its_id_and_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(github_app_id="123")
    assert "AFK_GITHUB_APP_PRIVATE_KEY_FILE" in str(caught.value)
    with pytest.raises(ConfigError):
        load_config(github_app_private_key_file="/keys/app.pem")
    with pytest.raises(ConfigError):
        load_config(github_app_installation_id=7)


@pytest.mark.parametrize("app_id", ["123456", "Iv23liABCdef0123"])
def test_an_app_id_or_client_id_with_its_key_is_an_app(app_id: str) -> None:
    config = load_config(
        tracker_kind="github", github_app_id=app_id, github_app_private_key_file="/k/app.pem"
    )
    assert config.uses_github_app
    assert not any("TRACKER_TOKEN" in problem for problem in config.operational_problems())


@pytest.mark.parametrize("app_id", ["12a", "", "Iv1 x", "-5"])
def test_an_app_id_that_is_neither_is_refused(app_id: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(github_app_id=app_id or " ", github_app_private_key_file="/k.pem")
    assert caught.value.setting == "AFK_GITHUB_APP_ID"


def test_a_token_and_an_app_together_name_both_and_show_no_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            tracker_token="ghp_secret_value",
            github_app_id="123",
            github_app_private_key_file="/k.pem",
        )
    text = str(caught.value)
    assert "AFK_TRACKER_TOKEN" in text and "AFK_GITHUB_APP_ID" in text
    assert "ghp_secret_value" not in text


def test_an_app_is_for_github_only() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            tracker_kind="forgejo", github_app_id="123", github_app_private_key_file="/k.pem"
        )
    assert "AFK_TRACKER_KIND" in str(caught.value)


def test_the_new_variables_are_ones_afk_reads() -> None:
    from afk.core.config import Config

    names = Config.env_names()
    for name in (
        "AFK_LISTING",
        "AFK_RATE_RESERVE",
        "AFK_GITHUB_APP_ID",
        "AFK_GITHUB_APP_PRIVATE_KEY_FILE",
        "AFK_GITHUB_APP_INSTALLATION_ID",
    ):
        assert name in names
