"""Prometheus families of usage accounting and concurrency limits, built at scrape time.

Registered beside the monitor's collector (``engine.monitor.registry``), so ``skillexec
metrics serve`` exposes them too. Label cardinality stays bounded: skills the monitor folds
into "other" are folded here too, and principals beyond the ledger's ``max_keys`` are
counted under "other".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skillexec.resources.manager import ResourceManager

__all__ = ["UsageCollector"]


class UsageCollector(Collector):
    def __init__(self, resources: ResourceManager, *,
                 skills: Callable[[], Collection[str]] = tuple) -> None:
        self.resources = resources
        self._skills = skills  # the skill labels the monitor gives (empty: no folding)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # built at scrape time

    def collect(self) -> Iterator[Metric]:
        usage = self.resources.usage()
        known = self._skills()
        if known:
            usage["skills"] = _fold(usage["skills"], known)
        for scope in ("skill", "principal"):
            accounts = usage[scope + "s"]
            calls = CounterMetricFamily(f"skillexec_{scope}_calls",
                                        f"Finished tasks, by {scope}.", labels=[scope])
            failures = CounterMetricFamily(f"skillexec_{scope}_failures",
                                           f"Tasks that ran and did not succeed, by {scope}.",
                                           labels=[scope])
            refusals = CounterMetricFamily(f"skillexec_{scope}_refusals",
                                           f"Tasks refused before they ran, by {scope}.",
                                           labels=[scope])
            cancellations = CounterMetricFamily(f"skillexec_{scope}_cancellations",
                                                f"Tasks cancelled, by {scope}.",
                                                labels=[scope])
            cpu = CounterMetricFamily(f"skillexec_{scope}_cpu_seconds",
                                      f"CPU seconds used where runners measured it, by {scope}.",
                                      labels=[scope])
            wall = CounterMetricFamily(f"skillexec_{scope}_wall_seconds",
                                       f"Wall time of attempts, by {scope}.", labels=[scope])
            peak = GaugeMetricFamily(f"skillexec_{scope}_peak_memory_mb",
                                     f"Peak memory of an attempt, by {scope}.", labels=[scope])
            for name, u in accounts.items():
                calls.add_metric([name], u["calls"])
                failures.add_metric([name], u["failures"])
                refusals.add_metric([name], u["refusals"])
                cancellations.add_metric([name], u["cancellations"])
                cpu.add_metric([name], u["cpu_seconds"])
                wall.add_metric([name], u["wall_seconds"])
                if u["peak_memory_mb"] is not None:
                    peak.add_metric([name], u["peak_memory_mb"])
            yield from (calls, failures, refusals, cancellations, cpu, wall, peak)
        limits = GaugeMetricFamily("skillexec_skill_concurrency_limit",
                                   "Per-skill concurrency limits in force (configured, declared "
                                   "or set by adaptive tuning).", labels=["skill"])
        for skill, n in self.resources.skill_limits().items():
            if not known or skill in known:
                limits.add_metric([skill], n)
        yield limits


def _fold(accounts: dict[str, dict[str, Any]],
          known: Collection[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, u in accounts.items():
        key = name if name in known else "other"
        if key not in out:
            out[key] = dict(u)
            continue
        acc = out[key]
        for field in ("calls", "failures", "refusals", "cancellations", "cached", "cpu_seconds",
                      "wall_seconds"):
            acc[field] += u[field]
        if u["peak_memory_mb"] is not None:
            acc["peak_memory_mb"] = max(acc["peak_memory_mb"] or 0.0, u["peak_memory_mb"])
    return out
