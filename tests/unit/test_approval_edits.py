"""An approval covers the text as it was when the ready label was applied.

``edited_after_approval`` weighs the issue's ``updated_at`` against the approving label event and
every later timeline event that can explain an update (none by the author, who can edit the text,
nor by afk itself); the plan turns an unexplained update into a skip, but only where trusted
labelers are configured.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from afk.core.dispatch_policy import DispatchPolicy, SkipReason, edited_after_approval, plan
from afk.core.ports import Approval, LaterEvent
from afk.core.types import Issue, RepoRef
from tests.unit.strategies import IN_PROGRESS

WIDGETS = RepoRef("acme", "widgets")
T0 = datetime(2026, 11, 25, 9, tzinfo=UTC)
AUTHOR, BOT = "mallory", "afk-bot"
REASON = "edited after approval: re-apply ready-for-agent to approve this version"

moments = st.integers(min_value=-600, max_value=600).map(lambda s: T0 + timedelta(seconds=s))


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def approval(labeled: int | None, *later: tuple[int, str | None]) -> Approval:
    return Approval(
        "alice",
        None if labeled is None else at(labeled),
        tuple(LaterEvent(at(seconds), actor) for seconds, actor in later),
    )


def edited(updated: datetime | None, given: Approval) -> bool:
    return edited_after_approval(updated, given, unexplaining=(AUTHOR, BOT))


def test_an_issue_unchanged_since_its_label_is_approved() -> None:
    assert edited(at(0), approval(0)) is False


def test_an_update_after_the_label_that_no_event_explains_is_an_edit() -> None:
    assert edited(at(1), approval(0)) is True
    assert edited(at(1), approval(0, (0, "bob"))) is True


def test_a_later_event_explains_an_update_up_to_its_own_time() -> None:
    assert edited(at(60), approval(0, (60, "bob"))) is False
    assert edited(at(61), approval(0, (60, "bob"))) is True


def test_changes_before_the_label_are_covered_by_it() -> None:
    """An edit made before the label was applied is the version the labeler approved."""
    assert edited(at(-300), approval(0)) is False


def test_afks_own_note_never_clears_the_edit_it_is_about() -> None:
    """The note moves ``updated_at`` to its own time: were it an explanation, the next poll
    would find nothing unexplained and start the agent on the edited text."""
    assert edited(at(90), approval(0, (90, BOT))) is True
    assert edited(at(90), approval(0, (90, BOT.upper()))) is True


def test_the_authors_own_events_explain_nothing() -> None:
    """An author who edits and then comments would otherwise hide the edit behind the comment."""
    assert edited(at(120), approval(0, (120, AUTHOR))) is True
    assert edited(at(120), approval(0, (120, "Mallory"))) is True


def test_an_event_by_a_deleted_user_explains_nothing() -> None:
    assert edited(at(30), approval(0, (30, None))) is True


def test_unknown_times_count_as_edited() -> None:
    """Without both times afk cannot tell: it refuses, and re-applying the label is the fix."""
    assert edited(None, approval(0)) is True
    assert edited(at(0), approval(None)) is True


events = st.lists(
    st.tuples(moments, st.sampled_from([AUTHOR, BOT, "bob", "alice", None])), max_size=6
)


@given(updated=moments, labeled=moments, later=events)
def test_covered_up_to_the_latest_event_someone_else_made(
    updated: datetime, labeled: datetime, later: list[tuple[datetime, str | None]]
) -> None:
    explaining = [when for when, actor in later if actor in {"bob", "alice"}]
    covered_until = max([labeled, *explaining])
    given_approval = Approval("alice", labeled, tuple(LaterEvent(w, a) for w, a in later))
    assert edited(updated, given_approval) is (updated > covered_until)


@given(updated=moments, later_by=st.integers(min_value=1, max_value=600), labeled=moments)
def test_a_later_update_never_turns_an_edit_into_an_approval(
    updated: datetime, later_by: int, labeled: datetime
) -> None:
    """Monotone in ``updated_at``: more change never reads as less."""
    given_approval = Approval("alice", labeled)
    if edited(updated, given_approval):
        assert edited(updated + timedelta(seconds=later_by), given_approval)


@given(updated=moments, labeled=moments, later=events)
def test_what_the_author_or_afk_does_never_clears_an_edit(
    updated: datetime, labeled: datetime, later: list[tuple[datetime, str | None]]
) -> None:
    """Whatever the author and afk add after an approval, an unexplained edit stays one."""
    others = tuple(LaterEvent(w, a) for w, a in later if a in {"bob", "alice"})
    theirs = tuple(LaterEvent(w, a) for w, a in later if a in {AUTHOR, BOT, None})
    if edited(updated, Approval("alice", labeled, others)):
        assert edited(updated, Approval("alice", labeled, others + theirs))


def policy(trusted: frozenset[str] | None) -> DispatchPolicy:
    return DispatchPolicy(
        allowlist=frozenset({WIDGETS}),
        max_concurrent=3,
        label_in_progress=IN_PROGRESS,
        trusted_labelers=trusted,
    )


def ready(number: int, *, labeler: str | None = "alice", edited: bool = False) -> Issue:
    base = Issue(
        repo=WIDGETS,
        number=number,
        title=f"issue {number}",
        body="",
        labels=("ready-for-agent",),
        author="mallory",
        created_at=T0 + timedelta(minutes=number),
        url=f"https://forge.invalid/acme/widgets/issues/{number}",
    )
    return replace(base, trigger_labeler=labeler, edited_after_approval=edited)


def test_an_edited_issue_is_skipped_with_the_reason_a_person_can_act_on() -> None:
    decided = plan([ready(1, edited=True)], [], policy(frozenset({"alice"})))
    assert decided.picks == ()
    [skip] = decided.skips
    assert (skip.reason, skip.detail) == (SkipReason.EDITED_AFTER_APPROVAL, REASON)


def test_the_next_ready_issue_is_picked_when_the_first_was_edited() -> None:
    decided = plan([ready(1, edited=True), ready(2)], [], policy(frozenset({"alice"})))
    assert [p.issue.number for p in decided.picks] == [2]
    assert [(s.issue.number, s.reason) for s in decided.skips] == [
        (1, SkipReason.EDITED_AFTER_APPROVAL)
    ]


def test_an_untrusted_labeler_is_the_reason_before_an_edit() -> None:
    """The labeler is the first question: an edit of an unapproved issue is beside the point."""
    decided = plan([ready(1, labeler="mallory", edited=True)], [], policy(frozenset({"alice"})))
    assert [s.reason for s in decided.skips] == [SkipReason.UNTRUSTED_LABELER]


def test_without_trusted_labelers_an_edit_changes_nothing() -> None:
    decided = plan([ready(1, labeler=None, edited=True)], [], policy(None))
    assert [p.issue.number for p in decided.picks] == [1]
    assert decided.skips == ()


@given(edited=st.lists(st.booleans(), min_size=1, max_size=6), trusted=st.booleans())
def test_an_edited_issue_is_never_picked_while_labelers_are_checked(
    edited: list[bool], trusted: bool
) -> None:
    issues = [ready(n, edited=e) for n, e in enumerate(edited, start=1)]
    decided = plan(issues, [], policy(frozenset({"alice"}) if trusted else None))
    picked = [p.issue for p in decided.picks]
    if trusted:
        assert not any(issue.edited_after_approval for issue in picked)
        first_clean = next((i.number for i in issues if not i.edited_after_approval), None)
        assert [i.number for i in picked] == ([first_clean] if first_clean else [])
    else:
        assert [i.number for i in picked] == [1]
