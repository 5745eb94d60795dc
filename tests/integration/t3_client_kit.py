"""What the ``T3Client`` tests share: the strict fake behind a wire recorder, and clients built
the way wiring builds them.

The fake records the commands it applied; the recorder also keeps what it cannot (the query of a
read, the bearer of each request, the reply a resent command got, a reply lost on the wire), so a
test can say exactly what crossed the wire in which order.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from afk.adapters.t3 import T3Client
from afk.core import ids
from afk.core.types import RepoRef
from afk.testing.fake_t3 import (
    DISPATCH_PATH,
    SHELL_PATH,
    SNAPSHOT_PATH,
    FakeT3,
    Version,
)
from afk.testing.serving import DropConnection, mock_transport
from tests.integration.t3_wire import REFUSED, Clock, error_of, turn_start

BASE = "http://t3.test"
SHELL_URL = BASE + SHELL_PATH
SNAPSHOT_URL = BASE + SNAPSHOT_PATH
DISPATCH_URL = BASE + DISPATCH_PATH
REPO = RepoRef("acme", "widgets")
ROOT = "/data/acme__widgets"
THREAD = ids.thread_id(REPO, 7, 1)
NOW = datetime(2026, 6, 15, 22, 27, tzinfo=UTC)
STAMP = "2026-06-15T22:27:00.000+00:00"
"""``NOW`` as the client stamps ``createdAt``."""
PROMPT = "Implement the frobnicator.\nThe magic words are XYZZY-PLUGH-42 and open sesame."
TOKEN = "t3-placeholder-bearer-9f8e7d6c5b4a"
USER_AGENT = "afk/0.1.0"
GENERATIONS: tuple[Version, ...] = ("0.0.33", "0.0.27")
ATTEMPTS = 3
EMPTY_FLEET = {
    "snapshotSequence": 0,
    "projects": [],
    "threads": [],
    "updatedAt": "2026-06-15T22:27:00.000Z",
}


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what came back; ``status`` is ``None`` when the reply was lost."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int | None
    reply: Any

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


class Wire:
    """``FakeT3`` behind a recorder of every exchange."""

    def __init__(self, fake: FakeT3) -> None:
        self.fake = fake
        self.exchanges: list[Exchange] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.fake.handle(request)
        except DropConnection:
            self._record(request, None, None)
            raise
        self._record(request, response.status_code, _json_or_none(response.content))
        return response

    def _record(self, request: httpx.Request, status: int | None, reply: Any) -> None:
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=request.url.path,
                query=dict(request.url.params),
                headers=dict(request.headers),
                body=_json_or_none(request.content) if request.content else None,
                status=status,
                reply=reply,
            )
        )

    def clear(self) -> None:
        """Forget what was sent so far (the fake's state stays)."""
        self.exchanges.clear()
        self.fake.reset_counts()

    def calls(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.exchanges]

    def posts(self, kind: str) -> list[Exchange]:
        """Every dispatch of one command type, answered or not, in order."""
        return [e for e in self.exchanges if isinstance(e.body, dict) and e.body["type"] == kind]


def make_fake(
    version: Version = "0.0.33", *, static_client: bool = False, clock: Clock | None = None
) -> FakeT3:
    return FakeT3(TOKEN, clock=clock or Clock(), version=version, static_client=static_client)


class Clients:
    """Builds clients over one wire (one per tick, as wiring does) and closes them afterwards."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack

    def __call__(
        self,
        wire: Wire,
        *,
        bearer: Callable[[], str] | None = None,
        base_url: str = BASE,
        **options: Any,
    ) -> T3Client:
        http = self._stack.enter_context(
            httpx.Client(
                transport=mock_transport(wire.handle),
                headers={"User-Agent": USER_AGENT},
                timeout=10,
            )
        )
        fake = wire.fake
        options.setdefault("now", lambda: NOW)
        return T3Client(base_url, http, bearer or (lambda: fake.token), **options)


def refuse_turn(fake: FakeT3, thread_id: str, key: str, generation: int) -> None:
    """Spend one turn ``commandId`` of afk's sequence: T3's engine refuses it (here: it names a
    thread that does not exist yet), and from then on T3 refuses that id forever."""
    body = turn_start(
        thread_id,
        commandId=ids.turn_command_id(thread_id, key, generation),
        message={
            "messageId": ids.turn_message_id(thread_id, key, generation),
            "role": "user",
            "text": "sent before the thread existed",
            "attachments": [],
        },
    )
    response = fake.handle(
        httpx.Request(
            "POST", DISPATCH_URL, json=body, headers={"Authorization": f"Bearer {fake.token}"}
        )
    )
    assert response.status_code == 500
    assert error_of(response) == REFUSED
