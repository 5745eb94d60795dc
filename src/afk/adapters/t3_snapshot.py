"""T3's read model, parsed once per tick, and the one liveness mapping afk trusts.

The snapshot is the whole fleet (every project, thread and message history), so it is parsed with
pydantic's JSON parser straight from bytes and indexed by id once. Newer T3 servers add fields and
older ones omit some: unknown fields are ignored, and a missing optional piece (no session, no
messages, an unparseable timestamp) reads as "nothing reported yet", never as a crash. Only a body
that is not a read model at all (HTML, malformed JSON, wrong types) is refused, with a
``SnapshotError`` the client turns into ``T3BadResponse``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.alias_generators import to_camel

from afk.core.types import ThreadLiveness


class SnapshotError(ValueError):
    """The snapshot body is not T3's read model; the message names where, never any content."""


def _lenient_time(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime | None:
    """An unreadable timestamp is "no report", and a naive one is taken as UTC (T3 stamps UTC)."""
    try:
        parsed: datetime | None = handler(value)
    except ValidationError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _empty_if_none(empty: Any) -> BeforeValidator:
    return BeforeValidator(lambda value: empty if value is None else value)


Timestamp = Annotated[datetime | None, WrapValidator(_lenient_time)]
Text = Annotated[str, _empty_if_none("")]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class LatestTurn(_Model):
    """``state`` stays a plain string: an unknown spelling must map to UNKNOWN, not fail parsing."""

    turn_id: str | None = None
    state: str | None = None
    requested_at: Timestamp = None
    started_at: Timestamp = None
    completed_at: Timestamp = None
    assistant_message_id: str | None = None


class Message(_Model):
    id: str | None = None
    role: str | None = None
    text: Text = ""
    turn_id: str | None = None
    streaming: bool = False
    created_at: Timestamp = None
    updated_at: Timestamp = None


class Session(_Model):
    status: str | None = None
    active_turn_id: str | None = None
    last_error: str | None = None


class Thread(_Model):
    id: str
    project_id: str | None = None
    title: str | None = None
    latest_turn: LatestTurn | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    deleted_at: Timestamp = None
    messages: Annotated[tuple[Message, ...], _empty_if_none(())] = ()
    session: Session | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class Project(_Model):
    id: str
    title: str | None = None
    workspace_root: str | None = None
    deleted_at: Timestamp = None


class ReadModel(_Model):
    snapshot_sequence: int | None = None
    projects: Annotated[tuple[Project, ...], _empty_if_none(())] = ()
    threads: Annotated[tuple[Thread, ...], _empty_if_none(())] = ()
    updated_at: Timestamp = None


# The contract's table. `errored`, `in_progress` and `pending` are not in T3's schema but appear in
# older notes; the contract allows reading them as error/running, which is what afk does.
_RUNNING_TURN = frozenset({"running", "in_progress", "pending"})
_ERROR_TURN = frozenset({"error", "errored"})
_STOPPED_SESSION = frozenset({"stopped", "interrupted"})


def liveness_of(thread: Thread | None) -> ThreadLiveness:
    """Map one observed thread to its liveness (T3_CONTRACT.md, "Liveness mapping").

    Precedence, first match wins: absent or deleted → MISSING; a turn or session in error → ERROR
    (the session's error is the best evidence even before a turn is projected); a running turn →
    RUNNING; an interrupted turn → STOPPED; a completed turn → IDLE; a stopped/interrupted session
    with no running turn → STOPPED; no turn yet → STARTING; anything else → UNKNOWN.

    A completed turn stays IDLE even when the session was stopped afterwards (e.g. reaped while
    idle): the turn ended normally, and whether the work is done is decided from the agent's phases
    and CI. An IDLE run that never pushed is escalated anyway, so nothing is lost by not calling
    it STOPPED, while a run that pushed is not escalated for a session the server tidied away.
    """
    if thread is None or thread.deleted:
        return ThreadLiveness.MISSING
    turn = thread.latest_turn
    state = turn.state if turn is not None else None
    session = thread.session.status if thread.session is not None else None
    if state in _ERROR_TURN or session == "error":
        return ThreadLiveness.ERROR
    if state in _RUNNING_TURN:
        return ThreadLiveness.RUNNING
    if state == "interrupted":
        return ThreadLiveness.STOPPED
    if state == "completed":
        return ThreadLiveness.IDLE
    if session in _STOPPED_SESSION:
        return ThreadLiveness.STOPPED
    if turn is None:
        return ThreadLiveness.STARTING
    return ThreadLiveness.UNKNOWN


def _times(thread: Thread) -> Iterator[datetime | None]:
    yield thread.updated_at
    if thread.latest_turn is not None:
        turn = thread.latest_turn
        yield from (turn.requested_at, turn.started_at, turn.completed_at)
    for message in thread.messages:
        yield from (message.created_at, message.updated_at)


class Snapshot:
    """One fetched read model, indexed by id; implements ``afk.core.ports.FleetView``."""

    def __init__(self, model: ReadModel) -> None:
        self.model = model
        self._projects = {project.id: project for project in model.projects}
        self._threads = {thread.id: thread for thread in model.threads}

    @classmethod
    def parse(cls, content: bytes) -> Snapshot:
        """Parse the snapshot body; raises ``SnapshotError`` when it is not a read model."""
        head = content.lstrip()[:1]
        if head == b"<":
            raise SnapshotError("the snapshot is an HTML page, not T3's read model")
        if head != b"{":
            raise SnapshotError("the snapshot is not a JSON object")
        try:
            model = ReadModel.model_validate_json(content)
        except ValidationError as exc:
            raise SnapshotError(_describe(exc)) from None
        return cls(model)

    @property
    def sequence(self) -> int | None:
        return self.model.snapshot_sequence

    def thread(self, thread_id: str) -> Thread | None:
        """The live (not deleted) thread, if any."""
        thread = self._threads.get(thread_id)
        return None if thread is None or thread.deleted else thread

    def has_project(self, project_id: str) -> bool:
        """A deleted project counts as absent, like a deleted thread."""
        project = self._projects.get(project_id)
        return project is not None and project.deleted_at is None

    def has_thread(self, thread_id: str) -> bool:
        return self.thread(thread_id) is not None

    def has_opening_message(self, thread_id: str) -> bool:
        thread = self.thread(thread_id)
        return thread is not None and any(m.role == "user" for m in thread.messages)

    def liveness(self, thread_id: str) -> ThreadLiveness:
        return liveness_of(self._threads.get(thread_id))

    def agent_text(self, thread_id: str) -> str:
        """Finished assistant messages, oldest first; a streaming one may cut a marker mid-line."""
        thread = self.thread(thread_id)
        if thread is None:
            return ""
        finished = [m for m in thread.messages if m.role == "assistant" and not m.streaming]
        if all(m.created_at is not None for m in finished):
            finished.sort(key=lambda m: m.created_at or datetime.min.replace(tzinfo=UTC))
        return "\n".join(m.text for m in finished)

    def last_activity_at(self, thread_id: str) -> datetime | None:
        thread = self.thread(thread_id)
        if thread is None:
            return None
        return max((t for t in _times(thread) if t is not None), default=None)

    def last_error(self, thread_id: str) -> str | None:
        thread = self.thread(thread_id)
        if thread is None or thread.session is None:
            return None
        return thread.session.last_error or None


def _describe(exc: ValidationError) -> str:
    """Where the body broke the read model, without echoing any of its content."""
    errors = exc.errors(include_input=False, include_url=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return "the snapshot is malformed JSON"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"the snapshot does not match T3's read model at {where}: {first['msg']}{more}"
