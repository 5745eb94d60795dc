"""Forge text made fit for a corrective turn: the failed step found, clocks and colours
stripped, credentials removed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from afk.adapters.evidence_text import (
    LINE_CHARS,
    REDACTED,
    clean_log_line,
    failed_step_tail,
    redact,
)


def test_a_line_loses_its_timestamp_and_colour_codes() -> None:
    line = "\ufeff2026-11-25T09:00:02.1234567Z \x1b[1;31mFAILED\x1b[0m test_sum\r"
    assert clean_log_line(line) == "FAILED test_sum"
    assert (
        clean_log_line("no stamp 2026-11-25T09:00:02Z here") == "no stamp 2026-11-25T09:00:02Z here"
    )


def test_the_failed_step_is_the_one_with_the_first_error() -> None:
    log = "\n".join(
        [
            "##[group]Run lint",
            "lint ok",
            "##[group]Run pytest",
            "E assert 4 == 3",
            "##[error]Process completed with exit code 1.",
            "",
            "##[group]Run upload-artifact",
            "##[error]later noise",
        ]
    )
    assert failed_step_tail(log) == (
        "##[group]Run pytest",
        "E assert 4 == 3",
        "##[error]Process completed with exit code 1.",
    )


def test_without_an_error_line_the_logs_last_lines_and_long_lines_are_clipped() -> None:
    log = "\n".join(["x" * (LINE_CHARS * 2)] + [f"l{i}" for i in range(150)] + ["", ""])
    tail = failed_step_tail(log)
    assert len(tail) == 100 and tail[-1] == "l149" and tail[0] == "l50"
    assert len(failed_step_tail("y" * 5000)[0]) == LINE_CHARS


def test_known_secrets_and_credential_shapes_are_redacted() -> None:
    text = (
        "token forge-secret-1 ghp_abcdefghijklmnopqrstuvwxyz012345 "
        "github_pat_11ABCDEFG0123456789_abcdefghij xoxb-1234567890-abcdef "
        "Authorization: Bearer abc.def-ghi_jkl012345678"
    )
    cleaned = redact(text, ["forge-secret-1", ""])
    for leaked in ("forge-secret-1", "ghp_", "github_pat_", "xoxb-", "abc.def-ghi"):
        assert leaked not in cleaned
    assert redact("no secrets here", ["zzz"]) == "no secrets here"


TOKENS = st.from_regex(r"[A-Za-z0-9_.~+/=-]{6,40}", fullmatch=True).filter(
    lambda token: token not in REDACTED
)


@given(st.text(max_size=200), TOKENS)
def test_a_known_secret_never_survives_redaction(prefix: str, secret: str) -> None:
    """Tokens are printable ASCII without spaces (``secrets._usable``); the marker holds none."""
    assert secret not in redact(f"{prefix}{secret}{prefix}{secret}", [secret])
