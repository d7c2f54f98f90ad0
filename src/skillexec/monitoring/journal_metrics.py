"""JournalCollector: Prometheus metrics of what a data directory's journal holds.

An engine's own collector (:mod:`.prometheus`) shows what that engine did since it started;
this one shows what happened on a data directory — every engine's tasks, past runs and
restarts included — read from the journal at scrape time. Metrics are named
``skillexec_journal_*`` so one registry can hold both (:func:`metrics_registry`: the HTTP
service serves both when the engine runs in its process; ``skillexec metrics serve`` serves
the journal's).

Each scrape reads only what finished since the last one (an index-free scan of one column,
no JSON parsed for rows already counted), so scraping a large journal stays cheap after the
first time. What counts as a success or a latency is :mod:`.stats`' definition.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from skillexec.monitoring.prometheus import CIRCUIT_STATES, _buckets
from skillexec.monitoring.stats import DURATION_BUCKETS_S, VERDICTS, success_rate
from skillexec.reliability.breaker import BREAKER_EVENT
from skillexec.task import TaskStatus

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["JournalCollector", "metrics_registry"]

# A task's end reaches the journal a little after its finished_at (group commit): rows are
# re-read this far back, and the ids already counted there are skipped.
_OVERLAP_S = 30.0
_OTHER = "other"


class _Skill:
    __slots__ = ("buckets", "counts", "retries", "wall_count", "wall_sum_s")

    def __init__(self) -> None:
        self.counts: Counter[TaskStatus] = Counter()
        self.buckets = [0] * (len(DURATION_BUCKETS_S) + 1)
        self.wall_sum_s = 0.0
        self.wall_count = 0
        self.retries = 0


class JournalCollector(Collector):
    def __init__(self, journal_path: str | Path, *, max_skills: int = 500) -> None:
        self.path = Path(journal_path)
        self.max_skills = max_skills
        self._lock = threading.Lock()  # scrapes may come from several server threads
        self._skills: dict[str, _Skill] = {}
        self._cursor = 0.0  # finished_at up to which tasks are counted
        self._recent: dict[str, float] = {}  # ids counted within the overlap, by finished_at
        self._event_seq = 0
        self._circuits: dict[str, str] = {}

    def describe(self) -> Iterator[Metric]:
        return iter(())  # built at scrape time

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            unfinished = self._refresh()
            yield from self._families(unfinished)

    # -- reading the journal -------------------------------------------------------------------

    def _refresh(self) -> Counter[tuple[str, str]]:
        """Fold in what finished since the last scrape; count what has not finished."""
        if not self.path.exists():
            return Counter()
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
        except sqlite3.Error:
            return Counter()
        try:
            self._fold(conn)
            self._read_breakers(conn)
            return Counter({(self._label(sid), status): n for sid, status, n in conn.execute(
                "SELECT skill_id, status, count(*) FROM tasks WHERE finished_at IS NULL "
                "GROUP BY skill_id, status")})
        except sqlite3.Error:  # locked for longer than the timeout, or not a journal yet
            return Counter()
        finally:
            conn.close()

    def _fold(self, conn: sqlite3.Connection) -> None:
        since = self._cursor - _OVERLAP_S
        rows = conn.execute(
            "SELECT task_id, skill_id, status, attempts, finished_at, result FROM tasks "
            "WHERE finished_at >= ? ORDER BY finished_at", (since,)).fetchall()
        recent = {k: v for k, v in self._recent.items() if v >= since}
        for task_id, skill_id, status_text, attempts, finished_at, result in rows:
            if task_id in recent:
                continue
            recent[task_id] = finished_at
            self._cursor = max(self._cursor, finished_at)
            try:
                status = TaskStatus(status_text)
            except ValueError:
                continue
            st = self._skill(skill_id)
            st.counts[status] += 1
            if attempts and attempts > 1:
                st.retries += attempts - 1
            if status in VERDICTS and result:
                wall = _wall_ms(result)
                if wall is not None:
                    self._observe(st, wall / 1000.0)
        self._recent = recent

    def _read_breakers(self, conn: sqlite3.Connection) -> None:
        for seq, data in conn.execute(
                "SELECT seq, data FROM events WHERE kind = ? AND seq > ? ORDER BY seq",
                (BREAKER_EVENT, self._event_seq)):
            self._event_seq = seq
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            skill, state = event.get("skill"), event.get("to")
            if isinstance(skill, str) and isinstance(state, str):
                self._circuits[skill] = state

    def _label(self, skill_id: str) -> str:
        return skill_id if skill_id in self._skills or len(self._skills) < self.max_skills \
            else _OTHER

    def _skill(self, skill_id: str) -> _Skill:
        key = self._label(skill_id)
        st = self._skills.get(key)
        if st is None:
            st = self._skills[key] = _Skill()
        return st

    @staticmethod
    def _observe(st: _Skill, seconds: float) -> None:
        for i, bound in enumerate(DURATION_BUCKETS_S):
            if seconds <= bound:
                st.buckets[i] += 1
                break
        else:
            st.buckets[-1] += 1
        st.wall_sum_s += seconds
        st.wall_count += 1

    # -- the exposition ------------------------------------------------------------------------

    def _families(self, unfinished: Counter[tuple[str, str]]) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("skillexec_journal_tasks",
                                  "Tasks in the journal by skill and status (every engine on "
                                  "this data directory, past runs included).",
                                  labels=["skill", "status"])
        rate = GaugeMetricFamily("skillexec_journal_success_rate",
                                 "succeeded / (succeeded + failed + timed_out), per skill.",
                                 labels=["skill"])
        retries = GaugeMetricFamily("skillexec_journal_retries",
                                    "Attempts beyond the first, per skill.", labels=["skill"])
        dur = HistogramMetricFamily("skillexec_journal_duration_seconds",
                                    "Wall time of tasks that ran to a verdict (all attempts).",
                                    labels=["skill"])
        for skill, st in sorted(self._skills.items()):
            for done, n in st.counts.items():
                tasks.add_metric([skill, done.value], n)
            r = success_rate(st.counts)
            if r is not None:
                rate.add_metric([skill], r)
            retries.add_metric([skill], st.retries)
            dur.add_metric([skill], _buckets(st.buckets), st.wall_sum_s)
        for (skill, status), n in sorted(unfinished.items()):
            tasks.add_metric([skill, status], n)
        circuit = GaugeMetricFamily("skillexec_journal_circuit_state",
                                    "Last journaled circuit breaker state per skill: 0 closed, "
                                    "1 half-open, 2 open.", labels=["skill"])
        for skill, state in sorted(self._circuits.items()):
            circuit.add_metric([skill], CIRCUIT_STATES.get(state, 0))
        yield from (tasks, rate, retries, dur, circuit)


def _wall_ms(result: bytes | str) -> float | None:
    try:
        body: Any = orjson.loads(result)
    except orjson.JSONDecodeError:
        return None
    metrics = body.get("metrics") if isinstance(body, dict) else None
    wall = metrics.get("wall_ms") if isinstance(metrics, dict) else None
    return float(wall) if isinstance(wall, int | float) else None


class _Registry(Collector):
    """Another registry's metrics, as one collector (an engine's live ones)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def metrics_registry(*, journal: str | Path | None = None,
                     engine: SkillExecutionEngine | None = None) -> CollectorRegistry:
    """One registry to serve: a journal's metrics (``skillexec_journal_*``), and an engine's
    live ones (``skillexec_*``) when it runs in this process; either or both."""
    registry = CollectorRegistry(auto_describe=False)
    if journal is not None:
        registry.register(JournalCollector(journal))
    if engine is not None:
        registry.register(_Registry(engine.monitor.registry))
    return registry
