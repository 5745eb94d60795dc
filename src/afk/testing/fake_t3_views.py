"""What ``FakeT3`` shows on each read route, built from its state by pure functions.

The server generations differ mostly in what they read back, not in what they accept: from v0.0.32
the snapshot is a "command read model" whose threads carry no messages, the light shell lists only
live threads with a few derived flags, and the thread route can window a long conversation to its
last user-anchored turns. Keeping those rules here, away from the wire, lets each be read against
T3 Code's ``ProjectionSnapshotQuery`` (v0.0.33, upstream 2274444e) on its own.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EPOCH = "1970-01-01T00:00:00.000Z"
"""What the server answers as ``updatedAt`` when it holds nothing yet."""

MAX_RAW_TURNS_PER_PAGE = 150
"""T3 bounds one page of a windowed thread read to this many turns, user-anchored or not."""

_UNBOUNDED = ("~", "")  # "~" sorts after every ISO timestamp: no upper bound on the window


@dataclass(frozen=True, slots=True)
class Turn:
    """A turn as T3 projects it: when it was requested and which user message opened it.

    ``user_message_id`` is ``None`` for a turn no user message opened (the runtime started it, or
    a test control did); such turns ride along in a window without counting towards its limit.
    """

    turn_id: str
    requested_at: str
    user_message_id: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.requested_at, self.turn_id)


@dataclass(frozen=True, slots=True)
class Window:
    """A ``turnLimit`` request on the thread route, with the cursor it continues from (if any)."""

    turn_limit: int
    before_cursor: str | None = None


def open_requests(activities: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The approval and user-input request ids still waiting for an answer, in request order."""
    approvals: dict[str, None] = {}
    inputs: dict[str, None] = {}
    for activity in activities:
        payload = activity.get("payload")
        request_id = payload.get("requestId") if isinstance(payload, dict) else None
        if not isinstance(request_id, str):
            continue
        kind = activity["kind"]
        if kind == "approval.requested":
            approvals[request_id] = None
        elif kind == "approval.resolved":
            approvals.pop(request_id, None)
        elif kind == "user-input.requested":
            inputs[request_id] = None
        elif kind == "user-input.resolved":
            inputs.pop(request_id, None)
    return list(approvals), list(inputs)


def latest_user_message_at(messages: Iterable[Mapping[str, Any]]) -> str | None:
    stamps = [m["createdAt"] for m in messages if m["role"] == "user"]
    return max(stamps) if stamps else None


def updated_at(projects: Iterable[Mapping[str, Any]], threads: Iterable[Mapping[str, Any]]) -> str:
    """The newest stamp among the rows served, as the server computes the read's ``updatedAt``."""
    stamps = [EPOCH]
    for project in projects:
        stamps.append(project["updatedAt"])
    for thread in threads:
        stamps.append(thread["updatedAt"])
        if thread["session"] is not None:
            stamps.append(thread["session"]["updatedAt"])
        turn = thread["latestTurn"]
        if turn is not None:
            stamps.extend(
                s for s in (turn["requestedAt"], turn["startedAt"], turn["completedAt"]) if s
            )
    return max(stamps)


def snapshot_view(
    projects: Sequence[Mapping[str, Any]],
    threads: Sequence[Mapping[str, Any]],
    *,
    sequence: int,
    with_bodies: bool,
) -> dict[str, Any]:
    """``GET /snapshot``: every project and thread, deleted and archived ones included.

    ``with_bodies`` is the pre-v0.0.32 read (messages and activities hydrated); without it the
    threads keep ``latestTurn``, ``session`` and the lifecycle stamps but nothing they said.
    """
    served = [copy.deepcopy(dict(thread)) for thread in threads]
    if not with_bodies:
        for thread in served:
            thread["messages"] = []
            thread["activities"] = []
            thread["checkpoints"] = []
    return {
        "snapshotSequence": sequence,
        "projects": copy.deepcopy(list(projects)),
        "threads": served,
        "updatedAt": updated_at(projects, threads),
    }


_PROJECT_SHELL_FIELDS = (
    "id",
    "title",
    "workspaceRoot",
    "defaultModelSelection",
    "scripts",
    "createdAt",
    "updatedAt",
)
_THREAD_SHELL_FIELDS = (
    "id",
    "projectId",
    "title",
    "modelSelection",
    "runtimeMode",
    "interactionMode",
    "branch",
    "worktreePath",
    "latestTurn",
    "createdAt",
    "updatedAt",
    "archivedAt",
    "session",
)


def thread_shell(thread: Mapping[str, Any]) -> dict[str, Any]:
    """One thread as the shell lists it: no messages, a few flags derived from them instead."""
    approvals, inputs = open_requests(thread["activities"])
    shell = {name: copy.deepcopy(thread[name]) for name in _THREAD_SHELL_FIELDS}
    shell |= {
        "settledOverride": None,
        "settledAt": None,
        "latestUserMessageAt": latest_user_message_at(thread["messages"]),
        "hasPendingApprovals": bool(approvals),
        "hasPendingUserInput": bool(inputs),
        "hasActionableProposedPlan": False,
    }
    return shell


