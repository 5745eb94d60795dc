"""FakeVault answers what hvac sends and refuses what Vault would refuse."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from afk.testing.fake_vault import FakeVault
from afk.testing.serving import mock_transport

JWT = "fake-service-account-jwt"
VAULT_HEADERS = {"X-Vault-Request": "true"}
LOGIN = "/v1/auth/kubernetes/login"
READ = "/v1/secret/data/afk/t3"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeVault:
    return FakeVault("afk", JWT, {"afk/t3": {"token": "v1"}}, token_ttl_s=60, clock=clock)


@pytest.fixture
def http(fake: FakeVault) -> httpx.Client:
    return httpx.Client(base_url="http://vault.test", transport=mock_transport(fake.handle))


def login(http: httpx.Client, body: Any = None, **headers: str) -> httpx.Response:
    payload = {"role": "afk", "jwt": JWT} if body is None else body
    return http.post(LOGIN, json=payload, headers={**VAULT_HEADERS, **headers})


def token_of(http: httpx.Client) -> str:
    response = login(http)
    assert response.status_code == 200
    token = response.json()["auth"]["client_token"]
    assert isinstance(token, str)
    return token


def read(http: httpx.Client, token: str, path: str = READ, **params: str) -> httpx.Response:
    return http.get(path, params=params, headers={**VAULT_HEADERS, "X-Vault-Token": token})


def errors_of(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["errors"]
    assert isinstance(errors, list)
    return errors


def test_login_answers_with_a_client_token_and_its_lease(
    http: httpx.Client, fake: FakeVault
) -> None:
    response = login(http)
    assert response.status_code == 200
    auth = response.json()["auth"]
    assert auth["lease_duration"] == 60
    assert auth["renewable"] is True
    assert auth["client_token"] in fake.issued_tokens
    assert fake.logins == 1


def test_read_answers_the_kv_v2_shape(http: httpx.Client) -> None:
    response = read(http, token_of(http))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["data"] == {"token": "v1"}
    assert data["metadata"]["version"] == 1


def test_a_rotation_is_a_new_version_and_old_versions_stay_readable(
    http: httpx.Client, fake: FakeVault
) -> None:
    token = token_of(http)
    fake.set_secret("afk/t3", {"token": "v2"})
    assert read(http, token).json()["data"]["data"] == {"token": "v2"}
    old = read(http, token, version="1").json()["data"]
    assert old["data"] == {"token": "v1"}
    assert old["metadata"]["version"] == 1
    assert read(http, token, version="3").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"role": "other", "jwt": JWT}, 400, 'invalid role name "other"'),
        ({"role": "afk", "jwt": "wrong"}, 403, "permission denied"),
        ({"jwt": JWT}, 400, "missing role"),
        ({"role": "afk"}, 400, "missing jwt"),
        ({"role": "afk", "jwt": JWT, "extra": 1}, 400, "unexpected fields: extra"),
        (["afk", JWT], 400, "failed to parse JSON input: not an object"),
    ],
)
def test_login_refuses_bad_credentials_and_shapes(
    http: httpx.Client, fake: FakeVault, body: Any, status: int, message: str
) -> None:
    response = login(http, body)
    assert response.status_code == status
    assert errors_of(response) == [message]
    assert fake.logins == 0


def test_login_refuses_a_body_that_is_not_json(http: httpx.Client) -> None:
    response = http.post(LOGIN, content=b"role=afk", headers=VAULT_HEADERS)
    assert response.status_code == 400


def test_every_request_needs_the_vault_request_header(http: httpx.Client) -> None:
    assert http.post(LOGIN, json={"role": "afk", "jwt": JWT}).status_code == 412


def test_login_refuses_a_stale_token_riding_along(
    http: httpx.Client, fake: FakeVault, clock: Clock
) -> None:
    token = token_of(http)
    clock.now += 61
    assert login(http, **{"X-Vault-Token": token}).status_code == 403


def test_read_needs_a_valid_unexpired_token(
    http: httpx.Client, fake: FakeVault, clock: Clock
) -> None:
    assert http.get(READ, headers=VAULT_HEADERS).status_code == 403
    assert read(http, "made-up").status_code == 403
    token = token_of(http)
    clock.now += 61
    assert errors_of(read(http, token)) == ["permission denied"]
    other = token_of(http)
    fake.expire_tokens()
    assert read(http, other).status_code == 403


def test_unknown_secret_is_404_with_empty_errors(http: httpx.Client) -> None:
    response = read(http, token_of(http), "/v1/secret/data/afk/none")
    assert response.status_code == 404
    assert errors_of(response) == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", LOGIN, 405),
        ("POST", READ, 405),
        ("GET", "/v1/secret/metadata/afk/t3", 404),
        ("GET", "/v1/other/data/afk/t3", 404),
        ("POST", "/v1/auth/approle/login", 404),
    ],
)
def test_unknown_routes_and_methods_are_refused(
    http: httpx.Client, method: str, path: str, status: int
) -> None:
    token = token_of(http)
    response = http.request(method, path, headers={**VAULT_HEADERS, "X-Vault-Token": token})
    assert response.status_code == status


def test_read_refuses_unknown_query_parameters_and_bodies(http: httpx.Client) -> None:
    token = token_of(http)
    assert read(http, token, list="true").status_code == 400
    assert read(http, token, version="latest").status_code == 400
    with_body = http.request(
        "GET", READ, content=b"{}", headers={**VAULT_HEADERS, "X-Vault-Token": token}
    )
    assert with_body.status_code == 400


def test_fail_next_answers_the_canned_failure_then_recovers(
    http: httpx.Client, fake: FakeVault
) -> None:
    fake.fail_next(1, status=503, errors=("sealed",))
    response = login(http)
    assert response.status_code == 503
    assert errors_of(response) == ["sealed"]
    assert login(http).status_code == 200


def test_fail_next_can_target_one_method(http: httpx.Client, fake: FakeVault) -> None:
    fake.fail_next(1, status=500, method="GET")
    token = token_of(http)
    assert read(http, token).status_code == 500
    assert read(http, token).status_code == 200


def test_fail_next_can_drop_the_connection(http: httpx.Client, fake: FakeVault) -> None:
    fake.fail_next(1, drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        login(http)
    assert fake.logins == 0
