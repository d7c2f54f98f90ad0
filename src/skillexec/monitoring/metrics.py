"""ExecutionMetrics (one attempt, one task) and MetricCollector (system, execution, business).

Runners measure: an isolated attempt reports rusage-based CPU time, peak RSS, disk blocks and,
in its own network namespace, bytes on the wire; an inline attempt reports its wall time and,
for a sync skill, its thread's CPU time. What was not measured is None, never zero.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skillexec.monitoring.stats import SkillStats
from skillexec.task import ExecutionResult, TaskStatus

__all__ = ["ExecutionMetrics", "MetricCollector", "SystemMetrics"]

OTHER = "other"


def _f(m: Mapping[str, Any], key: str) -> float | None:
    v = m.get(key)
    return None if v is None else float(v)


def _i(m: Mapping[str, Any], key: str) -> int | None:
    v = m.get(key)
    return None if v is None else int(v)


@dataclass(frozen=True, slots=True)
class ExecutionMetrics:
    wall_ms: float | None = None  # execution time
    queue_ms: float | None = None  # wait before the first attempt (tasks only)
    cpu_ms: float | None = None  # CPU time (user + system)
    cpu_percent: float | None = None  # cpu_ms / wall_ms
    max_rss_mb: float | None = None  # peak memory
    disk_read_bytes: int | None = None
    disk_write_bytes: int | None = None
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None
    attempts: int = 1
    error_count: int = 0  # failed attempts
    attempt_success_rate: float | None = None  # succeeded attempts / attempts (not the
                                               # success rate of tasks: see stats)
    concurrent_executions: int | None = None  # attempts running engine-wide (at its end)

    @classmethod
    def from_attempt(cls, metrics: Mapping[str, Any], *, failed: bool) -> ExecutionMetrics:
        wall, cpu = _f(metrics, "wall_ms"), _f(metrics, "cpu_ms")
        return cls(wall_ms=wall, queue_ms=_f(metrics, "queue_ms"), cpu_ms=cpu,
                   cpu_percent=(cpu / wall * 100.0) if cpu is not None and wall else None,
                   max_rss_mb=_f(metrics, "max_rss_mb"),
                   disk_read_bytes=_i(metrics, "disk_read_bytes"),
                   disk_write_bytes=_i(metrics, "disk_write_bytes"),
                   net_rx_bytes=_i(metrics, "net_rx_bytes"),
                   net_tx_bytes=_i(metrics, "net_tx_bytes"),
                   attempts=1, error_count=int(failed),
                   attempt_success_rate=0.0 if failed else 1.0,
                   concurrent_executions=_i(metrics, "concurrency"))

    @classmethod
    def from_result(cls, result: ExecutionResult,
                    history: Iterable[Mapping[str, Any]] = ()) -> ExecutionMetrics:
        """A task's metrics: its result's, with resources summed over its attempts."""
        entries = [h for h in history if isinstance(h.get("metrics"), Mapping)]
        m = result.metrics
        attempts = max(result.attempts, len(entries), 1 if result.started_at else 0)
        errors = sum(1 for h in entries if h.get("error"))
        if not entries and result.error is not None and result.attempts:
            errors = 1
        if result.status is TaskStatus.REJECTED:
            attempts, errors = 0, 0

        def total(key: str) -> float | None:
            vals = [h["metrics"].get(key) for h in entries]
            known = [float(v) for v in vals if v is not None]
            if not known:
                return _f(m, key)
            return sum(known)

        wall, cpu = _f(m, "wall_ms"), total("cpu_ms")
        rss = [float(h["metrics"]["max_rss_mb"]) for h in entries
               if h["metrics"].get("max_rss_mb") is not None]
        ints = {k: (None if (v := total(k)) is None else int(v))
                for k in ("disk_read_bytes", "disk_write_bytes", "net_rx_bytes",
                          "net_tx_bytes")}
        return cls(wall_ms=wall, queue_ms=_f(m, "queue_ms"), cpu_ms=cpu,
                   cpu_percent=(cpu / wall * 100.0) if cpu is not None and wall else None,
                   max_rss_mb=max(rss) if rss else _f(m, "max_rss_mb"),
                   attempts=attempts, error_count=errors,
                   attempt_success_rate=((attempts - errors) / attempts) if attempts else None,
                   concurrent_executions=_i(m, "concurrency"), **ints)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SystemMetrics:
    at: float
    cpu_percent: float
    memory_percent: float
    memory_used_mb: float
    memory_available_mb: float
    load_1m: float
    load_5m: float
    load_15m: float
    disk_percent: float | None  # of the data directory's file system
    process_rss_mb: float
    process_cpu_percent: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetricCollector:
    """Execution statistics per skill, business counters, and the machine's numbers."""

    def __init__(self, *, max_skills: int = 100, max_principals: int = 1000,
                 accuracy: float = 0.01, slot_s: float = 10.0, slots: int = 90,
                 window_accuracy: float = 0.02,
                 disk_path: Path | None = None, system_ttl_s: float = 1.0,
                 known_skill: Callable[[str], bool] | None = None) -> None:
        self.max_skills = max_skills
        self.max_principals = max_principals
        self._stats_args: dict[str, Any] = {"accuracy": accuracy, "slot_s": slot_s, "slots": slots,
                                            "window_accuracy": window_accuracy}
        self.skills: dict[str, SkillStats] = {}
        self.by_principal: dict[str, int] = {}
        self.by_category_other: dict[str, int] = {}  # categories of folded skills
        self._known = known_skill or (lambda _skill: True)
        self._disk_path = disk_path
        self._system_ttl = system_ttl_s
        self._system: SystemMetrics | None = None
        self._proc: Any = None

    # -- execution ---------------------------------------------------------------------------

    def stats(self, skill_id: str) -> SkillStats:
        st = self.skills.get(skill_id)
        if st is None:
            key = skill_id
            if len(self.skills) >= self.max_skills or not self._known(skill_id):
                key = OTHER  # bounded cardinality: unknown ids and the overflow fold here
            st = self.skills.get(key)
            if st is None:
                st = self.skills[key] = SkillStats(key, **self._stats_args)
        return st

    def count_business(self, stats: SkillStats, principal: str | None,
                       category: str | None) -> None:
        """Per principal (named ones: the anonymous are the rest) and per category.

        A skill's category is fixed, so it is counted once per skill and the calls summed
        when asked; only the folded "other" skills count their categories call by call.
        """
        if principal is not None:
            n = self.by_principal.get(principal)
            if n is None and len(self.by_principal) >= self.max_principals:
                principal = OTHER
                n = self.by_principal.get(principal)
            self.by_principal[principal] = (n or 0) + 1
        c = category or "uncategorised"
        if stats.category is None:
            stats.category = c
        if stats.skill == OTHER:
            self.by_category_other[c] = self.by_category_other.get(c, 0) + 1

    def _finished(self, st: SkillStats) -> int:
        return sum(n for s, n in st.status_counts().items() if s.terminal)

    def calls_by_principal(self) -> dict[str, int]:
        out = dict(self.by_principal)
        anonymous = sum(self._finished(st) for st in self.skills.values()) - sum(out.values())
        if anonymous > 0:
            out["anonymous"] = anonymous
        return out

    def calls_by_category(self) -> dict[str, int]:
        out = dict(self.by_category_other)
        for st in self.skills.values():
            if st.skill != OTHER:
                c = st.category or "uncategorised"
                out[c] = out.get(c, 0) + self._finished(st)
        return out

    # -- system ------------------------------------------------------------------------------

    def system(self) -> SystemMetrics:
        """The machine now (psutil), cached for ``system_ttl_s``."""
        now = time.time()
        cached = self._system
        if cached is not None and now - cached.at < self._system_ttl:
            return cached
        import psutil

        if self._proc is None:
            self._proc = psutil.Process(os.getpid())
            self._proc.cpu_percent(None)
            psutil.cpu_percent(None)
        vm = psutil.virtual_memory()
        load = os.getloadavg()
        disk: float | None = None
        if self._disk_path is not None:
            try:
                disk = psutil.disk_usage(str(self._disk_path)).percent
            except OSError:
                disk = None
        self._system = SystemMetrics(
            at=now, cpu_percent=psutil.cpu_percent(None), memory_percent=vm.percent,
            memory_used_mb=(vm.total - vm.available) / 1048576.0,
            memory_available_mb=vm.available / 1048576.0,
            load_1m=load[0], load_5m=load[1], load_15m=load[2], disk_percent=disk,
            process_rss_mb=self._proc.memory_info().rss / 1048576.0,
            process_cpu_percent=self._proc.cpu_percent(None))
        return self._system
