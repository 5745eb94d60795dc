"""Bearer providers: env, file and Vault (hvac over a loopback FakeVault)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from afk.adapters.secrets import EnvBearer, FileBearer, VaultBearer
from afk.errors import AfkError, ConfigError, SecretError
from afk.testing.fake_vault import FakeVault
from afk.testing.serving import Handler, loopback_server

ROLE = "afk"
PATH = "afk/t3"


def canary(kind: str) -> str:
    return f"{kind}-canary-{uuid.uuid4().hex}"


class Clock:
    """A settable monotonic clock shared by the bearer and the fake."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def assert_hidden(error: BaseException, *secrets: str) -> None:
    """Not in the error, nor in any exception it was raised from or while handling."""
    seen: BaseException | None = error
    while seen is not None:
        for secret in secrets:
            assert secret not in str(seen)
            assert secret not in repr(seen)
            assert secret not in str(seen.args)
        seen = seen.__cause__ or seen.__context__


# env


def test_env_bearer_returns_the_configured_value() -> None:
    value = canary("t3")
    assert EnvBearer(SecretStr(value))() == value
    assert EnvBearer(f"  {value}\n")() == value


def test_env_bearer_never_shows_its_value() -> None:
    value = canary("t3")
    bearer = EnvBearer(value, source="AFK_T3_TOKEN")
    assert bearer.describe() == "static value from AFK_T3_TOKEN"
    assert value not in repr(bearer)


@pytest.mark.parametrize("value", ["", "   \n"])
def test_env_bearer_refuses_an_empty_value(value: str) -> None:
    with pytest.raises(SecretError, match="empty"):
        EnvBearer(value)()


# file


def test_file_bearer_rereads_the_file_on_every_call(tmp_path: Path) -> None:
    """A Kubernetes secret volume rewrites the file in place: the next call sees the new value."""
    token_file = tmp_path / "t3-token"
    first, second = canary("first"), canary("second")
    token_file.write_text(f"{first}\n")
    bearer = FileBearer(token_file)
    assert bearer() == first
    token_file.write_text(second)
    assert bearer() == second


def test_file_bearer_names_the_path_when_the_file_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(SecretError) as caught:
        FileBearer(missing)()
    assert str(missing) in str(caught.value)
    assert "no such file" in str(caught.value)


def test_file_bearer_refuses_an_empty_file(tmp_path: Path) -> None:
    token_file = tmp_path / "t3-token"
    token_file.write_text(" \n")
    with pytest.raises(SecretError, match="empty"):
        FileBearer(token_file)()


def test_file_bearer_never_quotes_the_content(tmp_path: Path) -> None:
    """Undecodable bytes or a multi-word file are refused without echoing what was read."""
    secret = canary("inner")
    bad_utf8 = tmp_path / "bad"
    bad_utf8.write_bytes(secret.encode() + b"\xff\xfe")
    two_words = tmp_path / "two"
    two_words.write_text(f"{secret} {secret}")
    for path, why in ((bad_utf8, "UTF-8"), (two_words, "whitespace")):
        with pytest.raises(SecretError, match=why) as caught:
            FileBearer(path)()
        assert_hidden(caught.value, secret)


def test_file_bearer_strips_a_byte_order_mark(tmp_path: Path) -> None:
    """Editors on Windows save UTF-8 with a BOM; the token is what follows it."""
    value = canary("t3")
    token_file = tmp_path / "t3-token"
    token_file.write_bytes(b"\xef\xbb\xbf" + value.encode() + b"\r\n")
    assert FileBearer(token_file)() == value


ODD_CHARACTERS = {
    "non-ascii letter": "\u00e9",
    "zero-width space": "\u200b",
    "byte-order mark inside": "\ufeff",
    "nul": "\x00",
    "escape": "\x1b",
    "delete": "\x7f",
}


