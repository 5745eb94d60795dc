"""T3's three read routes, parsed: the snapshot, the shell, and one thread.

T3 Code serves them as JSON (the server's ``OrchestrationReadModel``, ``OrchestrationShellSnapshot``
and ``OrchestrationThreadDetailSnapshot``). Newer servers add fields and older ones omit some, so
unknown fields are ignored and a missing optional piece reads as "nothing reported yet".

Two kinds of damage never stop a tick:
- text no JSON encoder should produce but every JavaScript one can: a lone UTF-16 surrogate
  escape (``\\ud83d`` cut from its pair in a user's thread title or message), or bytes that are
  not UTF-8. Python's own JSON reader takes those; pydantic's refuses them, which once made the
  whole snapshot "malformed". The body is mended (each lone surrogate becomes U+FFFD, the
  replacement character, as do undecodable bytes) and parsed again, so broken text never
  reaches a prompt, a comment or Slack;
- one thread whose fields have the wrong types: it is kept as a ``BrokenThread`` (its liveness
  is unknown, never success), and every other thread is read normally.
Only a body that is not a read model at all (HTML, malformed JSON, a wrong top-level shape) is
refused, with a ``ReadModelError`` that names where, never quoting the body.

Bodies are bounded (``MAX_BODY_BYTES``): before v0.0.32 the snapshot carries every message of
every thread, and parsing costs about 2.6 times the body, so an unbounded one could take the pod
past its memory limit. afk reads the shell instead wherever the server has it (v0.0.29 and on).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.alias_generators import to_camel

MAX_BODY_BYTES = 48 * 1024 * 1024

# A \uXXXX escape of a high surrogate not followed by a low one, or a low one not preceded by a
# high one; ``(?<!\\)((?:\\\\)*)`` keeps escaped backslashes (``\\ud83d`` is text, not a escape).
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)((?:\\\\)*)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)((?:\\\\)*)\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class ReadModelError(ValueError):
    """The body is not the read model asked for; the message names where, never any content."""


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


def _false_unless_true(value: Any) -> bool:
    return value is True


Timestamp = Annotated[datetime | None, WrapValidator(_lenient_time)]
Text = Annotated[str, _empty_if_none("")]
Flag = Annotated[bool, BeforeValidator(_false_unless_true)]


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


class Activity(_Model):
    """One entry of a thread's work log; afk reads only approval and user-input requests."""

    id: str | None = None
    kind: str | None = None
    summary: Text = ""
    payload: Any = None
    turn_id: str | None = None
    created_at: Timestamp = None


class Session(_Model):
    status: str | None = None
    active_turn_id: str | None = None
    last_error: str | None = None


class Thread(_Model):
    """A thread as the snapshot and the thread route serve it (the shell's fields default)."""

    id: str
    project_id: str | None = None
    title: str | None = None
    worktree_path: str | None = None
    latest_turn: LatestTurn | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    deleted_at: Timestamp = None
    archived_at: Timestamp = None
    messages: Annotated[tuple[Message, ...], _empty_if_none(())] = ()
    activities: Annotated[tuple[Activity, ...], _empty_if_none(())] = ()
    session: Session | None = None
    # the shell's own fields (GET /shell, v0.0.29 and on)
    latest_user_message_at: Timestamp = None
    has_pending_approvals: Flag = False
    has_pending_user_input: Flag = False

    @property
    def gone(self) -> bool:
        """Deleted or archived: afk treats both as missing (the thread route 404s on both)."""
        return self.deleted_at is not None or self.archived_at is not None


class BrokenThread(_Model):
    """A thread whose fields could not be read: it exists, and nothing else is known."""

    id: str


def _one_thread(value: Any, handler: ValidatorFunctionWrapHandler) -> Thread | BrokenThread | None:
    try:
        thread: Thread = handler(value)
    except ValidationError:
        thread_id = value.get("id") if isinstance(value, dict) else None
        return BrokenThread(id=thread_id) if isinstance(thread_id, str) and thread_id else None
    return thread


AnyThread = Annotated[Thread | BrokenThread | None, WrapValidator(_one_thread)]


class Project(_Model):
    id: str
    title: str | None = None
    workspace_root: str | None = None
    deleted_at: Timestamp = None


class Fleet(_Model):
    """The snapshot (``ReadModel``) or the shell: projects and threads, with a sequence."""

    snapshot_sequence: int | None = None
    projects: Annotated[tuple[Project, ...], _empty_if_none(())] = ()
    threads: Annotated[tuple[AnyThread, ...], _empty_if_none(())] = ()
    updated_at: Timestamp = None


class Page(_Model):
    has_more: Flag = False


class ThreadDetail(_Model):
    """``GET /threads/{id}``: one thread with its messages and activities."""

    snapshot_sequence: int | None = None
    thread: Thread
    page: Page | None = None


M = TypeVar("M", bound=_Model)


def parse(model: type[M], content: bytes, *, what: str) -> M:
    """Parse ``content`` as ``model``; raises ``ReadModelError`` when it is not one.

    Lone surrogates and undecodable bytes are mended and the body parsed again (see the module
    docstring); the fast path is taken whenever the body is clean.
    """
    if len(content) > MAX_BODY_BYTES:
        size = len(content) // (1024 * 1024)
        raise ReadModelError(
            f"the {what} is {size} MB, over afk's {MAX_BODY_BYTES // (1024 * 1024)} MB bound "
            "(a T3 Code server from v0.0.29 on serves the light shell instead)"
        )
    head = content.lstrip()[:1]
    if head == b"<":
        raise ReadModelError(f"the {what} is an HTML page, not T3's read model")
    if head != b"{":
        raise ReadModelError(f"the {what} is not a JSON object")
    try:
        return model.model_validate_json(content)
    except ValidationError as exc:
        if not _json_invalid(exc):
            raise ReadModelError(_describe(exc, what)) from None
    mended = mend(content)
    try:
        return model.model_validate_json(mended)
    except ValidationError as exc:
        raise ReadModelError(_describe(exc, what)) from None


def mend(content: bytes) -> bytes:
    """The body with undecodable bytes and lone surrogate escapes replaced by U+FFFD."""
    text = content.decode("utf-8", errors="replace").encode("utf-8")
    return _LONE_SURROGATE.sub(lambda m: (m.group(1) or m.group(2) or b"") + rb"\ufffd", text)


def _json_invalid(exc: ValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors(include_input=False))


def _describe(exc: ValidationError, what: str) -> str:
    """Where the body broke the read model, without echoing any of its content."""
    errors = exc.errors(include_input=False, include_url=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return f"the {what} is malformed JSON"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"the {what} does not match T3's read model at {where}: {first['msg']}{more}"
