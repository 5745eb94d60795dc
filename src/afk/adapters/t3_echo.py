"""Keep what afk sent out of what T3 says back.

A server may echo a command in its error (JSON-escaped, truncated): any run of at least
``ECHO_WINDOW`` characters of the server's detail that also occurs in the prompt or the token is
withheld from the error message, so neither reaches a log or the report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from afk.errors import T3Error

ECHO_WINDOW = 16
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _normalise(text: str) -> str:
    """Undo JSON escaping and collapse whitespace, so an echoed copy compares equal."""
    text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    for escaped, plain in (("\\n", " "), ("\\r", " "), ("\\t", " "), ('\\"', '"'), ("\\\\", "\\")):
        text = text.replace(escaped, plain)
    return " ".join(text.split())


def _redact(detail: str, secrets: Iterable[str]) -> str:
    """Replace every run of ``detail`` that also occurs in a secret (a prompt, the token)."""
    haystacks = [s for s in (_normalise(secret) for secret in secrets) if len(s) >= ECHO_WINDOW]
    flat = _normalise(detail)
    if not haystacks:
        return flat

    def echoed(piece: str) -> bool:
        return any(piece in haystack for haystack in haystacks)

    out: list[str] = []
    i = 0
    while i < len(flat):
        tail = flat[i:]
        if len(tail) < ECHO_WINDOW:
            # A detail truncated mid-echo ends with a short piece of a secret.
            out.append("***" if len(tail.strip()) >= 4 and echoed(tail) else tail)
            break
        if not echoed(flat[i : i + ECHO_WINDOW]):
            out.append(flat[i])
            i += 1
            continue
        end = i + ECHO_WINDOW
        while end < len(flat) and echoed(flat[i : end + 1]):
            end += 1
        out.append("***")
        i = end
    return "".join(out)


def withhold_echoes(error: T3Error, secrets: Iterable[str]) -> T3Error:
    """The same error with any echoed secret removed from its server-supplied detail."""
    clean = _redact(error.detail, secrets)
    if clean == " ".join(error.detail.split()):
        return error
    return type(error)(
        service=error.service, operation=error.operation, status=error.status, detail=clean
    )
