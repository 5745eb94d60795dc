"""afk as a GitHub App against FakeGitHub, which verifies the JWT with the App's public key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from afk.adapters.github_app import AppGitHubTracker, GitHubApp
from afk.core.types import RepoRef
from afk.errors import ConfigError, TrackerAuthError
from afk.testing.fake_github_fleet import fleet
from afk.testing.world import World

APP_ID, SLUG, INSTALLATION = 4242, "afk-app", 77
REPO = RepoRef("acme", "widgets")


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return _key()


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def world(key: rsa.RSAPrivateKey) -> Iterator[World]:
    with World(forge="github", repos=(str(REPO),)) as world:
        fleet(world.forge).register_app(app_id=APP_ID, slug=SLUG, public_key_pem=_public(key))
        fleet(world.forge).install("acme", INSTALLATION)
        yield world


def _app_settings(world: World, key_file: Path) -> dict[str, object]:
    return {
        "tracker_token": None,
        "github_app_id": str(APP_ID),
        "github_app_private_key_file": key_file,
    }


def test_a_tick_runs_as_the_app_installation_and_knows_its_bot_login(
    world: World, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(_pem(key))
    config = world.config(**_app_settings(world, key_file))
    number = world.ready_issue(str(REPO), "fix it")

    report = world.poll(config)
    assert [(row.action, row.issue) for row in report.actions] == [("dispatch", number)]
    authors = {c.user for c in world.state.comments(str(REPO), number)}
    assert authors == {f"{SLUG}[bot]"}
    assert fleet(world.forge).minted_count == 1  # one token for the whole tick

    watch = world.watch(config)  # the run comment's author check knows afk's own login
    assert [row.action for row in watch.actions] == ["wait"]
    assert not any(r.path == "/user" for r in world.forge.requests)
    assert world.forge.violations == []


def test_a_jwt_signed_with_another_key_is_refused_and_nothing_is_written(
    world: World, tmp_path: Path
) -> None:
    key_file = tmp_path / "other.pem"
    key_file.write_bytes(_pem(_key()))
    config = world.config(**_app_settings(world, key_file))
    world.ready_issue(str(REPO), "fix it")
    report = world.poll(config)
    assert report.errors and report.actions == []
    assert world.forge.writes == [
        r for r in world.forge.writes if r.path.endswith("/access_tokens")
    ]
    assert fleet(world.forge).minted_count == 0


def _app(
    world: World, key: rsa.RSAPrivateKey, tmp_path: Path, http: httpx.Client, **kw: object
) -> GitHubApp:
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(_pem(key))
    return GitHubApp(
        world.tracker_url,
        http=http,
        app_id=str(APP_ID),
        private_key_file=key_file,
        **kw,  # type: ignore[arg-type]
    )


def test_the_jwt_claims_are_backdated_short_lived_and_name_the_app(
    world: World, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    with httpx.Client(transport=world._http._transport) as http:  # type: ignore[union-attr]
        app = _app(world, key, tmp_path, http)
        claims = jwt.decode(app.jwt(), key.public_key(), algorithms=["RS256"])
        now = time.time()
        assert now - 65 <= claims["iat"] <= now - 55
        assert claims["exp"] - claims["iat"] <= 600 and claims["exp"] > now
        assert claims["iss"] == str(APP_ID)


def test_an_expired_or_too_long_jwt_is_refused(
    world: World, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    with httpx.Client(transport=world._http._transport) as http:  # type: ignore[union-attr]
        stale = _app(world, key, tmp_path, http, clock=lambda: time.time() - 3600)
        with pytest.raises(TrackerAuthError):
            stale.bot_login()
        now = int(time.time())
        long = jwt.encode({"iat": now - 60, "exp": now + 1200, "iss": str(APP_ID)}, key, "RS256")
        reply = http.get(f"{world.tracker_url}/app", headers={"Authorization": f"Bearer {long}"})
        assert reply.status_code == 401
        reply = http.get(
            f"{world.tracker_url}/app", headers={"Authorization": "Bearer forge-token-afk-bot"}
        )
        assert reply.status_code == 401


def test_a_token_that_expires_mid_tick_is_renewed_once(
    world: World, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    number = world.ready_issue(str(REPO), "fix it")
    with httpx.Client(transport=world._http._transport) as http:  # type: ignore[union-attr]
        app = _app(world, key, tmp_path, http)
        tracker = AppGitHubTracker(world.tracker_url, http=http, bearer=app.bearer_for(REPO))
        assert tracker.get_issue(REPO, number).number == number
        assert app.minted == 1
        tracker.get_issue(REPO, number)
        assert app.minted == 1  # reused
        fleet(world.forge).expire_tokens()
        assert tracker.get_issue(REPO, number).number == number
        assert app.minted == 2
        assert fleet(world.forge).minted_count == 2


def test_a_key_file_that_is_not_a_key_is_a_configuration_error_without_its_content(
    world: World, tmp_path: Path
) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text("not-a-key-but-a-secret-canary")
    with httpx.Client() as http:
        app = GitHubApp(world.tracker_url, http=http, app_id="1", private_key_file=key_file)
        with pytest.raises(ConfigError) as caught:
            app.jwt()
    assert caught.value.setting == "AFK_GITHUB_APP_PRIVATE_KEY_FILE"
    assert "canary" not in str(caught.value)


def test_an_owner_without_the_app_installed_is_an_error_naming_it(
    world: World, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    world.add_repo("other/repo")
    with httpx.Client(transport=world._http._transport) as http:  # type: ignore[union-attr]
        app = _app(world, key, tmp_path, http)
        with pytest.raises(Exception, match="installation"):
            app.token(RepoRef("other", "repo"))


def test_doctor_follows_the_app_from_its_key_to_each_repo(world: World, tmp_path: Path) -> None:
    from afk.doctor_app import app_checks
    from afk.testing.github_app_kit import as_app

    world.add_repo("acme/second")
    world.add_repo("solo/repo")  # an owner the App is not installed on
    world.repos = (*world.repos, RepoRef("acme", "second"), RepoRef("solo", "repo"))
    settings = as_app(world, tmp_path)
    settings.pop("github_app_installation_id")  # found per owner
    fleet(world.forge).installations_only("acme")
    assert world._http is not None
    checks = app_checks(world.config(**settings), world._http)
    assert [(c.name, c.ok) for c in checks] == [
        ("GitHub App key", True),
        ("GitHub App JWT", True),
        ("GitHub App installation for acme", True),
        ("GitHub App reads acme/widgets", True),
        ("GitHub App reads acme/second", True),
        ("GitHub App installation for solo", False),
    ]
    assert "afk-app[bot]" in checks[1].detail
    assert "install the App on solo" in checks[-1].hint


def test_doctor_stops_at_a_key_that_does_not_parse(world: World, tmp_path: Path) -> None:
    from afk.doctor_app import app_checks
    from afk.testing.github_app_kit import as_app

    settings = as_app(world, tmp_path)
    Path(str(settings["github_app_private_key_file"])).write_text("canary-not-a-key")
    assert world._http is not None
    checks = app_checks(world.config(**settings), world._http)
    assert [(c.name, c.ok) for c in checks] == [("GitHub App key", False)]
    assert "canary" not in checks[0].detail


def test_pull_requests_are_read_as_the_app_too(world: World, tmp_path: Path) -> None:
    from afk import wiring
    from afk.adapters.github_pulls import GitHubPulls
    from afk.testing.github_app_kit import as_app

    config = world.config(delivery="pull-request", **as_app(world, tmp_path))
    assert world._http is not None
    pulls = wiring.pull_requests(config, world._http)
    assert pulls is not None
    assert pulls.find(REPO, "afk/issue-1-1") is None  # read with an installation token
    assert isinstance(pulls, GitHubPulls) and pulls.bot_login() == f"{SLUG}[bot]"
    assert not any(r.path == "/user" for r in world.forge.requests)


def test_the_fleet_search_renews_an_expired_token_once_too(world: World, tmp_path: Path) -> None:
    from afk.testing.github_app_kit import as_app

    config = world.config(listing="fleet", **as_app(world, tmp_path))
    number = world.ready_issue(str(REPO), "fix it")
    tracker = world.deps(config).tracker
    assert [i.number for i in tracker.list_fleet(world.repos, "ready-for-agent")] == [number]
    fleet(world.forge).expire_tokens()
    assert [i.number for i in tracker.list_fleet(world.repos, "ready-for-agent")] == [number]
    assert fleet(world.forge).minted_count == 2
