"""Forge text made fit for a corrective turn: credentials removed, colour and clocks stripped,
every piece bounded.

Why here and not in the prompt: only the adapters know which tokens afk holds, and a log line
that quotes one (a CI step echoing its environment) must lose it before it leaves the adapter.
Besides every known secret, anything shaped like a GitHub, Slack or bearer credential goes too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

REDACTED = "[redacted]"
LOG_LINES = 100
LINE_CHARS = 500
SUMMARY_CHARS = 4000
ANNOTATION_CHARS = 300

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_STAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_CREDENTIAL = re.compile(
    r"\b(?:gh[opusr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,})"
    r"|(?i:\b(?:bearer|token)\s+)[A-Za-z0-9._~+/=-]{16,}"
)
_STEP_START = "##[group]Run "
_ERROR = "##[error]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` nor anything credential-shaped."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(REDACTED, text)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int) -> str:
    return clip(" ".join(text.split()), limit)


def clean_log_line(line: str) -> str:
    """A log line as a person reads it: no per-line timestamp, no ANSI colour codes."""
    return _ANSI.sub("", _STAMP.sub("", line.rstrip("\r")))


def failed_step_tail(log: str, lines: int = LOG_LINES) -> tuple[str, ...]:
    """The last ``lines`` lines of the failed step of a GitHub Actions job log.

    The failed step is the one holding the first ``##[error]`` line (the later ones are
    post-job cleanup); it starts at its ``##[group]Run`` line and ends at its last error line.
    A log without an error line yields its own last lines.
    """
    cleaned = [clean_log_line(line) for line in log.splitlines()]
    first_error = next((i for i, line in enumerate(cleaned) if line.startswith(_ERROR)), None)
    if first_error is None:
        segment: Sequence[str] = cleaned
    else:
        start = max(
            (i for i in range(first_error + 1) if cleaned[i].startswith(_STEP_START)), default=0
        )
        end = next(
            (
                i
                for i in range(first_error + 1, len(cleaned))
                if cleaned[i].startswith(_STEP_START) or cleaned[i].startswith("Post job")
            ),
            len(cleaned),
        )
        last_error = max(i for i in range(first_error, end) if cleaned[i].startswith(_ERROR))
        segment = cleaned[start : last_error + 1]
    while segment and not segment[-1].strip():
        segment = segment[:-1]
    return tuple(clip(line, LINE_CHARS) for line in segment[-lines:])