@pytest.mark.parametrize("odd", list(ODD_CHARACTERS.values()), ids=list(ODD_CHARACTERS))
def test_a_token_file_with_an_odd_character_is_a_config_error_naming_the_setting(
    tmp_path: Path, odd: str
) -> None:
    value = canary("t3")
    token_file = tmp_path / "t3-token"
    token_file.write_text(f"{value[:8]}{odd}{value[8:]}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        FileBearer(token_file, setting="AFK_T3_TOKEN_FILE")()
    assert caught.value.setting == "AFK_T3_TOKEN_FILE"
    assert "AFK_T3_TOKEN_FILE" in str(caught.value)
    assert "printable ASCII" in str(caught.value)
    assert_hidden(caught.value, value, value[:8], value[8:])


@pytest.mark.parametrize("odd", list(ODD_CHARACTERS.values()), ids=list(ODD_CHARACTERS))
def test_a_token_value_with_an_odd_character_is_a_config_error_naming_the_setting(
    odd: str,
) -> None:
    value = canary("t3")
    with pytest.raises(ConfigError) as caught:
        EnvBearer(f"{value}{odd}", source="AFK_T3_TOKEN")()
    assert caught.value.setting == "AFK_T3_TOKEN"
    assert_hidden(caught.value, value)


def test_file_bearer_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="directory"):
        FileBearer(tmp_path)()


def test_file_bearer_describes_its_path(tmp_path: Path) -> None:
    token_file = tmp_path / "t3-token"
    token_file.write_text(canary("t3"))
    bearer = FileBearer(token_file)
    assert bearer.describe() == f"file {token_file}"
    assert token_file.read_text() not in repr(bearer)


# vault


class VaultWorld:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.jwt = canary("jwt")
        self.value = canary("t3")
        self.jwt_path = tmp_path / "sa-token"
        self.jwt_path.write_text(self.jwt + "\n")
        self.fake = FakeVault(
            ROLE, self.jwt, {PATH: {"token": self.value}}, token_ttl_s=600, clock=self.clock
        )
        self.url = ""

    def bearer(self, *, role: str = ROLE, path: str = PATH, key: str = "token") -> VaultBearer:
        return VaultBearer(
            self.url,
            role,
            "secret",
            path,
            key=key,
            jwt_path=self.jwt_path,
            timeout_s=1,
            clock=self.clock,
        )

    def all_secrets(self) -> tuple[str, ...]:
        return (self.jwt, self.value, *self.fake.issued_tokens)


class Switch:
    """One loopback server for the module; each test plugs its own fake in."""

    def __init__(self) -> None:
        self.handler: Handler | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert self.handler is not None
        return self.handler(request)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Switch]]:
    switch = Switch()
    with loopback_server(switch) as url:
        yield url, switch


@pytest.fixture
def vault(tmp_path: Path, server: tuple[str, Switch]) -> VaultWorld:
    world = VaultWorld(tmp_path)
    world.url, switch = server
    switch.handler = world.fake.handle
    return world


def test_vault_bearer_logs_in_then_reads_the_secret(vault: VaultWorld) -> None:
    bearer = vault.bearer()
    assert bearer() == vault.value
    assert vault.fake.logins == 1
    assert vault.fake.requests == [
        ("POST", "/v1/auth/kubernetes/login"),
        ("GET", f"/v1/secret/data/{PATH}"),
    ]


def test_vault_bearer_reuses_its_client_token_and_rereads_the_secret(vault: VaultWorld) -> None:
    """The secret rotates, so it is read on every call; the Vault login is not repeated."""
    bearer = vault.bearer()
    assert bearer() == vault.value
    rotated = canary("rotated")
    vault.fake.set_secret(PATH, {"token": rotated})
    assert bearer() == rotated
    assert vault.fake.logins == 1
    assert vault.fake.reads == [PATH, PATH]


def test_vault_bearer_logs_in_once_more_when_its_token_is_refused(vault: VaultWorld) -> None:
    bearer = vault.bearer()
    bearer()
    vault.fake.expire_tokens()
    assert bearer() == vault.value
    assert vault.fake.logins == 2
    assert [method for method, _ in vault.fake.requests] == ["POST", "GET", "GET", "POST", "GET"]


def test_vault_bearer_logs_in_before_the_lease_runs_out(vault: VaultWorld) -> None:
    """Past the lease (less a margin) it logs in first instead of spending a refused read."""
    bearer = vault.bearer()
    bearer()
    vault.clock.now += 590
    assert bearer() == vault.value
    assert vault.fake.logins == 2
    assert [method for method, _ in vault.fake.requests] == ["POST", "GET", "POST", "GET"]


def test_vault_bearer_retries_a_refused_read_only_once(vault: VaultWorld) -> None:
    bearer = vault.bearer()
    bearer()
    vault.fake.fail_next(2, status=403, errors=("permission denied",), method="GET")
    with pytest.raises(SecretError) as caught:
        bearer()
    assert caught.value.status == 403
    assert vault.fake.logins == 2
    assert_hidden(caught.value, *vault.all_secrets())


