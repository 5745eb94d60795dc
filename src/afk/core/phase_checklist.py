"""The run comment afk edits in place: a checklist for people, the RunRecord for afk.

The record rides in a hidden HTML comment, ``<!-- afk:run {json} -->``. ``parse`` reads text a
forge hands back, which anyone may have edited or imitated, so it never raises: anything it cannot
fully validate is simply not a record. (Only a comment authored by afk's own account is trusted;
that check belongs to the caller.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from afk.core.phases import unfenced_lines
from afk.core.types import EscalationReason, Issue, Phase, RunRecord

MARKER_PREFIX = "<!-- afk:run "
MARKER_SUFFIX = " -->"
_CLOSER = "-->"
_MAX_PAYLOAD = 64 * 1024
_SAFE_JSON = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})

_Sha = Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]
_Uuid = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")]


class _Marker(BaseModel):
    """The marker's JSON, version 1: strict, so a hand-edited value is rejected, not coerced.

    The fields with a default in ``RunRecord`` may be absent, as in a marker from before they
    existed; unknown keys are ignored.
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    v: Literal[1]
    thread_id: _Uuid
    attempt: Annotated[int, Field(ge=1)]
    dispatched_at: AwareDatetime
    updated_at: AwareDatetime
    phase: Phase = Phase.DISPATCHED
    sha: _Sha | None = None
    fix_forwards: Annotated[int, Field(ge=0)] = 0
    corrected_shas: tuple[_Sha, ...] = ()
    escalation: EscalationReason | None = None
    notified: bool = False
    verified_at: AwareDatetime | None = None
    default_branch: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    base_sha: _Sha | None = None
    push_problem: Annotated[str, Field(max_length=500)] = ""
    branch: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    pull: Annotated[int, Field(ge=1)] | None = None
    merge_sha: _Sha | None = None
    answered_reviews: tuple[Annotated[int, Field(ge=1)], ...] = ()

    def record(self) -> RunRecord:
        return RunRecord(
            thread_id=self.thread_id,
            attempt=self.attempt,
            dispatched_at=self.dispatched_at.astimezone(UTC),
            updated_at=self.updated_at.astimezone(UTC),
            phase=self.phase,
            sha=self.sha,
            fix_forwards=self.fix_forwards,
            corrected_shas=self.corrected_shas,
            escalation=self.escalation,
            notified=self.notified,
            verified_at=None if self.verified_at is None else self.verified_at.astimezone(UTC),
            default_branch=self.default_branch,
            base_sha=self.base_sha,
            push_problem=self.push_problem,
            branch=self.branch,
            pull=self.pull,
            merge_sha=self.merge_sha,
            answered_reviews=self.answered_reviews,
            v=self.v,
        )


def marker(record: RunRecord) -> str:
    """The hidden marker alone; its JSON never contains ``<``, ``>`` or ``&`` (so never ``-->``)."""
    payload: dict[str, Any] = {
        "v": record.v,
        "thread_id": record.thread_id,
        "attempt": record.attempt,
        "dispatched_at": _iso(record.dispatched_at),
        "updated_at": _iso(record.updated_at),
        "phase": record.phase.value,
        "sha": record.sha,
        "fix_forwards": record.fix_forwards,
        "corrected_shas": list(record.corrected_shas),
        "escalation": None if record.escalation is None else record.escalation.value,
        "notified": record.notified,
        "verified_at": None if record.verified_at is None else _iso(record.verified_at),
        "default_branch": record.default_branch,
        "base_sha": record.base_sha,
        "push_problem": record.push_problem,
        "branch": record.branch,
        "pull": record.pull,
        "merge_sha": record.merge_sha,
        "answered_reviews": list(record.answered_reviews),
    }
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return f"{MARKER_PREFIX}{text.translate(_SAFE_JSON)}{MARKER_SUFFIX}"


def render(record: RunRecord, issue: Issue) -> str:
    """The whole comment body: the checklist a person reads, then the marker afk reads back."""
    lines = [f"### afk run for {issue.key} · attempt {record.attempt}", "", *_items(record)]
    ending = _ending(record)
    if ending:
        lines += ["", ending]
    lines += ["", marker(record), ""]
    return "\n".join(lines)


def parse(text: str) -> RunRecord | None:
    """The first valid marker outside fenced code, or ``None``; never raises, on any input."""
    for line in unfenced_lines(text):
        for payload in _payloads(line):
            record = _validate(payload)
            if record is not None:
                return record
    return None


def _payloads(line: str) -> list[str]:
    """Each marker candidate on a line, up to the first ``-->`` after it, oversized ones dropped.

    Linear in the line: the closers are found in one pass, so a line of many openers and no
    closer costs no more than reading it.
    """
    closers = _positions(line, _CLOSER)
    found: list[str] = []
    index = 0
    for start in _positions(line, MARKER_PREFIX):
        begin = start + len(MARKER_PREFIX)
        while index < len(closers) and closers[index] < begin:
            index += 1
        if index == len(closers):
            break
        if closers[index] - begin <= _MAX_PAYLOAD:
            found.append(line[begin : closers[index]])
    return found


