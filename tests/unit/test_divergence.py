"""How a reply that breaks its contract is told: where, what the contract says, what came back,
and never a secret or a piece of an issue's text."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from afk.doctor_deep.divergence import Divergence, describe, divergences_of, json_path, merged

SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["number", "title", "state"],
        "properties": {
            "number": {"type": "integer"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "state": {"type": "string", "enum": ["open", "closed"]},
            "created_at": {"type": "string", "format": "date-time"},
            "labels": {"type": "array", "items": {"type": "object"}},
        },
    },
}
CANARY = "PRIVATE-ISSUE-TEXT-7f3a"


def errors(value: Any) -> list[jsonschema.ValidationError]:
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return list(validator.iter_errors(value))


def told(value: Any, *, secrets: tuple[str, ...] = ()) -> list[Divergence]:
    return divergences_of(errors(value), operation="GET /issues", subject="acme/widgets",
                          secrets=secrets)  # fmt: skip


@pytest.mark.parametrize(
    ("parts", "path"),
    [
        ([], "$"),
        ([0, "labels", 2, "name"], "$[0].labels[2].name"),
        (["threads", 1, "latestTurn"], "$.threads[1].latestTurn"),
        (["a b"], "$['a b']"),
    ],
)
def test_json_paths(parts: list[str | int], path: str) -> None:
    assert json_path(parts) == path


def test_a_wrong_type_names_the_path_the_type_and_what_came() -> None:
    (found,) = told([{"number": "seven", "title": "t", "state": "open"}])
    assert (found.path, found.expected) == ("$[0].number", "type integer")
    assert found.got == "a string of 5 characters"
    assert found.line() == (
        "GET /issues (acme/widgets) at $[0].number: the contract says type integer, "
        "got a string of 5 characters"
    )


def test_a_missing_field_is_one_divergence_per_field() -> None:
    found = told([{"number": 1}])
    assert [(d.path, d.expected, d.got) for d in found] == [
        ("$[0].title", "a required field", "nothing (absent)"),
        ("$[0].state", "a required field", "nothing (absent)"),
    ]


def test_a_value_outside_a_vocabulary_is_shown() -> None:
    (found,) = told([{"number": 1, "title": "t", "state": "weird"}])
    assert found.expected == 'one of "open", "closed"'
    assert found.got == 'the string "weird"'


def test_issue_text_is_never_shown_whatever_breaks() -> None:
    """A value is shown only where the contract fixes a vocabulary (an enum, a format), and
    only when it looks like a word of one: free text is told by its kind and length."""
    sentence = f"{CANARY} is what the reporter wrote"
    issue = {"number": 1, "title": {"text": CANARY}, "state": sentence, "body": [CANARY]}
    found = told([issue])
    assert {d.path for d in found} == {"$[0].title", "$[0].state", "$[0].body"}
    for divergence in found:
        assert CANARY not in divergence.line()
        assert CANARY[:8] not in divergence.line()


def test_a_secret_is_never_shown_even_where_values_are() -> None:
    token = "ghp_notarealtokenbutlooksli"
    (found,) = told([{"number": 1, "title": "t", "state": token}], secrets=(token,))
    assert token not in found.line()
    assert found.got == "a string of 27 characters"


def test_numbers_booleans_and_null_are_shown_as_they_are() -> None:
    found = told([{"number": None, "title": True, "state": "open", "labels": {"a": 1}}])
    assert {d.path: d.got for d in found} == {
        "$[0].number": "null",
        "$[0].title": "true",
        "$[0].labels": "an object",
    }
    assert describe(2.5, show_strings=False, secrets=()) == "2.5"
    assert describe([1, 2], show_strings=False, secrets=()) == "an array of 2 items"


def test_a_bad_date_is_shown_when_it_looks_like_one() -> None:
    (found,) = told([{"number": 1, "title": "t", "state": "open", "created_at": "yesterday"}])
    assert found.expected == "format date-time"
    assert found.got == 'the string "yesterday"'


def test_the_same_break_in_every_item_is_told_once_with_a_count() -> None:
    reply = [{"number": str(n), "title": "t", "state": "open"} for n in range(30)]
    found = merged(told(reply) + told(reply[:3]))
    assert len(found) == 1
    assert found[0].path == "$[0].number"
    assert found[0].count == 33
    assert found[0].line().endswith("(33 times)")


def test_a_value_that_fits_no_alternative_is_told_by_its_closest_one() -> None:
    schema = {
        "type": "object",
        "properties": {
            "latestTurn": {
                "oneOf": [
                    {"type": "null"},
                    {"type": "object", "properties": {"state": {"enum": ["running", "error"]}}},
                ]
            }
        },
    }
    validator = jsonschema.Draft202012Validator(schema)
    (found,) = divergences_of(
        validator.iter_errors({"latestTurn": {"state": "errored"}}),
        operation="GET /shell",
        subject="T3",
        secrets=(),
    )
    assert (found.path, found.got) == ("$.latestTurn.state", 'the string "errored"')
