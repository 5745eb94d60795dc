"""What one thread says: the agent's finished messages and any request it is blocked on.

Read from the thread route (``GET /threads/{id}``, T3 Code v0.0.29 and on) or, on a server too
old to have it, from the snapshot's copy of the thread. Requests are read from the thread's
activities as T3 itself counts them (its decider's ``hasOpenBlockingRequest``): an
``approval.requested`` or ``user-input.requested`` with no later ``…resolved`` for the same
``requestId`` is open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from afk.adapters.t3_read_model import Activity, Thread
from afk.core.ports import Transcript

_OPENS = frozenset({"approval.requested", "user-input.requested"})
_CLOSES = frozenset(
    {
        "approval.resolved",
        "user-input.resolved",
        "provider.approval.respond.failed",
        "provider.user-input.respond.failed",
    }
)
_MAX_QUESTION = 500
_EPOCH = datetime.min.replace(tzinfo=UTC)


def transcript_of(thread: Thread, *, complete: bool = True) -> Transcript:
    """The thread's transcript; ``complete`` is False when only its newest turns were read."""
    finished = [m for m in thread.messages if m.role == "assistant" and not m.streaming]
    if all(m.created_at is not None for m in finished):
        finished.sort(key=lambda m: m.created_at or _EPOCH)
    return Transcript(
        agent_text="\n".join(m.text for m in finished),
        has_user_message=any(m.role == "user" for m in thread.messages),
        question=open_request(thread.activities),
        complete=complete,
    )


def open_request(activities: tuple[Activity, ...]) -> str | None:
    """The newest approval or question the agent still waits on, in words; ``None`` if none."""
    open_ones: dict[str, str] = {}
    for activity in activities:
        payload = activity.payload if isinstance(activity.payload, dict) else {}
        request = payload.get("requestId")
        if not isinstance(request, str):
            continue
        if activity.kind in _OPENS:
            open_ones.pop(request, None)
            open_ones[request] = _words(activity, payload)
        elif activity.kind in _CLOSES:
            open_ones.pop(request, None)
    if not open_ones:
        return None
    words = list(open_ones.values())[-1]
    return words if len(words) <= _MAX_QUESTION else f"{words[:_MAX_QUESTION]}…"


def _words(activity: Activity, payload: dict[str, Any]) -> str:
    if activity.kind == "user-input.requested":
        questions = payload.get("questions")
        asked = (
            [
                q["question"]
                for q in questions
                if isinstance(q, dict) and isinstance(q.get("question"), str)
            ]
            if isinstance(questions, list)
            else []
        )
        return " / ".join(asked) or activity.summary or "a question"
    detail = payload.get("detail")
    what = activity.summary or "Approval requested"
    return f"{what}: {detail}" if isinstance(detail, str) and detail else what
