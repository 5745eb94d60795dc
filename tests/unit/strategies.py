"""Hypothesis strategies for afk's core types, shared by every property test.

Datetimes are timezone-aware UTC (as the cores require); shas are 40 lowercase hex; thread ids are
canonical UUID strings, as ``afk.core.ids`` makes them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from afk.core.types import (
    AgentPhase,
    AgentReport,
    CiCheck,
    CiState,
    CiStatus,
    DeployState,
    DeployStatus,
    EscalationReason,
    Issue,
    Limits,
    Observation,
    Phase,
    RepoRef,
    RunRecord,
    ThreadLiveness,
)

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_name = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,12}\Z")
repo_refs = st.builds(RepoRef, owner=_name, name=_name)
small_repo_refs = st.sampled_from(
    [RepoRef("acme", "widgets"), RepoRef("acme", "gadgets"), RepoRef("zeta", "core")]
)
"""A few repos only, so generated issues collide on repos (and locks, and priorities)."""

aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
near_datetimes = st.integers(min_value=0, max_value=600).map(lambda m: EPOCH + timedelta(minutes=m))
"""Within ten hours of ``EPOCH``, so the state machine's clocks are exercised on both sides."""

shas = st.from_regex(r"\A[0-9a-f]{40}\Z")
thread_ids = st.uuids().map(str)
logins = st.sampled_from(["alice", "bob", "mallory", "Alice"])

PRIORITY_LABELS = ("P0", "P1", "P2", "P3", "P4", "p2")
IN_PROGRESS = "agent-in-progress"
labels = st.lists(
    st.sampled_from([*PRIORITY_LABELS, "ready-for-agent", IN_PROGRESS, "bug"]), max_size=4
).map(tuple)


@st.composite
def issues(
    draw: st.DrawFn,
    repos: st.SearchStrategy[RepoRef] = small_repo_refs,
    created: st.SearchStrategy[datetime] = near_datetimes,
) -> Issue:
    repo = draw(repos)
    number = draw(st.integers(min_value=1, max_value=60))
    return Issue(
        repo=repo,
        number=number,
        title=draw(st.text(max_size=40)),
        body=draw(st.text(max_size=200)),
        labels=draw(labels),
        author=draw(logins),
        created_at=draw(created),
        url=f"https://git.example.com/{repo}/issues/{number}",
        trigger_labeler=draw(st.none() | logins),
    )


agent_reports = st.builds(
    AgentReport, phase=st.none() | st.sampled_from(AgentPhase), sha=st.none() | shas
)
ci_checks = st.builds(
    CiCheck,
    context=st.text(max_size=30),
    state=st.sampled_from(["failure", "error", "success", "pending"]),
    description=st.text(max_size=60),
    url=st.none() | st.just("https://ci.example.com/run/1"),
)
ci_states = st.builds(
    CiState,
    status=st.sampled_from(CiStatus),
    checks=st.lists(ci_checks, max_size=3).map(tuple),
)
deploy_states = st.builds(
    DeployState,
    status=st.sampled_from(DeployStatus),
    description=st.text(max_size=60),
    url=st.none() | st.just("https://deploy.example.com/1"),
)


@st.composite
def run_records(
    draw: st.DrawFn, moments: st.SearchStrategy[datetime] = aware_datetimes
) -> RunRecord:
    """Any record the loops could have written (``updated_at`` never before ``dispatched_at``)."""
    dispatched = draw(moments)
    updated = draw(moments.filter(lambda moment: moment >= dispatched) | st.just(dispatched))
    corrected = tuple(draw(st.lists(shas, max_size=3, unique=True)))
    return RunRecord(
        thread_id=draw(thread_ids),
        attempt=draw(st.integers(min_value=1, max_value=20)),
        dispatched_at=dispatched,
        updated_at=updated,
        phase=draw(st.sampled_from(Phase)),
        sha=draw(st.none() | shas | st.sampled_from(corrected or (None,))),
        fix_forwards=len(corrected) + draw(st.integers(min_value=0, max_value=2)),
        corrected_shas=corrected,
        escalation=draw(st.none() | st.sampled_from(EscalationReason)),
        notified=draw(st.booleans()),
        verified_at=draw(st.none() | moments),
    )


@st.composite
def observations(
    draw: st.DrawFn, reports: st.SearchStrategy[AgentReport] = agent_reports
) -> Observation:
    """Observations shaped as a watch tick gathers them: CI only for a verified sha."""
    report = draw(reports)
    sha_exists = None if report.sha is None else draw(st.booleans())
    ci = draw(st.none() | ci_states) if sha_exists else None
    return Observation(
        liveness=draw(st.sampled_from(ThreadLiveness)),
        report=report,
        sha_verified=sha_exists,
        ci=ci,
        deploy=draw(st.none() | deploy_states) if ci is not None else None,
        last_activity_at=draw(st.none() | near_datetimes),
        last_error=draw(st.none() | st.text(max_size=40)),
        waiting_on=draw(st.none() | st.just("an answer to its question: which database?")),
    )


limits = st.builds(
    Limits,
    max_fix_forwards=st.integers(min_value=0, max_value=4),
    stall_minutes=st.integers(min_value=1, max_value=120),
    max_run_minutes=st.integers(min_value=1, max_value=600),
    max_ci_minutes=st.integers(min_value=1, max_value=600),
    deploy_configured=st.booleans(),
)
