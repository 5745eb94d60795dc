"""The run comment: a checklist people read and a marker afk reads back, whatever was done to it."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afk.core.phase_checklist import MARKER_PREFIX, _Marker, marker, parse, render
from afk.core.types import EscalationReason, Issue, Phase, RepoRef, RunRecord
from tests.unit.strategies import issues, run_records

T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
SHA = "abc1234" + "0" * 33
THREAD = "6f1c1f2e-9a57-5c1e-8a8e-0d5b8f1f2c3d"
RECORD = RunRecord(thread_id=THREAD, attempt=2, dispatched_at=T0, updated_at=T0)
ISSUE = Issue(
    repo=RepoRef("acme", "widgets"),
    number=7,
    title="Fix it",
    body="",
    labels=(),
    author="alice",
    created_at=T0,
    url="https://git.example.com/acme/widgets/issues/7",
)


def payload_of(text: str) -> dict[str, object]:
    start = text.index(MARKER_PREFIX) + len(MARKER_PREFIX)
    loaded: dict[str, object] = json.loads(text[start : text.index(" -->", start)])
    return loaded


def test_render_shows_a_checklist_and_ends_with_the_marker() -> None:
    record = replace(RECORD, phase=Phase.CI_PENDING, sha=SHA)
    text = render(record, ISSUE)
    assert text.startswith("### afk run for acme/widgets#7 · attempt 2\n")
    assert f"- [x] Dispatched to agent thread `{THREAD}` at 2024-05-01T12:30:00Z" in text
    assert "- [x] Tests red" in text
    assert "- [x] Green" in text
    assert "- [x] Pushed `abc1234`" in text
    assert "- [ ] CI: pending" in text
    assert "- [ ] Deployed" in text
    assert text.rstrip().endswith(" -->")
    assert text.rstrip().splitlines()[-1] == marker(record)


@pytest.mark.parametrize(
    ("record", "lines"),
    [
        (RECORD, ["- [ ] Tests red", "- [ ] Green", "- [ ] Pushed", "- [ ] CI: not started"]),
        (replace(RECORD, phase=Phase.TESTS_RED), ["- [x] Tests red", "- [ ] Green"]),
        (replace(RECORD, phase=Phase.GREEN), ["- [x] Green", "- [ ] Pushed"]),
        (replace(RECORD, phase=Phase.CI_FAILED, sha=SHA), ["- [ ] CI: failed"]),
        (replace(RECORD, phase=Phase.CI_PASSED, sha=SHA), ["- [x] CI: passed", "- [ ] Deployed"]),
        (replace(RECORD, phase=Phase.DEPLOYED, sha=SHA), ["- [x] CI: passed", "- [x] Deployed"]),
        (
            replace(RECORD, phase=Phase.CLOSED, sha=SHA),
            [
                "- [x] CI: passed",
                "- [x] Deployed (or no deploy check configured)",
                "**Closed:** the work is verified on the forge.",
            ],
        ),
        (
            replace(
                RECORD,
                phase=Phase.ESCALATED,
                sha=SHA,
                escalation=EscalationReason.FIX_FORWARD_EXHAUSTED,
                fix_forwards=1,
                corrected_shas=(SHA,),
            ),
            [
                "- [x] Pushed `abc1234`",
                "- Fix-forward turns sent: 1 (`abc1234`)",
                "- [ ] CI: stopped at the escalation",
                "**Escalated to a human:** CI kept failing after every fix-forward turn.",
            ],
        ),
    ],
)
def test_checklist_items_follow_the_phase(record: RunRecord, lines: list[str]) -> None:
    rendered = render(record, ISSUE).splitlines()
    for line in lines:
        assert line in rendered


@pytest.mark.parametrize("reason", [*EscalationReason, None])
def test_every_escalation_reads_as_a_sentence(reason: EscalationReason | None) -> None:
    record = replace(RECORD, phase=Phase.ESCALATED, escalation=reason)
    ending = render(record, ISSUE).splitlines()[-3]
    assert ending.startswith("**Escalated to a human:** ")
    assert "_" not in ending


def test_the_marker_holds_every_record_field() -> None:
    record = replace(RECORD, escalation=EscalationReason.AGENT_FAILED, notified=True)
    payload = payload_of(render(record, ISSUE))
    assert set(payload) == {field.name for field in fields(RunRecord)}
    assert payload["dispatched_at"] == "2024-05-01T12:30:00+00:00"
    assert payload["escalation"] == "agent_failed"
    assert set(_Marker.model_fields) == {field.name for field in fields(RunRecord)}


def test_datetimes_are_written_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    record = replace(RECORD, updated_at=datetime(2024, 5, 1, 16, tzinfo=plus_two))
    assert payload_of(marker(record))["updated_at"] == "2024-05-01T14:00:00+00:00"
    assert parse(render(record, ISSUE)) == record


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render(replace(RECORD, updated_at=datetime(2024, 5, 1)), ISSUE)


def test_the_marker_json_cannot_end_the_html_comment() -> None:
    """``<``, ``>`` and ``&`` are escaped, so no value can spell ``-->``."""
    text = marker(replace(RECORD, thread_id="--><script>&"))
    assert text.count("-->") == 1
    assert text.endswith(" -->")
    assert "\\u003e\\u003cscript\\u003e\\u0026" in text


def test_round_trip() -> None:
    record = replace(
        RECORD,
        phase=Phase.ESCALATED,
        sha=SHA,
        fix_forwards=2,
        corrected_shas=(SHA, "f" * 40),
        escalation=EscalationReason.DEPLOY_FAILED,
        notified=True,
    )
    assert parse(render(record, ISSUE)) == record


def test_the_first_valid_marker_wins() -> None:
    first, second = replace(RECORD, attempt=3), replace(RECORD, attempt=4)
    text = f"{MARKER_PREFIX}{{bad}} -->\n{marker(first)}\n{marker(second)}"
    assert parse(text) == first


def test_two_markers_on_one_line() -> None:
    first, second = replace(RECORD, attempt=3), replace(RECORD, attempt=4)
    assert parse(f"{MARKER_PREFIX}nope --> {marker(first)} {marker(second)}") == first


@pytest.mark.parametrize(
    ("opener", "closer"), [("```", "```"), ("~~~", "~~~~"), ("````md", "````")]
)
def test_a_marker_in_fenced_code_is_ignored(opener: str, closer: str) -> None:
    quoted = replace(RECORD, attempt=9)
    assert parse(f"{opener}\n{marker(quoted)}\n{closer}\n{marker(RECORD)}") == RECORD
    assert parse(f"{opener}\n{marker(quoted)}\n{closer}") is None


def _json(**changes: object) -> str:
    payload = payload_of(marker(RECORD))
    payload.update(changes)
    return f"{MARKER_PREFIX}{json.dumps(payload)} -->"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no marker here",
        MARKER_PREFIX,
        f"{MARKER_PREFIX}{{",
        f"{MARKER_PREFIX}{{}} -->",
        f"{MARKER_PREFIX}[] -->",
        f"{MARKER_PREFIX}null -->",
        marker(RECORD)[:-10],
        _json(v=2),
        _json(v="1"),
        _json(attempt="2"),
        _json(attempt=0),
        _json(attempt=1.5),
        _json(fix_forwards=-1),
        _json(notified="true"),
        _json(phase="done"),
        _json(sha="ABC"),
        _json(sha="A" * 40),
        _json(sha=SHA + "\n"),
        _json(thread_id=THREAD + "\n"),
        _json(corrected_shas=["nope"]),
        _json(corrected_shas="x"),
        _json(escalation="bored"),
        _json(thread_id=7),
        _json(thread_id="not-a-uuid"),
        _json(dispatched_at="yesterday"),
        _json(dispatched_at="2024-05-01T12:30:00"),
        _json(updated_at=1714566600),
        f"{MARKER_PREFIX}{'[' * 100_000} -->",
        f"{MARKER_PREFIX}{'{' * 100_000} -->",
        _json(dispatched_at="0001-01-01T00:00:00+05:00"),
    ],
)
def test_garbage_is_not_a_record(text: str) -> None:
    assert parse(text) is None


def test_missing_optional_fields_take_the_record_defaults() -> None:
    payload = payload_of(marker(RECORD))
    for name in ("phase", "sha", "fix_forwards", "corrected_shas", "escalation", "notified"):
        del payload[name]
    assert parse(f"{MARKER_PREFIX}{json.dumps(payload)} -->") == RECORD


def test_unknown_keys_are_ignored() -> None:
    assert parse(_json(future="field")) == RECORD


def test_huge_inputs_are_read_without_trouble() -> None:
    many_openers = MARKER_PREFIX * 200_000
    assert parse(many_openers) is None
    assert parse(many_openers + " -->") is None
    assert parse("x" * 2_000_000 + "\n" + marker(RECORD)) == RECORD
    oversized = _json(padding="y" * 70_000)
    assert parse(oversized) is None


@given(st.text())
def test_parse_never_raises_on_text(text: str) -> None:
    result = parse(text)
    assert result is None or isinstance(result, RunRecord)


@given(run_records(), issues())
def test_render_then_parse_round_trips(record: RunRecord, issue: Issue) -> None:
    assert parse(render(record, issue)) == record


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(run_records(), issues(), st.data())
def test_parse_never_raises_on_mutated_comments(
    record: RunRecord, issue: Issue, data: st.DataObject
) -> None:
    text = render(record, issue)
    for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        end = data.draw(st.integers(min_value=at, max_value=min(len(text), at + 20)))
        text = text[:at] + data.draw(st.text(max_size=10)) + text[end:]
    result = parse(text)
    assert result is None or isinstance(result, RunRecord)


@given(run_records(), issues(), st.text(max_size=200))
def test_text_after_the_comment_does_not_hide_the_record(
    record: RunRecord, issue: Issue, trailer: str
) -> None:
    """A person appending to the comment (even an unclosed fence) leaves the record readable."""
    assert parse(render(record, issue) + trailer) == record
