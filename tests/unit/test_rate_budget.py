"""The rate budget: one parser of GitHub's headers, the tick's meter, the note when it is low."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from afk.adapters.github_app import JWT_BACKDATE_S, JWT_LIFETIME_S, GitHubApp
from afk.adapters.rate_meter import RateMeter
from afk.core.ports import Budget
from afk.core.rate_headers import read_rate_headers
from afk.loops.runs import budget_note
from afk.testing.github_app_kit import pem

API = "https://api.github.com"


def _headers(remaining: int, reset: int, resource: str | None = "core") -> dict[str, str]:
    found = {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }
    if resource is not None:
        found["x-ratelimit-resource"] = resource
    return found


def test_a_reply_without_a_resource_counts_against_core() -> None:
    reading = read_rate_headers(_headers(42, 1_800_000_000, resource=None))
    assert reading is not None
    assert (reading.resource, reading.remaining, reading.limit) == ("core", 42, 5000)
    assert reading.reset_at == datetime.fromtimestamp(1_800_000_000, UTC)


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-ratelimit-remaining": "1"}, {**_headers(1, 2), "x-ratelimit-limit": "many"}],
)
def test_a_torn_or_missing_reading_is_none(headers: dict[str, str]) -> None:
    assert read_rate_headers(headers) is None


def _reply(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(200, headers=headers, request=httpx.Request("GET", url))


def test_the_meter_keeps_the_lowest_reading_of_a_window_and_the_latest_window() -> None:
    meter = RateMeter(API, reserve_of=lambda limit: limit // 10)
    meter._observe(_reply(f"{API}/a", _headers(100, 1000)))
    meter._observe(_reply(f"{API}/b", _headers(120, 1000)))  # an earlier reply, late
    assert [b.remaining for b in meter.budgets()] == [100]
    meter._observe(_reply(f"{API}/c", _headers(4999, 4600)))  # the window rolled over
    assert [b.remaining for b in meter.budgets()] == [4999]
    meter._observe(_reply("https://t3.example/api", _headers(1, 9999)))  # another service
    assert [b.remaining for b in meter.budgets()] == [4999]


def test_each_resource_has_its_budget_and_its_reserve() -> None:
    meter = RateMeter(API, reserve_of=lambda limit: max(1, limit // 10))
    meter.observe(_headers(10, 1000, "search") | {"x-ratelimit-limit": "30"})
    meter.observe(_headers(600, 1000))
    core, search = meter.budgets()
    assert (core.resource, core.reserve, core.low) == ("core", 500, False)
    assert (search.resource, search.reserve, search.low) == ("search", 3, False)
    assert meter.seen("core") and not meter.seen("graphql")


class _Budgets:
    def __init__(self, *budgets: Budget) -> None:
        self._budgets = budgets

    def budgets(self) -> tuple[Budget, ...]:
        return self._budgets


def test_the_note_names_each_low_budget_its_reset_and_what_was_skipped() -> None:
    reset = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    low = Budget("core", 412, 5000, reset, 500)
    fine = Budget("search", 29, 30, reset, 3)
    note = budget_note(_Budgets(low, fine), ["dispatch of acme/a#1"])  # type: ignore[arg-type]
    assert note == (
        "rate budget low: core 412 left of 5000, resets at 2026-12-01T10:00:00+00:00; "
        "skipped: dispatch of acme/a#1"
    )
    assert budget_note(_Budgets(fine), ["x"]) is None  # type: ignore[arg-type]
    assert budget_note(_Budgets(low), []) is None  # type: ignore[arg-type]


def test_the_app_jwt_is_backdated_a_minute_and_lives_under_ten(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(pem(key))
    with httpx.Client() as http:
        app = GitHubApp(
            API, http=http, app_id="Iv23liABC", private_key_file=key_file, clock=lambda: 1e9
        )
        token = app.jwt()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token, key.public_key(), algorithms=["RS256"], options={"verify_exp": False}
    )
    assert claims == {
        "iat": 1_000_000_000 - JWT_BACKDATE_S,
        "exp": 1_000_000_000 + JWT_LIFETIME_S,
        "iss": "Iv23liABC",
    }
    assert claims["exp"] - claims["iat"] <= 600
