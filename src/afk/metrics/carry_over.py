"""Turn one tick's counts into counters that add up across ticks in the Pushgateway.

A CronJob's tick is a fresh process and a push replaces its whole group (job, instance), so a
counter pushed as "this tick's count" would jump up and down and ``increase()`` would mean
nothing. Before pushing, the tick reads its group back and adds what is there: counters and
histograms are summed, label sets this tick did not see are kept, and a gauge marked as carried
(the last success time) keeps its old value when this tick did not set it. Other gauges are the
last tick's. Ticks of one instance never overlap (CronJob ``concurrencyPolicy: Forbid``), so the
read-add-write has no competing writer; a Pushgateway that lost its data starts the counters
again, which Prometheus reads as an ordinary counter reset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from afk.metrics.metric_set import CARRIED_GAUGES, CATALOGUE, MetricSet

_SUMMED = {name for name, kind, _, _ in CATALOGUE if kind in ("counter", "histogram")}
_KINDS = {name: kind for name, kind, _, _ in CATALOGUE}
_GROUP_LABELS = ("job", "instance")

SampleKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class _Child:
    """One labelled child of a family (a counter's value, or a histogram's samples)."""

    samples: dict[SampleKey, float]

    def layout(self) -> frozenset[str]:
        return frozenset(dict(labels)["le"] for name, labels in self.samples if name.endswith(
            "_bucket"))  # fmt: skip


def previous_group(exposition: str, *, job: str, instance: str) -> dict[str, list[Sample]]:
    """The carried families of one group, from a Pushgateway's ``/metrics`` text, with the
    grouping labels removed (the push adds them again)."""
    group: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name not in _SUMMED and family.name not in CARRIED_GAUGES:
            continue
        for sample in family.samples:
            if sample.labels.get("job") != job or sample.labels.get("instance") != instance:
                continue
            own = {k: v for k, v in sample.labels.items() if k not in _GROUP_LABELS}
            group.setdefault(family.name, []).append(sample._replace(labels=own))
    return group


def _key(sample: Sample) -> SampleKey:
    return sample.name, tuple(sorted(sample.labels.items()))


def _children(samples: Iterable[Sample]) -> dict[tuple[tuple[str, str], ...], _Child]:
    """Samples grouped by their labels without ``le`` (a histogram child has many samples)."""
    children: dict[tuple[tuple[str, str], ...], _Child] = {}
    for sample in samples:
        if sample.name.endswith("_created"):
            continue
        child = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        children.setdefault(child, _Child({})).samples[_key(sample)] = sample.value
    return children


class CarriedOver(Collector):
    """This tick's metrics plus the group's previous totals, ready for one push."""

    def __init__(self, current: MetricSet, previous: dict[str, list[Sample]]) -> None:
        self._current = current
        self._previous = previous

    def collect(self) -> Iterable[Metric]:
        seen: set[str] = set()
        for family in self._current.families():
            seen.add(family.name)
            old = self._previous.get(family.name, [])
            if family.name in _SUMMED:
                family.samples = _summed(family.samples, old)
            elif family.name in CARRIED_GAUGES and not family.samples:
                family.samples = list(old)
            yield family
        for name, old in self._previous.items():
            if name in seen:
                continue
            family = Metric(name, _help(name), _KINDS[name])
            family.samples = list(old)
            yield family


def _summed(current: list[Sample], previous: list[Sample]) -> list[Sample]:
    now = _children(current)
    before = _children(previous)
    layout = next((child.layout() for child in now.values()), None)
    merged: list[Sample] = []
    for labels, child in now.items():
        old = before.pop(labels, None)
        if old is not None and old.layout() != child.layout():
            old = None  # another bucket layout: start this child again (a counter reset)
        for sample in current:
            if _key(sample) in child.samples:
                extra = old.samples.get(_key(sample), 0.0) if old else 0.0
                merged.append(sample._replace(value=sample.value + extra))
    for child in before.values():
        if layout is None or child.layout() == layout:
            merged.extend(Sample(name, dict(labels), value) for (name, labels), value in
                          child.samples.items())  # fmt: skip
    return merged


def _help(name: str) -> str:
    return next(help_text for family, _, _, help_text in CATALOGUE if family == name)
