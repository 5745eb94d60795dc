"""Gather what the watch tick knows about one run: T3's thread, the push, CI, the pull request.

Only what the decision can use is read: the sha's provenance when it is new (a sha the record
holds was verified on an earlier tick, and commits do not vanish), CI for the sha being judged
(in pull-request delivery the pull request's head, whoever pushed it), the deploy once CI passed
(or for the merge commit), and reviews only while the agent is free to answer them.
"""

from __future__ import annotations

from dataclasses import replace

from afk.core.config import Config
from afk.core.phases import parse_report
from afk.core.ports import FleetView, Transcript
from afk.core.provenance import judge
from afk.core.run_state_machine import WORKING
from afk.core.types import (
    AgentPhase,
    AgentReport,
    CiStatus,
    Delivery,
    Issue,
    Observation,
    PullState,
    PullStatus,
    RunRecord,
    ThreadLiveness,
)
from afk.loops.deps import Deps

SPARE_TURNS = 1
"""Turns read beyond afk's own (the opening, one per fix-forward and review): room for a
person's."""


def transcript_of(deps: Deps, view: FleetView, record: RunRecord) -> Transcript | None:
    """The run's thread, its newest turns: every turn afk sent, and a spare."""
    turns = 1 + record.fix_forwards + len(record.answered_reviews) + SPARE_TURNS
    return deps.runner.transcript(record.thread_id, turns=turns, view=view)


def observe(
    deps: Deps,
    config: Config,
    view: FleetView,
    issue: Issue,
    record: RunRecord,
    transcript: Transcript | None,
) -> Observation:
    observation = _from_t3(view, record, transcript)
    sha = observation.report.sha
    if sha is not None and sha != record.sha:
        observation = _provenance(deps, config, issue, record, observation, sha)
    elif sha is not None:
        observation = replace(observation, sha_verified=True)
    if config.delivery is Delivery.PULL_REQUEST:
        return _pull_request(deps, config, issue, record, observation)
    if observation.sha_verified is not True or sha is None:
        return observation
    return _ci_and_deploy(deps, config, issue, observation, sha)


def _from_t3(view: FleetView, record: RunRecord, transcript: Transcript | None) -> Observation:
    thread = record.thread_id
    liveness = ThreadLiveness.MISSING if transcript is None else view.liveness(thread)
    report = parse_report(transcript.agent_text) if transcript else AgentReport()
    if transcript and not transcript.complete and report.sha is None and record.sha:
        # Only the newest turns were read and none reported a push: the last verified one
        # (from an older turn) still stands.
        report = AgentReport(AgentPhase.PUSHED, record.sha)
    waiting_on = view.waiting_on(thread) if transcript is not None else None
    if waiting_on is not None and transcript is not None and transcript.question:
        waiting_on = f"{waiting_on}: {transcript.question}"
    return Observation(
        liveness=liveness,
        report=report,
        last_activity_at=view.last_activity_at(thread),
        last_error=view.last_error(thread),
        waiting_on=waiting_on,
    )


def _provenance(
    deps: Deps,
    config: Config,
    issue: Issue,
    record: RunRecord,
    observation: Observation,
    sha: str,
) -> Observation:
    """Is the newly reported sha the run's own work, where it belongs? (afk.core.provenance)"""
    pull_request = config.delivery is Delivery.PULL_REQUEST
    target = None
    if not pull_request:
        target = record.default_branch or deps.ci.default_branch(issue.repo).name
    facts = deps.ci.push_facts(
        issue.repo,
        sha,
        base_sha=record.base_sha,
        target_branch=target,
        run_branch=record.branch if pull_request else None,
    )
    verdict = judge(
        facts,
        base_sha=record.base_sha,
        dispatched_at=record.dispatched_at,
        delivery=config.delivery,
        branch=record.branch,
    )
    return replace(observation, sha_verified=verdict.ok, push_problem=verdict.problem)


def _ci_and_deploy(
    deps: Deps, config: Config, issue: Issue, observation: Observation, sha: str
) -> Observation:
    state = deps.ci.ci_state(issue.repo, sha)
    deploy = None
    if config.deploy_context and state.status is CiStatus.PASSED:
        deploy = deps.ci.deploy_state(issue.repo, sha, config.deploy_context)
    return replace(observation, ci=state, deploy=deploy)


def _pull_request(
    deps: Deps, config: Config, issue: Issue, record: RunRecord, observation: Observation
) -> Observation:
    pull = _find_pull(deps, issue, record, observation)
    if pull is None:
        return observation
    observation = replace(observation, pull=pull)
    if pull.status is PullStatus.MERGED:
        if config.deploy_context and pull.merge_sha:
            deploy = deps.ci.deploy_state(issue.repo, pull.merge_sha, config.deploy_context)
            observation = replace(observation, deploy=deploy)
        return observation
    if pull.status is not PullStatus.OPEN:
        return observation
    observation = replace(observation, ci=deps.ci.ci_state(issue.repo, pull.head_sha))
    if observation.liveness in WORKING or observation.ci is None:
        return observation
    if observation.ci.status is CiStatus.FAILED:
        return observation  # a failed CI is answered first: reviews can wait a tick
    assert deps.pulls is not None
    return replace(observation, reviews=deps.pulls.reviews(issue.repo, pull.number))


def _find_pull(
    deps: Deps, issue: Issue, record: RunRecord, observation: Observation
) -> PullState | None:
    """The run's pull request: by its number once recorded, else by the run's branch (a tick
    that opened it may have died before recording it), and not before the agent pushed."""
    pulls = deps.pulls
    if pulls is None or record.branch is None:
        return None
    if record.pull is not None:
        return pulls.get(issue.repo, record.pull)
    if observation.report.sha is None:
        return None
    return pulls.find(issue.repo, record.branch)
