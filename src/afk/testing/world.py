"""A whole afk world in one object: a strict fake forge, a strict fake T3, a fake Slack, and the
real wiring, loops and cores between them.

The demo, the loop integration tests, the fault-injection suite and the benchmarks all drive afk
through this, so they exercise exactly what ``afk poll``/``afk watch`` run in production: only
the servers are fakes (and each fake validates the wire against the official API descriptions).

Two transports: ``mock`` (in-process, fast, deterministic) or ``loopback`` (real sockets on
127.0.0.1, for subprocess tests of the installed CLI and for latency benchmarks). Slack is always
a loopback server because slack-sdk speaks urllib, not httpx.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from afk import wiring
from afk.core import ids, phase_checklist
from afk.core.config import Config
from afk.core.types import RepoRef, RunRecord
from afk.loops.deps import MAX_WORKERS, Deps
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing.fake_forgejo import FakeForgejo
from afk.testing.fake_github import FakeGitHub
from afk.testing.fake_slack import FakeSlack
from afk.testing.fake_t3 import FakeT3
from afk.testing.fake_t3_state import CURRENT_VERSION as CURRENT_T3
from afk.testing.fake_t3_state import Version as T3Version
from afk.testing.forge_state import (
    ClosingScope,
    ForgeState,
    MergeMethod,
    Pull,
    PullReview,
    ReviewState,
)
from afk.testing.serving import loopback_server, mock_transport

Forge = Literal["forgejo", "github"]
FORGE_HOST = "forge.test"
T3_HOST = "t3.test"
BOT, BOT_TOKEN = "afk-bot", "forge-token-afk-bot"
HUMAN, HUMAN_TOKEN = "alice", "forge-token-alice"
T3_TOKEN = "t3-token-for-tests"
SLACK_TOKEN, SLACK_CHANNEL = "xoxb-fake-token-for-tests", "C0AFK"
LABELS = ("ready-for-agent", "agent-in-progress", "ready-for-human", "P0", "P1", "P2", "P3")
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
FORGEJO_V11 = "11.0.1+gitea-1.22.0"
FORGEJO_V15 = "15.0.3+gitea-1.22.0"
FORGEJO_GENERATIONS = (FORGEJO_V11, FORGEJO_V15)
"""The Forgejo versions a world can be: the 11 LTS line and the current release."""


class IsolatedConfig(Config):
    """A Config that reads nothing from the environment: a world is the same on every machine."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass
