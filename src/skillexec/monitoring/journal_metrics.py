"""JournalCollector: Prometheus metrics of what a data directory's journal holds.

An engine's own collector (:mod:`.prometheus`) shows what that engine did since it started;
this one shows what happened on a data directory — every engine's tasks, past runs and
restarts included — read from the journal at scrape time. Metrics are named
``skillexec_journal_*`` so one registry can hold both (:func:`metrics_registry`: the HTTP
service serves both when the engine runs in its process; ``skillexec metrics serve`` serves
the journal's).

A scrape does not scan the journal: task ids sort by creation time, so tasks created more
than ``recent_s`` ago are folded once into running totals (by primary-key range), those
still unfinished then are followed by id until they finish, and only the last few seconds
of tasks are tallied afresh at each scrape (a task's insert may become visible a little
after its id was made). What counts as a success or a latency is :mod:`.stats`' definition.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from skillexec.monitoring.prometheus import CIRCUIT_STATES, _buckets
from skillexec.monitoring.stats import DURATION_BUCKETS_S, VERDICTS, success_rate
from skillexec.reliability.breaker import BREAKER_EVENT
from skillexec.task import TaskStatus

if TYPE_CHECKING:
    from skillexec.monitoring.monitor import ExecutionMonitor


class _Monitored(Protocol):
    """What :func:`metrics_registry` needs of an engine: its live monitor."""

    @property
    def monitor(self) -> ExecutionMonitor: ...

__all__ = ["JournalCollector", "metrics_registry"]

_CHUNK = 500  # ids per IN (...) query
# The wall time is picked out of the result by SQLite (in C, without the output, which may
# be megabytes); an SQLite without JSON functions hands over the result to parse here.
_WALL_SQL = "json_extract(CAST(result AS TEXT), '$.metrics.wall_ms')"
_OTHER = "other"


class _Skill:
    __slots__ = ("buckets", "counts", "retries", "wall_count", "wall_sum_s")

    def __init__(self) -> None:
        self.counts: Counter[TaskStatus] = Counter()
        self.buckets = [0] * (len(DURATION_BUCKETS_S) + 1)
        self.wall_sum_s = 0.0
        self.wall_count = 0
        self.retries = 0

    def add(self, other: _Skill) -> None:
        self.counts.update(other.counts)
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.wall_sum_s += other.wall_sum_s
        self.wall_count += other.wall_count
        self.retries += other.retries


class JournalCollector(Collector):
    def __init__(self, journal_path: str | Path, *, max_skills: int = 500,
                 recent_s: float = 5.0) -> None:
        """``journal_path``: the SQLite file, or a PostgreSQL journal's URL."""
        self.url = journal_path if isinstance(journal_path, str) and journal_path.startswith(
            ("postgresql://", "postgres://")) else None
        self.path = Path(journal_path)
        self.max_skills = max_skills
        # Tasks created this recently are tallied afresh at each scrape, not folded into the
        # totals: their rows may still be on their way to the journal (group commit).
        self.recent_s = recent_s
        self._lock = threading.Lock()  # scrapes may come from several server threads
        self._totals: dict[str, _Skill] = {}  # tasks created before _low that finished
        self._low = ""  # task ids below this are in _totals or in _pending
        self._pending: set[str] = set()  # ids below _low not finished when last seen
        self._event_seq = 0
        self._circuits: dict[str, str] = {}
        self._columns = ""

    def describe(self) -> Iterator[Metric]:
        return iter(())  # built at scrape time

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            recent, unfinished = self._refresh()
            yield from self._families(recent, unfinished)

    # -- reading the journal -------------------------------------------------------------------

    def _refresh(self) -> tuple[dict[str, _Skill], Counter[tuple[str, str]]]:
        """Fold what became final into the totals; tally the recent tasks and count the
        unfinished ones afresh."""
        recent: dict[str, _Skill] = {}
        if self.url is None and not self.path.exists():
            return recent, Counter()
        try:
            conn: _SQLite | _Postgres = (_SQLite(self.path) if self.url is None
                                         else _Postgres(self.url))
        except _errors():  # not there, not reachable
            return recent, Counter()
        try:
            if not self._columns:
                self._columns = (f"task_id, skill_id, status, attempts, {conn.wall_sql()},"
                                 " finished_at")
            self._fold(conn)
            self._tally(recent, conn.rows(
                f"SELECT {self._columns} FROM tasks WHERE task_id >= ? AND finished_at IS NOT NULL",
                (self._low,)))
            self._read_breakers(conn)
            return recent, Counter({
                (self._label(sid), status): n for sid, status, n in conn.rows(
                    "SELECT skill_id, status, count(*) FROM tasks WHERE finished_at IS NULL "
                    "GROUP BY skill_id, status")})
        except _errors():  # locked for longer than the timeout, or not a journal yet
            return recent, Counter()
        finally:
            conn.close()

    def _fold(self, conn: _SQLite | _Postgres) -> None:
        """Into the totals: tasks that left the recent window, and followed ones that ended."""
        low = max(self._low, _id_at(time.time() - self.recent_s))
        if low > self._low:
            rows = conn.rows(f"SELECT {self._columns} FROM tasks WHERE task_id >= ? AND "
                             "task_id < ?", (self._low, low))
            self._pending.update(r[0] for r in rows if r[5] is None)
            self._tally(self._totals, (r for r in rows if r[5] is not None))
            self._low = low
        pending = sorted(self._pending)
        for i in range(0, len(pending), _CHUNK):
            chunk = pending[i:i + _CHUNK]
            rows = conn.rows(
                f"SELECT {self._columns} FROM tasks WHERE finished_at IS NOT NULL AND task_id IN "
                f"({','.join('?' * len(chunk))})", chunk)
            self._pending.difference_update(r[0] for r in rows)
            self._tally(self._totals, rows)

    def _tally(self, into: dict[str, _Skill], rows: Iterable[Any]) -> None:
        for _task_id, skill_id, status_text, attempts, result, _finished in rows:
            try:
                status = TaskStatus(status_text)
            except ValueError:
                continue
            key = self._label(skill_id)
            st = into.get(key)
            if st is None:
                st = into[key] = _Skill()
            st.counts[status] += 1
            if attempts and attempts > 1:
                st.retries += attempts - 1
            if status in VERDICTS and result is not None:
                wall = (float(result) if isinstance(result, int | float)
                        else _wall_ms(result))
                if wall is not None:
                    self._observe(st, wall / 1000.0)

    def _read_breakers(self, conn: _SQLite | _Postgres) -> None:
        for seq, data in conn.rows(
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
        """Skills beyond ``max_skills`` are counted under "other" (bounded label sets)."""
        totals = self._totals
        return skill_id if skill_id in totals or len(totals) < self.max_skills else _OTHER

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

    def _families(self, recent: dict[str, _Skill],
                  unfinished: Counter[tuple[str, str]]) -> Iterator[Metric]:
        merged: dict[str, _Skill] = {}
        for part in (self._totals, recent):
            for key, st in part.items():
                into = merged.get(key)
                if into is None:
                    into = merged[key] = _Skill()
                into.add(st)
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
        for skill, st in sorted(merged.items()):
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


class _SQLite:
    """The SQLite journal, read-only, as the collector reads it (rows as lists)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)

    def rows(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        return self.conn.execute(sql, tuple(args)).fetchall()

    def wall_sql(self) -> str:
        try:
            self.conn.execute("SELECT json_extract('{}', '$.a')")
            return _WALL_SQL
        except sqlite3.OperationalError:
            return "result"

    def close(self) -> None:
        self.conn.close()


class _Postgres:
    """A PostgreSQL journal (``journal.url``), read the same way in its own transaction."""

    def __init__(self, url: str) -> None:
        import psycopg
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=5)

    def rows(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        from skillexec.storage.rows import pg
        return self.conn.execute(pg(sql), tuple(args)).fetchall()

    def wall_sql(self) -> str:
        return "(convert_from(result, 'UTF8')::jsonb #>> '{metrics,wall_ms}')::float8"

    def close(self) -> None:
        self.conn.close()


def _errors() -> tuple[type[BaseException], ...]:
    import psycopg  # loaded by the first scrape, not by the import of this module
    return sqlite3.Error, psycopg.Error


def _id_at(t: float) -> str:
    """The smallest task id made at time ``t`` (see task.new_task_id)."""
    return f"{max(0, int(t * 1e6)):014x}" + "0" * 10


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
                     engine: _Monitored | None = None) -> CollectorRegistry:
    """One registry to serve: a journal's metrics (``skillexec_journal_*``), and an engine's
    live ones (``skillexec_*``) when it runs in this process; either or both."""
    registry = CollectorRegistry(auto_describe=False)
    if journal is not None:
        registry.register(JournalCollector(journal))
    if engine is not None:
        registry.register(_Registry(engine.monitor.registry))
    return registry
