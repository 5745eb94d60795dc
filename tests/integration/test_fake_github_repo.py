"""FakeGitHub serves ``GET /repos/{owner}/{repo}`` (the repo and its default branch) as GitHub
does: a full-repository reply its own contract check accepts, 404 for a repo it does not hold."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from afk.testing.fake_github import FakeGitHub
from afk.testing.serving import mock_transport

TOKEN = "gh-fake-canary-0003"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    fake = FakeGitHub()
    fake.state.add_user("afk-bot", TOKEN)
    fake.state.add_repo("acme/widgets", default_branch="trunk")
    with httpx.Client(
        transport=mock_transport(fake.handle), base_url="https://api.github.com", headers=HEADERS
    ) as http:
        yield http


def test_the_repo_names_its_default_branch(client: httpx.Client) -> None:
    reply = client.get("/repos/acme/widgets")
    assert reply.status_code == 200
    body = reply.json()
    assert (body["full_name"], body["default_branch"]) == ("acme/widgets", "trunk")
    assert body["owner"]["login"] == "acme"


def test_an_unknown_repo_is_404(client: httpx.Client) -> None:
    assert client.get("/repos/acme/nothing").status_code == 404
