"""Read the agent's ``AFK-PHASE:`` report lines out of its messages.

The agent's word is only a hint (afk verifies pushes, CI and deploys on the forge), so this
reader is forgiving: anything that is not exactly a marker line is ignored, and nothing raises.
Lines inside fenced code blocks are skipped because an agent often quotes its instructions, and
a quoted ``AFK-PHASE: pushed <sha>`` example must not count as a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from afk.core.types import AgentPhase, AgentReport

_MARKER = re.compile(r"AFK-PHASE:[ \t]+(tests-red|green|pushed[ \t]+([0-9A-Fa-f]{40}))")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}(?=[^`]*$)|~{3,})")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")


def unfenced_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` that are not inside a fenced code block (CommonMark's rules).

    A fence closes only with the same character, at least as long as its opener; an unclosed
    fence runs to the end of the text, as a markdown renderer would show it.
    """
    fence: str | None = None
    for line in text.splitlines():
        if fence is None:
            opened = _FENCE_OPEN.match(line)
            if opened is None:
                yield line
            else:
                fence = opened.group(1)
            continue
        closed = _FENCE_CLOSE.match(line)
        if (
            closed is not None
            and closed.group(1)[0] == fence[0]
            and len(closed.group(1)) >= len(fence)
        ):
            fence = None


def parse_report(text: str) -> AgentReport:
    """The latest phase the agent reported, and the sha of its latest valid ``pushed`` line."""
    phase: AgentPhase | None = None
    sha: str | None = None
    for line in unfenced_lines(text):
        marker = _MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        if marker.group(2) is not None:
            phase, sha = AgentPhase.PUSHED, marker.group(2).lower()
        else:
            phase = AgentPhase(marker.group(1))
    return AgentReport(phase=phase, sha=sha)