def test_vault_bearer_does_not_log_in_again_after_a_fresh_login_is_refused(
    vault: VaultWorld,
) -> None:
    """A read refused right after a login is a policy problem: logging in again cannot help."""
    vault.fake.fail_next(1, status=403, errors=("permission denied",), method="GET")
    with pytest.raises(SecretError, match="permission denied"):
        vault.bearer()()
    assert vault.fake.logins == 1


def test_vault_bearer_wrong_role_is_a_secret_error_without_the_jwt(vault: VaultWorld) -> None:
    with pytest.raises(SecretError) as caught:
        vault.bearer(role="intruder")()
    error = caught.value
    assert error.service == "Vault"
    assert error.status == 400
    assert "login" in error.operation
    assert "invalid role name" in str(error)
    assert_hidden(error, vault.jwt, vault.value)


def test_vault_bearer_wrong_jwt_is_a_secret_error_without_the_jwt(vault: VaultWorld) -> None:
    wrong = canary("wrong-jwt")
    vault.jwt_path.write_text(wrong)
    with pytest.raises(SecretError) as caught:
        vault.bearer()()
    assert caught.value.status == 403
    assert_hidden(caught.value, wrong, vault.jwt, vault.value)


def test_vault_bearer_rereads_the_jwt_at_each_login(vault: VaultWorld) -> None:
    """Kubernetes rotates projected service-account tokens, so a cached JWT would go stale."""
    bearer = vault.bearer()
    bearer()
    new_jwt = canary("new-jwt")
    vault.fake.jwt = new_jwt
    vault.jwt_path.write_text(new_jwt)
    vault.fake.expire_tokens()
    assert bearer() == vault.value


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_vault_server_errors_are_secret_errors(vault: VaultWorld, method: str) -> None:
    vault.fake.fail_next(1, status=500, errors=("internal error",), method=method)
    with pytest.raises(SecretError) as caught:
        vault.bearer()()
    assert caught.value.status == 500
    assert "internal error" in str(caught.value)
    assert_hidden(caught.value, *vault.all_secrets())


def test_vault_errors_that_echo_a_credential_are_scrubbed(vault: VaultWorld) -> None:
    vault.fake.fail_next(1, status=400, errors=(f"bad jwt {vault.jwt}",), method="POST")
    with pytest.raises(SecretError) as caught:
        vault.bearer()()
    assert_hidden(caught.value, vault.jwt)


def test_vault_unknown_path_is_a_404_secret_error(vault: VaultWorld) -> None:
    with pytest.raises(SecretError) as caught:
        vault.bearer(path="afk/nothing")()
    assert caught.value.status == 404
    assert "afk/nothing" in str(caught.value)


def test_vault_missing_key_names_the_key_not_the_value(vault: VaultWorld) -> None:
    with pytest.raises(SecretError, match="'password'") as caught:
        vault.bearer(key="password")()
    assert_hidden(caught.value, *vault.all_secrets())


def test_vault_missing_jwt_file_names_the_path(vault: VaultWorld) -> None:
    vault.jwt_path.unlink()
    with pytest.raises(SecretError) as caught:
        vault.bearer()()
    assert str(vault.jwt_path) in str(caught.value)


def test_vault_lost_connection_is_a_secret_error(vault: VaultWorld) -> None:
    vault.fake.fail_next(1, drop=True)
    with pytest.raises(SecretError, match="connection failed"):
        vault.bearer()()


def test_vault_unreachable_is_a_secret_error(tmp_path: Path) -> None:
    world = VaultWorld(tmp_path)
    with loopback_server(world.fake.handle) as url:
        world.url = url
    with pytest.raises(SecretError, match="connection failed"):
        world.bearer()()


def test_vault_slow_answer_is_a_timeout_secret_error(tmp_path: Path) -> None:
    world = VaultWorld(tmp_path)
    with loopback_server(world.fake.handle, latency_s=1.5) as url:
        world.url = url
        with pytest.raises(SecretError, match="timed out"):
            world.bearer()()


def test_vault_bearer_describe_and_repr_hide_the_value(vault: VaultWorld) -> None:
    bearer = vault.bearer()
    bearer()
    assert bearer.describe() == f"vault {vault.url} kv secret/{PATH} key token (role {ROLE})"
    for secret in vault.all_secrets():
        assert secret not in repr(bearer)


def test_every_provider_error_is_an_afk_error(tmp_path: Path) -> None:
    with pytest.raises(AfkError):
        FileBearer(tmp_path / "absent")()
