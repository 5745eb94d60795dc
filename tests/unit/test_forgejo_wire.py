"""Forgejo's JSON shapes as FakeForgejo renders them from the shared forge model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from afk.testing.forge_state import ForgeState
from afk.testing.forgejo_wire import ForgejoWire, api_error, not_found, timestamp


def test_timestamps_are_utc_seconds_with_z() -> None:
    moment = datetime(2025, 3, 1, 13, 0, 5, 987654, tzinfo=timezone(timedelta(hours=1)))
    assert timestamp(moment) == "2025-03-01T12:00:05Z"


def test_label_events_render_body_one_when_added_and_empty_when_removed() -> None:
    state = ForgeState(clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    state.add_repo("acme/widgets")
    state.add_user("alice")
    state.add_label("acme/widgets", "ready-for-agent", color="#00ff00")
    issue = state.add_issue("acme/widgets", "x", user="alice")
    state.add_label_by_name("acme/widgets", issue.number, "ready-for-agent", actor="alice")
    state.remove_label_by_name("acme/widgets", issue.number, "ready-for-agent", actor="alice")
    wire = ForgejoWire(state, "https://forge.invalid/")
    added, removed = (wire.timeline_label(e) for e in state.label_events("acme/widgets", 1))
    assert (added["type"], added["body"], added["user"]["login"]) == ("label", "1", "alice")
    assert added["label"]["color"] == "00ff00"
    assert removed["body"] == ""
    assert added["issue_url"] == "https://forge.invalid/api/v1/repos/acme/widgets/issues/1"


def test_error_bodies() -> None:
    assert api_error("nope")["message"] == "nope"
    assert not_found("x") == {
        "errors": ["x"],
        "message": "The target couldn't be found.",
        "url": "https://forge.invalid/api/swagger",
    }
