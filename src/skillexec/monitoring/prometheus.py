"""Prometheus exposition of the monitor's statistics, built at scrape time.

Nothing here runs per call: the monitor keeps its own counters and bucket counts, and this
collector turns them into metric families when scraped. So a call costs no label lookup and
no prometheus lock, and label cardinality is the monitor's: at most ``max_skills`` skill
labels (the rest are counted under ``skill="other"``), never a task id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from skillexec.monitoring.metrics import MetricCollector
from skillexec.monitoring.stats import DURATION_BUCKETS_S

__all__ = ["CIRCUIT_STATES", "EngineCollector", "make_registry", "text"]

CIRCUIT_STATES = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}


def _buckets(counts: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0
    for bound, n in zip(DURATION_BUCKETS_S, counts, strict=False):
        total += n
        out.append((repr(bound), float(total)))
    out.append(("+Inf", float(total + counts[-1])))
    return out


class EngineCollector(Collector):
    def __init__(self, metrics: MetricCollector, *, running: Callable[[], int],
                 queue_depth: Callable[[], Mapping[int, int]],
                 circuits: Callable[[], Mapping[str, str]],
                 running_by_skill: Callable[[], Mapping[str, int]] = dict,
                 threads_stuck: Callable[[], int] | None = None,
                 coroutines_stuck: Callable[[], int] | None = None,
                 system: bool = True) -> None:
        self.metrics = metrics
        self._running = running
        self._queue_depth = queue_depth
        self._circuits = circuits
        self._running_by_skill = running_by_skill
        self._threads_stuck = threads_stuck
        self._coroutines_stuck = coroutines_stuck
        self._system = system

    def describe(self) -> Iterator[Metric]:
        return iter(())  # built at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        running_now = self._running_by_skill()
        skills = list(self.metrics.skills.values())
        execs = CounterMetricFamily("skillexec_executions", "Finished tasks by skill and status.",
                                    labels=["skill", "status"])
        attempts = CounterMetricFamily("skillexec_attempts", "Attempts run, by skill.",
                                       labels=["skill"])
        retries = CounterMetricFamily("skillexec_retries", "Attempts that were retries.",
                                      labels=["skill"])
        errors = CounterMetricFamily("skillexec_errors", "Failed attempts by error type.",
                                     labels=["skill", "type"])
        cache = CounterMetricFamily("skillexec_cache_hits", "Results served from the cache.",
                                    labels=["skill"])
        rejections = CounterMetricFamily(
            "skillexec_resource_rejections", "Tasks refused for lack of resources, by code.",
            labels=["skill", "code"])
        dur = HistogramMetricFamily("skillexec_execution_duration_seconds",
                                    "Execution time of finished tasks.", labels=["skill"])
        wait = HistogramMetricFamily("skillexec_queue_wait_seconds",
                                     "Time from acceptance to the first attempt.",
                                     labels=["skill"])
        running = GaugeMetricFamily("skillexec_skill_running", "Attempts running, by skill.",
                                    labels=["skill"])
        for st in skills:
            st.flush()  # the latest calls' times into the histograms
            s = st.skill
            for status, n in st.status_counts().items():
                if n:
                    execs.add_metric([s, status.value], n)
            attempts.add_metric([s], st.attempts)
            retries.add_metric([s], st.retries)
            for etype, n in st.errors.items():
                errors.add_metric([s, etype], n)
            cache.add_metric([s], st.cache_hits)
            for code, n in st.rejections.items():
                rejections.add_metric([s, code], n)
            dur.add_metric([s], _buckets(st.exec_buckets), st.exec.sum / 1000.0)
            wait.add_metric([s], _buckets(st.queue_buckets), st.queue.sum / 1000.0)
            running.add_metric([s], running_now.get(s, 0))
        yield from (execs, attempts, retries, errors, cache, rejections, dur, wait, running)

        yield GaugeMetricFamily("skillexec_running", "Attempts running now.",
                                value=self._running())
        if self._threads_stuck is not None:
            yield GaugeMetricFamily(
                "skillexec_inline_threads_stuck",
                "Inline threads still running an attempt that timed out (not retried unless "
                "idempotent; they hold a thread of the pool until they return).",
                value=self._threads_stuck())
        if self._coroutines_stuck is not None:
            yield GaugeMetricFamily(
                "skillexec_inline_coroutines_stuck",
                "Async skills' coroutines that ignored their cancellation and still run "
                "after their call ended (timed out or cancelled).",
                value=self._coroutines_stuck())
        depth = self._queue_depth()
        yield GaugeMetricFamily("skillexec_queue_depth", "Tasks waiting for a slot.",
                                value=sum(depth.values()))
        by_prio = GaugeMetricFamily("skillexec_queue_depth_by_priority",
                                    "Tasks waiting, by priority (0-9).", labels=["priority"])
        for p in range(10):
            by_prio.add_metric([str(p)], depth.get(p, 0))
        yield by_prio
        circuit = GaugeMetricFamily("skillexec_circuit_state",
                                    "Circuit breaker per skill: 0 closed, 1 half-open, 2 open.",
                                    labels=["skill"])
        for skill, state in self._circuits().items():
            circuit.add_metric([skill], CIRCUIT_STATES.get(state, 0))
        yield circuit
        cat = CounterMetricFamily("skillexec_calls_by_category", "Tasks by skill category.",
                                  labels=["category"])
        for c, n in self.metrics.calls_by_category().items():
            cat.add_metric([c], n)
        yield cat
        prin = CounterMetricFamily("skillexec_calls_by_principal", "Tasks by principal.",
                                   labels=["principal"])
        for p_, n in self.metrics.calls_by_principal().items():
            prin.add_metric([p_], n)
        yield prin
        if self._system:
            yield from _system_families(self.metrics)


def _system_families(metrics: MetricCollector) -> Iterator[Metric]:
    try:
        sysm = metrics.system()
    except Exception:  # psutil missing or the platform refuses: no system gauges
        return
    rows: list[tuple[str, str, Any]] = [
        ("skillexec_system_cpu_percent", "Machine CPU use, percent.", sysm.cpu_percent),
        ("skillexec_system_memory_percent", "Machine memory use, percent.",
         sysm.memory_percent),
        ("skillexec_system_memory_available_bytes", "Memory available.",
         sysm.memory_available_mb * 1048576.0),
        ("skillexec_system_load1", "Load average over 1 minute.", sysm.load_1m),
        ("skillexec_system_disk_percent", "Data directory's file system use, percent.",
         sysm.disk_percent),
        ("skillexec_process_resident_memory_bytes", "The engine process's RSS.",
         sysm.process_rss_mb * 1048576.0),
        ("skillexec_process_cpu_percent", "The engine process's CPU use, percent.",
         sysm.process_cpu_percent),
    ]
    for name, doc, value in rows:
        if value is not None:
            yield GaugeMetricFamily(name, doc, value=float(value))


def make_registry(collector: Collector) -> CollectorRegistry:
    """A registry of its own (never the process-global one) holding ``collector``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()