class Clock:
    """The world's time; ticks take ``now`` from it and tests move it."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


class World:
    def __init__(
        self,
        *,
        forge: Forge = "forgejo",
        repos: tuple[str, ...] = ("acme/widgets",),
        transport: Literal["mock", "loopback"] = "mock",
        latency_s: float = 0.0,
        slack: bool = True,
        t3_version: T3Version = CURRENT_T3,
        forgejo_version: str = FORGEJO_V11,
    ) -> None:
        self.kind: Forge = forge
        self.clock = Clock()
        self.state = ForgeState(clock=self.clock)
        self.state.add_user(BOT, BOT_TOKEN)
        self.state.add_user(HUMAN, HUMAN_TOKEN)
        self.forge: FakeForgejo | FakeGitHub = (
            FakeForgejo(self.state, version=forgejo_version)
            if forge == "forgejo"
            else FakeGitHub(self.state)
        )
        self.t3 = FakeT3(T3_TOKEN, clock=self.clock, version=t3_version)
        self.slack = FakeSlack(SLACK_TOKEN, SLACK_CHANNEL) if slack else None
        self.repos = tuple(RepoRef.parse(r) for r in repos)
        for repo in repos:
            self.add_repo(repo)
        self.transport = transport
        self.latency_s = latency_s
        self._stack = contextlib.ExitStack()
        self.forge_url = f"http://{FORGE_HOST}"
        self.t3_url = f"http://{T3_HOST}"
        self.slack_url: str | None = None
        self._http: httpx.Client | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> World:
        if self.slack is not None:
            self.slack_url = self._stack.enter_context(loopback_server(self.slack.handle))
        if self.transport == "loopback":
            self.forge_url = self._stack.enter_context(
                loopback_server(self.forge.handle, latency_s=self.latency_s)
            )
            self.t3_url = self._stack.enter_context(
                loopback_server(self.t3.handle, latency_s=self.latency_s)
            )
            self._http = self._stack.enter_context(httpx.Client(timeout=10))
        else:
            self._http = self._stack.enter_context(
                httpx.Client(transport=mock_transport(self._route, latency_s=self.latency_s))
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _route(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == FORGE_HOST:
            return self.forge.handle(request)
        if request.url.host == T3_HOST:
            return self.t3.handle(request)
        raise AssertionError(f"afk called an unexpected host: {request.url.host}")

    # --- configuration and ticks --------------------------------------------------------

    @property
    def tracker_url(self) -> str:
        return f"{self.forge_url}/api/v1" if self.kind == "forgejo" else self.forge_url

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The armed settings of this world, as init values (also usable as AFK_* env)."""
        values: dict[str, Any] = {
            "kill_switch": False,
            "allowlist": ",".join(str(r) for r in self.repos),
            "tracker_kind": self.kind,
            "tracker_url": self.tracker_url,
            "tracker_token": BOT_TOKEN,
            "t3_url": self.t3_url,
            "t3_token": T3_TOKEN,
            "http_retry_seconds": 0.5,
            "http_timeout_seconds": 5,
        }
        if self.slack is not None:
            values.update(slack_token=SLACK_TOKEN, slack_channel=SLACK_CHANNEL)
            if self.slack_url is not None:
                values["slack_api_url"] = f"{self.slack_url}/api/"
        values.update(overrides)
        return values

    def env(self, **overrides: Any) -> dict[str, str]:
        """The same settings as ``AFK_*`` variables, for a subprocess running the real CLI."""
        return {f"AFK_{k.upper()}": str(v) for k, v in self.settings(**overrides).items()}

    def config(self, **overrides: Any) -> Config:
        return IsolatedConfig(**self.settings(**overrides))

    def deps(self, config: Config | None = None, *, max_workers: int = MAX_WORKERS) -> Deps:
        assert self._http is not None, "use the world as a context manager"
        return wiring.build(config or self.config(), http=self._http, max_workers=max_workers)

    def poll(self, config: Config | None = None, *, dry_run: bool = False) -> Report:
        config = config or self.config()
        return poll_tick(self.deps(config), config, now=self.clock(), dry_run=dry_run)

    def watch(self, config: Config | None = None, *, dry_run: bool = False) -> Report:
        config = config or self.config()
        return watch_tick(self.deps(config), config, now=self.clock(), dry_run=dry_run)

    # --- the forge, as a team uses it ----------------------------------------------------

    def add_repo(self, repo: str) -> None:
        """A repo of an organisation (unless its owner is a person already), with afk's labels
        and write access for afk and the human (who review and merge pull requests); the forge
        model starts it with one commit on its default branch (a run's base)."""
        with contextlib.suppress(ValueError):
            self.state.add_org(repo.partition("/")[0])
        self.state.add_repo(repo)
        for label in LABELS:
            self.state.add_label(repo, label)
        for login in (BOT, HUMAN):
            self.state.add_collaborator(repo, login)

    def ready_issue(
        self,
        repo: str,
        title: str,
        *,
        body: str = "",
        priority: str | None = None,
        by: str = HUMAN,
        age_minutes: float = 0,
    ) -> int:
        """An issue opened and labelled ready (and prioritised) by ``by``."""
        created = self.clock() - timedelta(minutes=age_minutes)
        issue = self.state.add_issue(repo, title, body=body, user=by, created_at=created)
        self.state.add_label_by_name(repo, issue.number, "ready-for-agent", actor=by)
        if priority:
            self.state.add_label_by_name(repo, issue.number, priority, actor=by)
        return issue.number

    def labels(self, repo: str, number: int) -> set[str]:
        return {label.name for label in self.state.issue(repo, number).labels}

    def is_open(self, repo: str, number: int) -> bool:
        return self.state.issue(repo, number).state == "open"

    def record(self, repo: str, number: int) -> RunRecord | None:
        """afk's run record, read back the way afk reads it (bot-authored comments only)."""
        for comment in self.state.comments(repo, number):
            if comment.user == BOT:
                record = phase_checklist.parse(comment.body)
                if record is not None:
                    return record
        return None

    # --- the agent and CI, as the outside world behaves -----------------------------------

    def thread(self, repo: str, number: int, attempt: int = 1) -> str:
        return ids.thread_id(RepoRef.parse(repo), number, attempt)

    def agent_says(self, repo: str, number: int, *lines: str, attempt: int = 1) -> None:
        """The agent writes a (finished) message in its thread."""
        self.t3.add_assistant_message(self.thread(repo, number, attempt), "\n".join(lines))

    def agent_asks(self, repo: str, number: int, question: str, *, attempt: int = 1) -> str:
        """The agent stops to ask a person (a user-input request); returns the request id."""
        return self.t3.request_user_input(self.thread(repo, number, attempt), question)

    def agent_idle(self, repo: str, number: int, attempt: int = 1) -> None:
        self.t3.set_turn_state(self.thread(repo, number, attempt), "completed")

    def agent_pushes(self, repo: str, number: int, sha: str, *, attempt: int = 1) -> None:
        """The agent pushes ``sha`` and reports it; its turn ends."""
        self.state.add_commit(repo, sha, branch="main")
        self.agent_says(repo, number, f"Pushed the fix.\nAFK-PHASE: pushed {sha}", attempt=attempt)
        self.agent_idle(repo, number, attempt)

    def ci(self, repo: str, sha: str, state: str, *, context: str = "ci/build", **kw: Any) -> None:
        """A CI result for ``sha``: a commit status (both forges afk reads them)."""
        self.state.set_status(repo, sha, context, state, **kw)

    def deploy(
        self, repo: str, sha: str, state: str, *, context: str = "deploy/production"
    ) -> None:
        if self.kind == "github":
            deployment = self.state.add_deployment(repo, sha=sha, environment=context)
            self.state.add_deployment_status(repo, deployment.id, state)
        else:
            self.state.set_status(repo, sha, context, state)

    # --- pull requests, as a team works with them (delegating to the forge model) -----------

    def branch(self, number: int, attempt: int = 1, *, prefix: str = "afk/") -> str:
        """The run's branch in pull-request delivery (``AFK_BRANCH_PREFIX`` ``prefix``)."""
        return ids.branch_name(prefix, number, attempt)

    def push_to_branch(self, repo: str, branch: str, sha: str) -> str:
        """A commit pushed onto ``branch``; a new branch starts from the default branch's head."""
        parent = self.state.branch_head(repo, branch)
        if parent is None:
            parent = self.state.branch_head(repo, self.state.repo(repo).default_branch)
        parents = () if parent is None else (parent,)
        return self.state.add_commit(repo, sha, branch=branch, parents=parents)

    def agent_pushes_branch(self, repo: str, number: int, sha: str, *, attempt: int = 1) -> None:
        """Pull-request delivery: the agent pushes ``sha`` onto its run's branch and reports it;
        its turn ends."""
        self.push_to_branch(repo, self.branch(number, attempt), sha)
        self.agent_says(repo, number, f"Pushed the branch.\nAFK-PHASE: pushed {sha}",
                        attempt=attempt)  # fmt: skip
        self.agent_idle(repo, number, attempt)

    def pull_of(self, repo: str, number: int, attempt: int = 1) -> Pull | None:
        """The newest pull request whose head is the run's branch, in any state."""
        found = self.state.pulls(repo, state="all", head=self.branch(number, attempt))
        return found[0] if found else None

    def pulls_of(self, repo: str, number: int, attempt: int = 1) -> list[Pull]:
        return self.state.pulls(repo, state="all", head=self.branch(number, attempt))

    def review(
        self,
        repo: str,
        pull: int,
        state: ReviewState,
        body: str = "",
        *,
        by: str = HUMAN,
        comments: tuple[tuple[str, int | None, str], ...] = (),
        commit_id: str | None = None,
    ) -> PullReview:
        """``by`` submits a review (``comments`` are ``(path, line, text)``) on the head."""
        return self.state.add_review(repo, pull, user=by, state=state, body=body,
                                     comments=comments, commit_id=commit_id)  # fmt: skip

    def settle(self, repo: str, pull: int) -> None:
        """The forge finished computing whether the pull request merges (GitHub's ``null``,
        Forgejo's background check)."""
        self.state.settle_mergeability(repo, pull)

    def conflict(self, repo: str, pull: int) -> None:
        """The default branch moved on under the pull request and now conflicts with it."""
        default = self.state.repo(repo).default_branch
        self.push_to_branch(repo, default, commit_sha(repo, "moved on", pull))
        self.state.set_conflict(repo, pull)

    def protect(self, repo: str, *, approvals: int = 0, contexts: tuple[str, ...] = ()) -> None:
        """The default branch demands approvals (from writers) and green contexts to merge."""
        default = self.state.repo(repo).default_branch
        self.state.protect_branch(repo, default, required_approvals=approvals,
                                  required_contexts=contexts)  # fmt: skip

    def person_merges(self, repo: str, pull: int, *, method: MergeMethod = "merge") -> Pull:
        """A person merges from the web page, as each forge does it (``Closes #N`` included)."""
        scope: ClosingScope = "any_branch" if self.kind == "forgejo" else "default_branch"
        return self.state.person_merges(repo, pull, actor=HUMAN, method=method,
                                        closing_scope=scope)  # fmt: skip

    def person_closes_pull(self, repo: str, pull: int) -> Pull:
        return self.state.person_closes_pull(repo, pull, actor=HUMAN)


@contextlib.contextmanager
def world(**kwargs: Any) -> Iterator[World]:
    with World(**kwargs) as w:
        yield w


def commit_sha(*parts: object) -> str:
    """A stable 40-hex sha named by ``parts`` (a world's commits read the same on every run)."""
    seed = "/".join(str(part) for part in parts)
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


def count(requests: list[Any], predicate: Callable[[Any], bool] | None = None) -> int:
    return sum(1 for r in requests if predicate is None or predicate(r))
