"""FakeGitHub's label creation: ``POST /repos/{owner}/{repo}/labels``.

As GitHub answers (its description and documentation): 201 with the label and a ``Location``;
the colour is six hex digits *without* ``#`` (a ``#`` or any other shape is refused 422 and
recorded as a violation, since the description says so); a description longer than 100
characters is refused 422; a name the repo already has, in any case, answers 422
``already_exists`` (a real refusal, not afk's mistake, so not a violation).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from afk.testing.forge_state import User

if TYPE_CHECKING:
    from afk.testing.fake_github_core import FakeGitHubCore

Route = tuple[str, str, Callable[..., Any]]
_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")
MAX_DESCRIPTION = 100


def routes(fake: FakeGitHubCore) -> list[Route]:
    from afk.testing.fake_github_wire import _json, _only_params, _Refused

    def create_label(
        request: httpx.Request, user: User, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        _only_params(request, ())
        full = fake._repo(owner, repo)
        body = _json(request)
        name = body["name"]
        color = body.get("color", "ededed")
        description = body.get("description") or ""
        if not isinstance(color, str) or not _COLOR.fullmatch(color):
            raise _Refused(422, "Validation Failed: color is invalid", violation=True)
        if len(description) > MAX_DESCRIPTION:
            raise _Refused(422, "Validation Failed: description is too long", violation=True)
        if fake.state.find_label(full, name, ignore_case=True) is not None:
            raise _Refused(422, "Validation Failed: already_exists")
        label = fake.state.add_label(full, name, color=color.lower(), description=description)
        reply = fake._label(request, owner, repo, label)
        location = f"{fake._repo_url(request, owner, repo)}/labels/{quote(name, safe='')}"
        return 201, reply, {"Location": location}

    return [("POST", "/repos/{owner}/{repo}/labels", create_label)]
