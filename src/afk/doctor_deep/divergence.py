"""One way a real reply differs from its contract, told so a person can act on it.

A divergence names the operation, the JSON path, what the contract says and what came back.
What came back is told by its kind (an integer, a string of 40 characters, an array of 3 items),
never quoted, except where the contract fixes a vocabulary (an enum, a const, a format, a
pattern) and the value looks like a word of one: that is where the value itself is the news
(``"errored"`` where ``running|completed|…`` was expected). Free text (titles, bodies, comments)
has no such constraint, so it is never shown; nor is any string holding a known secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import Any

import jsonschema

_VOCABULARY_CHECKS = frozenset({"enum", "const", "format", "pattern"})
_WORDLIKE = re.compile(r"[A-Za-z0-9_.:+/-]{1,40}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"\[\d+\]")
_MAX_ENUM = 8


@dataclass(frozen=True, slots=True)
class Divergence:
    operation: str
    subject: str
    path: str
    expected: str
    got: str
    count: int = 1

    def line(self) -> str:
        times = f" ({self.count} times)" if self.count > 1 else ""
        return (
            f"{self.operation} ({self.subject}) at {self.path}: the contract says "
            f"{self.expected}, got {self.got}{times}"
        )


def json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _KEY.fullmatch(part):
            path += f".{part}"
        else:
            path += "[" + json.dumps(part[:40]).replace('"', "'") + "]"
    return path


def describe(value: Any, *, show_strings: bool, secrets: Collection[str]) -> str:
    """What came back, by kind; a string's value only where ``show_strings`` allows it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        secret = any(s and s in value for s in secrets)
        if show_strings and not secret and _WORDLIKE.fullmatch(value):
            return f'the string "{value}"'
        return f"a string of {len(value)} characters"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    return "an object"


def _expected(error: jsonschema.ValidationError) -> str:
    kind, value = error.validator, error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "type":
        kinds = value if isinstance(value, list) else [value]
        if schema.get("nullable") is True:
            kinds = [*kinds, "null"]
        return "type " + " or ".join(str(k) for k in kinds)
    if kind == "enum":
        shown = ", ".join(json.dumps(v) for v in list(value)[:_MAX_ENUM])
        more = ", …" if len(value) > _MAX_ENUM else ""
        return f"one of {shown}{more}"
    if kind == "const":
        return f"exactly {json.dumps(value)}"
    if kind == "format":
        return f"format {value}"
    if kind == "pattern":
        return f"a string matching {value}"
    if kind in ("oneOf", "anyOf"):
        return f"one of {len(value)} shapes"
    if kind == "additionalProperties":
        return "no fields beyond the described ones"
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return f"{kind} {value}"
    return str(kind)


def _validator_artifact(error: jsonschema.ValidationError) -> bool:
    """OpenAPI 3.0's ``nullable`` with an ``enum`` that does not list null: openapi-core refuses
    the null the description allows (GitHub's check-run ``conclusion``, an issue's
    ``state_reason``). The description is right; the validator reading of it is not."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    return error.instance is None and schema.get("nullable") is True


def divergences_of(
    errors: Iterable[jsonschema.ValidationError],
    *,
    operation: str,
    subject: str,
    secrets: Collection[str],
) -> list[Divergence]:
    """Every schema error of one reply as divergences, a missing field each on its own."""
    found: list[Divergence] = []
    seen: set[tuple[str, str, str]] = set()
    for error in errors:
        if error.context:  # oneOf/anyOf: tell the branch the value came closest to
            error = jsonschema.exceptions.best_match([error]) or error
        if _validator_artifact(error):
            continue
        parts = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            told = [
                (json_path([*parts, name]), "a required field", "nothing (absent)")
                for name in error.validator_value
                if name not in error.instance
            ]
        else:
            if error.validator == "additionalProperties":
                got = "other fields"
            else:
                show = error.validator in _VOCABULARY_CHECKS
                got = describe(error.instance, show_strings=show, secrets=secrets)
            told = [(json_path(parts), _expected(error), got)]
        for key in told:
            if key not in seen:
                seen.add(key)
                found.append(Divergence(operation, subject, *key))
    return found


def merged(divergences: Iterable[Divergence]) -> list[Divergence]:
    """The same break in every item of a list (or in every reply of a kind) is told once, at
    its first place, with how many times it was seen."""
    kept: dict[tuple[str, str, str, str], Divergence] = {}
    for divergence in divergences:
        key = (
            divergence.operation,
            divergence.subject,
            _INDEX.sub("[]", divergence.path),
            divergence.expected,
        )
        first = kept.get(key)
        if first is None:
            kept[key] = divergence
        else:
            kept[key] = replace(first, count=first.count + divergence.count)
    return list(kept.values())
