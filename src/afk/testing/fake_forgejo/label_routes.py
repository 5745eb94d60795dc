"""FakeForgejo's label routes, where the generations part: v11 removes a label by id only; from
v13 the path takes a name or an id and looks the value up as a repo label name first, then as
an organisation label name, then as an id (``routers/api/v1/repo/issue_label.go``)."""

from __future__ import annotations

import re

from afk.testing.fake_forgejo.server import Call, ForgejoServer, HttpError, Reply
from afk.testing.forge_state import Label
from afk.testing.forgejo_wire import api_error

_COLOR = re.compile(r"^#?(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
"""``modules/label`` NormalizeColor: ``#`` optional, six or three hex digits."""


def _missing(label_id: int, where: str = "repo_id", owner_id: int = 0) -> HttpError:
    return HttpError(
        422, api_error(f"label does not exist [label_id: {label_id}, {where}: {owner_id}]")
    )


class LabelRoutes(ForgejoServer):
    def _issue_labels(self, call: Call) -> Reply:
        issue = self._issue(call)
        wire = self._wire(call)
        return Reply(200, [wire.label(label) for label in issue.labels])

    def _add_labels(self, call: Call) -> Reply:
        """prepareForReplaceOrAdd: ids or names, never both; a name means the repo's label and
        the organisation's of that name; unknown names and foreign ids are dropped."""
        issue = self._issue(call)
        form = call.json()
        items = form.get("labels") if isinstance(form, dict) else None
        ids: list[int] = []
        names: list[str] = []
        for item in items or []:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                raise HttpError(400, api_error("a label must be an integer or a string"))
            if isinstance(item, str):
                names.append(item)
            else:
                ids.append(int(item))
        if ids and names:
            raise HttpError(400, api_error("labels should be an array of strings or integers"))
        if names and self.major < 8:
            raise HttpError(
                422, api_error("json: cannot unmarshal string into Go value of type int64")
            )
        owner = self.state.repo(call.repo).owner
        for name in names:
            for label in (
                self.state.find_label(call.repo, name),
                self.state.find_org_label(owner, name),
            ):
                if label is not None:
                    ids.append(label.id)
        usable = [i for i in ids if self.state.usable_label(call.repo, i) is not None]
        updated = self.state.add_labels(call.repo, issue.number, usable, actor=call.user.login)
        wire = self._wire(call)
        return Reply(200, [wire.label(label) for label in updated.labels])

    def _remove_label(self, call: Call) -> Reply:
        """Removing a label the issue lacks (or one of another repo) answers 204 and changes
        nothing; a label that exists nowhere answers 422."""
        issue = self._issue(call)
        label = self._by_id(call) if self.contract == "forgejo" else self._by_identifier(call)
        if issue.has_label_id(label.id):
            self.state.remove_label(call.repo, issue.number, label.id, actor=call.user.login)
        return Reply(204)

    def _by_id(self, call: Call) -> Label:
        label_id = call.int_param("id")
        label = self.state.label_anywhere(label_id)
        if label is None:
            raise _missing(label_id)
        return label

    def _by_identifier(self, call: Call) -> Label:
        identifier = call.params["identifier"]
        repo = self.state.repo(call.repo)
        owner = self.state.user(repo.owner)
        label = self.state.find_label(call.repo, identifier)
        if label is None and owner.is_org:
            label = self.state.find_org_label(owner.login, identifier)
        if label is None and identifier.isdigit():
            label = self.state.label_anywhere(int(identifier))
        if label is None:
            if identifier.isdigit():
                raise _missing(int(identifier))
            raise _missing(0, *(("org_id", owner.id) if owner.is_org else ("repo_id", repo.id)))
        return label

    def _create_label(self, call: Call) -> Reply:
        """CreateLabel: the colour is normalised (``#`` optional, three digits doubled) and a
        bad one answers 422; the reply carries it without ``#`` (convert.ToLabel). Forgejo
        would create a second label of a name the repo has; this fake refuses that (422, a
        violation) so a client that creates twice is caught."""
        form = call.json()
        name, color = form["name"], form["color"]
        if not isinstance(color, str) or not _COLOR.fullmatch(color):
            raise HttpError(422, api_error(f"bad color code: {color}"))
        hex_digits = color.lstrip("#").lower()
        if len(hex_digits) == 3:
            hex_digits = "".join(digit * 2 for digit in hex_digits)
        if self.state.find_label(call.repo, name) is not None:
            self._violation(f"POST {call.repo}/labels: the repo already has a label {name!r}")
            raise HttpError(422, api_error(f"label {name!r} already exists in this fake"))
        label = self.state.add_label(
            call.repo, name, color=hex_digits, description=str(form.get("description") or "")
        )
        return Reply(201, self._wire(call).label(label))

    def _repo_labels(self, call: Call) -> Reply:
        """GetLabelsByRepoID: the repo's own labels (never its organisation's), sorted by name;
        without ``page`` every label comes back."""
        labels = sorted(self.state.labels(call.repo), key=lambda label: label.name)
        paging = self._page(call, default_all=True)
        if paging is not None:
            page, size = paging
            labels_page = labels[(page - 1) * size : page * size]
        else:
            labels_page = labels
        wire = self._wire(call)
        body = [wire.label(label) for label in labels_page]
        return Reply(200, body, {"X-Total-Count": str(len(labels))})
