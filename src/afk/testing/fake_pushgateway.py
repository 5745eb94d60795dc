"""A strict fake Prometheus Pushgateway: groups replaced by PUT, read back from ``/metrics``.

It does what the real Pushgateway (v1) does with the requests afk sends: ``PUT
/metrics/job/<job>{/<label>/<value>}`` replaces the group (``<label>@base64`` values decoded),
the body must parse as the text exposition format, a metric must keep one type across groups
(else 400, "inconsistent with existing metrics"), and ``GET /metrics`` serves every group's
samples with the grouping labels added, plus ``push_time_seconds`` per group. Anything else is
refused. Tests can make it fail the next requests or drop them.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from afk.testing.serving import DropConnection

GroupKey = tuple[tuple[str, str], ...]


@dataclass
class Push:
    method: str
    path: str
    body: str


@dataclass
class _Group:
    families: list[Metric]
    pushed_at: float


@dataclass
class FakePushgateway:
    groups: dict[GroupKey, _Group] = field(default_factory=dict)
    pushes: list[Push] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _failures: list[int | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- test controls ------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int | None = 500) -> None:
        """The next ``count`` requests get ``status`` (``None``: the connection drops)."""
        with self._lock:
            self._failures.extend([status] * count)

    def samples(self, job: str, instance: str) -> dict[str, float]:
        """``name{labels}`` → value for one group, labels sorted and rendered like PromQL."""
        with self._lock:
            group = self.groups.get((("instance", instance), ("job", job)))
            families = list(group.families) if group else []
        found: dict[str, float] = {}
        for family in families:
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}"] = sample.value
        return found

    # --- the wire ------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.method, request.url.path))
            failure = self._failures.pop(0) if self._failures else 0
        if failure is None:
            raise DropConnection
        if failure:
            return httpx.Response(failure, text="injected failure\n")
        path = request.url.path
        if request.method == "GET" and path == "/metrics":
            return httpx.Response(
                200,
                content=self._exposition(),
                headers={"content-type": "text/plain; version=0.0.4; charset=utf-8"},
            )
        if path.startswith("/metrics/job/") and request.method == "PUT":
            return self._put(request)
        return httpx.Response(405 if path.startswith("/metrics") else 404, text="not served\n")

    def _put(self, request: httpx.Request) -> httpx.Response:
        try:
            key = _group_key(request.url.path.removeprefix("/metrics/"))
        except ValueError as exc:
            return httpx.Response(400, text=f"{exc}\n")
        body = request.content.decode("utf-8")
        try:
            families = list(text_string_to_metric_families(body))
        except ValueError as exc:
            return httpx.Response(400, text=f"text format parsing error: {exc}\n")
        with self._lock:
            clash = self._inconsistent(key, families)
            if clash:
                return httpx.Response(
                    400, text=f"pushed metrics are invalid or inconsistent with existing {clash}\n"
                )
            self.groups[key] = _Group(families, time.time())
            self.pushes.append(Push(request.method, request.url.path, body))
        return httpx.Response(200)

    def _inconsistent(self, key: GroupKey, families: Iterable[Metric]) -> str:
        types = {
            family.name: family.type
            for other, group in self.groups.items()
            if other != key
            for family in group.families
        }
        for family in families:
            if family.name in types and types[family.name] != family.type:
                return f"metrics: {family.name} is not a {family.type}"
        return ""

    def _exposition(self) -> bytes:
        registry = CollectorRegistry()
        with self._lock:
            registry.register(_Groups(dict(self.groups)))
        return generate_latest(registry)


class _Groups(Collector):
    def __init__(self, groups: dict[GroupKey, _Group]) -> None:
        self._groups = groups

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        pushed = Metric("push_time_seconds", "Last Unix time when changing this group in the "
                        "Pushgateway succeeded.", "gauge")  # fmt: skip
        for key, group in sorted(self._groups.items()):
            grouping = dict(key)
            for family in group.families:
                into = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    into.samples.append(sample._replace(labels={**sample.labels, **grouping}))
            pushed.add_sample("push_time_seconds", grouping, group.pushed_at)
        yield from merged.values()
        yield pushed


def _group_key(path: str) -> GroupKey:
    """``job/<job>/<label>/<value>…`` → sorted pairs; ``instance`` is "" when not given."""
    parts = path.split("/")
    if len(parts) % 2 or len(parts) < 2:
        raise ValueError(f"bad grouping key {path!r}")
    labels = {"instance": ""}
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        if name.endswith("@base64"):
            name = name.removesuffix("@base64")
            value = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        if not name or (not value and name == "job"):
            raise ValueError(f"empty {name or 'label name'} in the grouping key")
        labels[name] = value
    return tuple(sorted(labels.items()))
