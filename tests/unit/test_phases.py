"""The agent's ``AFK-PHASE:`` lines: what counts as a report and what is ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.phases import parse_report, unfenced_lines
from afk.core.types import AgentPhase, AgentReport

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", AgentReport()),
        ("AFK-PHASE: tests-red", AgentReport(AgentPhase.TESTS_RED)),
        ("  AFK-PHASE: green \t", AgentReport(AgentPhase.GREEN)),
        (f"AFK-PHASE: pushed {SHA}", AgentReport(AgentPhase.PUSHED, SHA)),
        (f"AFK-PHASE: pushed {SHA.upper()}", AgentReport(AgentPhase.PUSHED, SHA)),
        (f"AFK-PHASE:\tpushed  {SHA}", AgentReport(AgentPhase.PUSHED, SHA)),
        ("AFK-PHASE: tests-red\nAFK-PHASE: green", AgentReport(AgentPhase.GREEN)),
        (
            f"AFK-PHASE: pushed {SHA}\nAFK-PHASE: tests-red",
            AgentReport(AgentPhase.TESTS_RED, SHA),
        ),
        (
            f"AFK-PHASE: pushed {SHA}\nfixing\r\nAFK-PHASE: pushed {OTHER}\r\n",
            AgentReport(AgentPhase.PUSHED, OTHER),
        ),
    ],
)
def test_valid_lines_report_the_latest_phase_and_sha(text: str, expected: AgentReport) -> None:
    assert parse_report(text) == expected


@pytest.mark.parametrize(
    "line",
    [
        "AFK-PHASE: pushed",
        "AFK-PHASE: pushed abc123",
        f"AFK-PHASE: pushed {SHA}0",
        f"AFK-PHASE: pushed {SHA[:-1]}g",
        f"AFK-PHASE: pushed {SHA} and more",
        "AFK-PHASE: tests-red please",
        "afk-phase: green",
        "AFK-PHASE: done",
        "AFK-PHASE:green",
        "I will print AFK-PHASE: green when done",
        "`AFK-PHASE: green`",
        "> AFK-PHASE: green",
        "**AFK-PHASE: green**",
    ],
)
def test_anything_but_an_exact_marker_line_is_ignored(line: str) -> None:
    assert parse_report(f"AFK-PHASE: tests-red\n{line}") == AgentReport(AgentPhase.TESTS_RED)


def test_an_invalid_pushed_line_keeps_the_previous_sha() -> None:
    text = f"AFK-PHASE: pushed {SHA}\nAFK-PHASE: pushed nope"
    assert parse_report(text) == AgentReport(AgentPhase.PUSHED, SHA)


@pytest.mark.parametrize(
    "fenced",
    [
        f"```\nAFK-PHASE: pushed {OTHER}\n```",
        f"~~~text\nAFK-PHASE: pushed {OTHER}\n~~~",
        f"````\n```\nAFK-PHASE: pushed {OTHER}\n```\n````",
        f"   ```sh\nAFK-PHASE: pushed {OTHER}\n   ```",
        f"~~~~\n```\n~~~\nAFK-PHASE: pushed {OTHER}\n```\n~~~~",
    ],
)
def test_lines_in_fenced_code_are_quotes_not_reports(fenced: str) -> None:
    text = f"AFK-PHASE: pushed {SHA}\n{fenced}\nstill here"
    assert parse_report(text) == AgentReport(AgentPhase.PUSHED, SHA)


def test_reports_after_a_closed_fence_count_again() -> None:
    text = f"```\nAFK-PHASE: pushed {OTHER}\n```\nAFK-PHASE: pushed {SHA}"
    assert parse_report(text) == AgentReport(AgentPhase.PUSHED, SHA)


def test_an_unclosed_fence_runs_to_the_end_as_markdown_shows_it() -> None:
    text = f"AFK-PHASE: green\n```\nAFK-PHASE: pushed {SHA}"
    assert parse_report(text) == AgentReport(AgentPhase.GREEN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n```\nb\n```\nc", ["a", "c"]),
        ("a\n```\nb\n``\n````\nc", ["a", "c"]),
        ("a\n```\nb\n~~~\nc", ["a"]),
        ("``` x ` y\nb", ["``` x ` y", "b"]),
        ("    ```\nb", ["    ```", "b"]),
        ("```\nb\n``` trailing\nc", []),
    ],
)
def test_fences_follow_commonmark(text: str, expected: list[str]) -> None:
    """A fence closes only with its own character, as long or longer, and nothing after it."""
    assert list(unfenced_lines(text)) == expected


@given(st.text())
def test_parse_report_never_raises(text: str) -> None:
    report = parse_report(text)
    assert report.sha is None or len(report.sha) == 40


@given(st.lists(st.sampled_from(["tests-red", "green", f"pushed {SHA}", f"pushed {OTHER}"])))
def test_the_last_line_wins(phases: list[str]) -> None:
    report = parse_report("\n".join(f"AFK-PHASE: {phase}" for phase in phases))
    expected_phase = AgentPhase(phases[-1].split()[0]) if phases else None
    pushed = [phase.split()[1] for phase in phases if phase.startswith("pushed")]
    assert report == AgentReport(expected_phase, pushed[-1] if pushed else None)