def shell_view(
    projects: Sequence[Mapping[str, Any]],
    threads: Sequence[Mapping[str, Any]],
    *,
    sequence: int,
) -> dict[str, Any]:
    """``GET /shell``: live projects, and threads neither deleted nor archived."""
    live = [t for t in threads if t["deletedAt"] is None and t["archivedAt"] is None]
    return {
        "snapshotSequence": sequence,
        "projects": [
            {name: copy.deepcopy(p[name]) for name in _PROJECT_SHELL_FIELDS}
            for p in projects
            if p["deletedAt"] is None
        ],
        "threads": [thread_shell(t) for t in live],
        "updatedAt": updated_at(projects, live),
    }


def encode_cursor(thread_id: str, turn: Turn) -> str:
    raw = json.dumps(
        {"threadId": thread_id, "beforeAnchorAt": turn.requested_at, "beforeTurnId": turn.turn_id}
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(thread_id: str, cursor: str) -> tuple[str, str] | None:
    """The (anchor, turn) a cursor points before; ``None`` for a malformed or foreign one.

    T3 degrades a stale cursor to "the most recent page" rather than failing the read.
    """
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(raw, dict) or raw.get("threadId") != thread_id:
        return None
    anchor, turn_id = raw.get("beforeAnchorAt"), raw.get("beforeTurnId")
    if not isinstance(anchor, str) or not isinstance(turn_id, str):
        return None
    return (anchor, turn_id)


def _select_turns(
    turns: Sequence[Turn], user_message_ids: set[str], limit: int, before: tuple[str, str]
) -> list[Turn]:
    """Walk back from ``before`` until ``limit`` user-anchored turns are in; oldest first."""
    candidates = sorted((t for t in turns if t.key < before), key=lambda t: t.key, reverse=True)
    chosen: list[Turn] = []
    seen = 0
    for turn in candidates[:MAX_RAW_TURNS_PER_PAGE]:
        is_user = turn.user_message_id in user_message_ids
        seen += is_user
        if seen > limit or (seen == limit and not is_user):
            break
        chosen.append(turn)
    return chosen[::-1]


def _windowed(
    items: Sequence[Mapping[str, Any]],
    turn_ids: set[str],
    low: tuple[str, str],
    high: tuple[str, str],
    keep: set[str],
) -> list[dict[str, Any]]:
    """Rows of a turn inside the window, plus turnless rows stamped inside its time range."""
    kept = []
    for item in items:
        turn_id = item["turnId"]
        inside = (
            turn_id in turn_ids if turn_id is not None else low[0] <= item["createdAt"] < high[0]
        )
        if inside or item["id"] in keep:
            kept.append(copy.deepcopy(dict(item)))
    return kept


def thread_view(
    thread: Mapping[str, Any],
    turns: Sequence[Turn],
    *,
    sequence: int,
    thread_sequence: int,
    window: Window | None,
) -> dict[str, Any]:
    """``GET /threads/{id}``: the whole thread, or its last ``turn_limit`` user-anchored turns.

    A windowed read adds ``page``; its ``beforeCursor`` fetches the disjoint older page. A thread
    with no turns at all is served whole even when windowed, so a just-created thread's opening
    message is never hidden.
    """
    served = copy.deepcopy(dict(thread))
    served["deletedAt"] = None
    if window is None:
        return {"snapshotSequence": sequence, "thread": served}
    before = _UNBOUNDED
    cursor = (
        None if window.before_cursor is None else decode_cursor(thread["id"], window.before_cursor)
    )
    if cursor is not None:
        before = cursor
    user_ids = {m["id"] for m in thread["messages"] if m["role"] == "user"}
    chosen = _select_turns(turns, user_ids, window.turn_limit, before)
    oldest = chosen[0] if chosen else None
    if oldest is not None or cursor is not None:
        low = oldest.key if oldest is not None else before
        in_range = {t.turn_id for t in turns if low <= t.key < before}
        approvals, inputs = open_requests(thread["activities"])
        pending = set(approvals) | set(inputs)
        pinned = {
            a["id"]
            for a in thread["activities"]
            if a["kind"] in ("approval.requested", "user-input.requested")
            and a["payload"].get("requestId") in pending
        }
        served["messages"] = _windowed(thread["messages"], in_range, low, before, set())
        served["activities"] = _windowed(thread["activities"], in_range, low, before, pinned)
    has_more = oldest is not None and any(t.key < oldest.key for t in turns)
    return {
        "snapshotSequence": sequence,
        "thread": served,
        "page": {
            "beforeCursor": (
                encode_cursor(thread["id"], oldest) if has_more and oldest is not None else None
            ),
            "hasMore": has_more,
            "snapshotSequence": sequence,
            "threadSequence": thread_sequence,
        },
    }
