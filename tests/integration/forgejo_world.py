"""A small Forgejo world shared by the Forgejo adapter and fake tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from afk.core.types import RepoRef
from afk.testing.fake_forgejo import FakeForgejo
from afk.testing.forge_state import ForgeState
from afk.testing.serving import mock_transport

BASE = "https://forge.invalid/api/v1"
REPO = RepoRef("acme", "widgets")
FULL = str(REPO)
READY = "ready-for-agent"
IN_PROGRESS = "agent-in-progress"
BOT = "afk-bot"
BOT_TOKEN = "fj-test-canary-bot-0001"
ALICE_TOKEN = "fj-test-canary-alice-0002"
SHA = "0123456789abcdef0123456789abcdef01234567"
V11 = "11.0.1+gitea-1.22.0"
V15 = "15.0.3+gitea-1.22.0"
V16 = "16.0.0+gitea-1.22.0"
GENERATIONS = (V11, V15)
"""The LTS line and the current release: every Forgejo adapter and fake test runs on both."""


class StepClock:
    """Each reading is one second later, so every record has a distinct, ordered time."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class World:
    state: ForgeState
    fake: FakeForgejo
    http: httpx.Client

    def client(self, token: str = BOT_TOKEN) -> httpx.Client:
        """A raw client with a Forgejo token header, for talking to the fake directly."""
        return httpx.Client(
            transport=mock_transport(self.fake.handle),
            base_url=BASE,
            headers={"Authorization": f"token {token}"},
        )


def label_id(state: ForgeState, name: str) -> int:
    label = state.find_label(FULL, name)
    assert label is not None, name
    return label.id


def make_world(*, max_page_size: int = 50, version: str = V11) -> World:
    """``acme`` is an organisation, as the owner of an enrolled repo usually is."""
    state = ForgeState(clock=StepClock())
    state.add_org(REPO.owner)
    state.add_repo(FULL)
    state.add_user(BOT, BOT_TOKEN)
    state.add_user("alice", ALICE_TOKEN)
    for name in (READY, IN_PROGRESS, "ready-for-human", "P1"):
        state.add_label(FULL, name)
    fake = FakeForgejo(state, max_page_size=max_page_size, version=version)
    http = httpx.Client(transport=mock_transport(fake.handle))
    return World(state, fake, http)
