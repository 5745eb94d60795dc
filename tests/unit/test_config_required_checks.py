"""AFK_REQUIRED_CHECKS: the CI checks that must each report success before a run may close."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from afk.core.config import Config, load_config
from afk.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)


def test_off_by_default() -> None:
    assert Config().required_checks == ()


def test_a_comma_list_is_trimmed_and_deduplicated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_REQUIRED_CHECKS", " ci/build , e2e (push),ci/build,, ")
    assert load_config().required_checks == ("ci/build", "e2e (push)")


def test_an_empty_value_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFK_REQUIRED_CHECKS", " , ")
    assert load_config().required_checks == ()


def test_a_toml_list_works_too(tmp_path: Path) -> None:
    toml = tmp_path / "afk.toml"
    toml.write_text('required_checks = ["ci/build", "e2e"]\n', encoding="utf-8")
    assert load_config(toml).required_checks == ("ci/build", "e2e")


def test_the_deploy_context_cannot_be_a_required_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy is judged by the deploy check alone; as a CI requirement it would keep CI
    pending forever, so the configuration is refused and says why."""
    monkeypatch.setenv("AFK_DEPLOY_CONTEXT", "deploy/production")
    monkeypatch.setenv("AFK_REQUIRED_CHECKS", "ci/build,deploy/production")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.setting == "AFK_REQUIRED_CHECKS"
    assert "AFK_DEPLOY_CONTEXT" in str(caught.value)


def test_a_non_string_entry_is_an_error(tmp_path: Path) -> None:
    toml = tmp_path / "afk.toml"
    toml.write_text("required_checks = [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="AFK_REQUIRED_CHECKS"):
        load_config(toml)


def test_it_is_a_known_variable() -> None:
    assert "AFK_REQUIRED_CHECKS" in Config.env_names()