def _positions(line: str, needle: str) -> list[int]:
    positions: list[int] = []
    at = line.find(needle)
    while at != -1:
        positions.append(at)
        at = line.find(needle, at + 1)
    return positions


def _validate(payload: str) -> RunRecord | None:
    try:
        return _Marker.model_validate_json(payload).record()
    except (ValidationError, ValueError, ArithmeticError, RecursionError):
        return None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("run record datetimes must be timezone-aware")
    return moment.astimezone(UTC).isoformat()


_RANK = {
    phase: rank
    for rank, phase in enumerate(
        [
            Phase.DISPATCHED,
            Phase.TESTS_RED,
            Phase.GREEN,
            Phase.PUSHED,
            Phase.PR_OPEN,
            Phase.CI_PENDING,
            Phase.CI_FAILED,
            Phase.CI_PASSED,
            Phase.MERGED,
            Phase.DEPLOYED,
            Phase.CLOSED,
        ]
    )
}
_ESCALATIONS: dict[EscalationReason | None, str] = {
    EscalationReason.AGENT_FAILED: "the agent failed, stalled or stopped without a usable push",
    EscalationReason.AGENT_BLOCKED: "the agent stopped to wait for a person (an approval or an "
    "answer); afk stopped it",
    EscalationReason.FIX_FORWARD_EXHAUSTED: "CI kept failing after every fix-forward turn",
    EscalationReason.DEPLOY_FAILED: "the deploy kept failing after every fix-forward turn",
    EscalationReason.CI_TIMEOUT: "CI or the deploy did not finish in the time allowed after the "
    "verified push",
}
_CI_TEXT = {Phase.CI_PENDING: "pending", Phase.CI_FAILED: "failed", Phase.CI_PASSED: "passed"}


def _items(record: RunRecord) -> list[str]:
    """The checklist; a recorded sha means a round of red, green and push was done."""
    phase = record.phase
    rank = _RANK.get(phase, _RANK[Phase.DISPATCHED])
    when = _iso(record.dispatched_at).replace("+00:00", "Z")
    pushed = f"Pushed `{record.sha[:7]}`" if record.sha else "Pushed"
    ci = _CI_TEXT.get(phase, "passed" if rank > _RANK[Phase.CI_PASSED] else "not started")
    if phase is Phase.ESCALATED:
        ci = "stopped at the escalation" if record.sha else ci
    items = [
        _item(True, f"Dispatched to agent thread `{record.thread_id}` at {when}"),
        _item(rank >= _RANK[Phase.TESTS_RED] or bool(record.sha), "Tests red"),
        _item(rank >= _RANK[Phase.GREEN] or bool(record.sha), "Green"),
        _item(bool(record.sha), pushed),
        _item(ci == "passed", f"CI: {ci}"),
        _item(phase in (Phase.DEPLOYED, Phase.CLOSED), _deploy_text(phase)),
    ]
    if record.push_problem:
        items.insert(4, f"- Reported push refused: {_plain(record.push_problem)}")
    if record.pull is not None:
        merged = f", merged as `{record.merge_sha[:7]}`" if record.merge_sha else ""
        items.append(f"- Pull request #{record.pull} from `{_plain(record.branch or '')}`{merged}")
    if record.fix_forwards:
        shas = ", ".join(f"`{sha[:7]}`" for sha in record.corrected_shas)
        items.append(f"- Fix-forward turns sent: {record.fix_forwards} ({shas})")
    if record.answered_reviews:
        items.append(f"- Review rounds answered: {len(record.answered_reviews)}")
    return items


def _plain(text: str) -> str:
    """Text afk wrote itself, kept on one line and out of markup (no backticks, no HTML)."""
    return " ".join(text.replace("`", "'").replace("<", "‹").replace(">", "›").split())


def _item(done: bool, text: str) -> str:
    return f"- [{'x' if done else ' '}] {text}"


def _deploy_text(phase: Phase) -> str:
    return "Deployed (or no deploy check configured)" if phase is Phase.CLOSED else "Deployed"


def _ending(record: RunRecord) -> str:
    if record.phase is Phase.CLOSED:
        return "**Closed:** the work is verified on the forge."
    if record.phase is Phase.ESCALATED:
        reason = _ESCALATIONS.get(record.escalation, "no reason recorded")
        return f"**Escalated to a human:** {reason}."
    if record.phase is Phase.CLOSED_BY_PERSON:
        return "**Closed by a person** while the run was in flight: afk stopped its agent."
    return ""
