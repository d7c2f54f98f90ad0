"""ExecutionReportGenerator: reports read from the journal, so past runs count too.

Three reports, each a plain dict (JSON-ready) that the renderers turn into a terminal table,
JSON or a self-contained HTML page (:mod:`skillexec.monitoring.report_render`):

- ``detailed(task_id)``: one task: its timeline, attempts, metrics, artifacts, errors;
- ``summary(since, until)``: counts, success rate, top errors, busiest skills, alerts;
- ``performance(since, until)``: per-skill percentiles, throughput over time, resource use,
  the slowest calls.

Percentiles here are exact (computed over the journal's rows), unlike the live sketches;
what counts in a success rate or a latency is defined once, in :mod:`.stats` (``VERDICTS``,
``success_rate``, ``in_latency``, ``percentile``), for these reports and the monitor alike.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from skillexec.monitoring.logs import redact
from skillexec.monitoring.metrics import ExecutionMetrics
from skillexec.monitoring.stats import VERDICTS, in_latency, percentile, success_rate
from skillexec.script_stderr import error_headline
from skillexec.storage.store import TaskStore
from skillexec.task import TaskInfo, TaskStatus

__all__ = ["ExecutionReportGenerator", "parse_since"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LAST_S = 253402300799.0  # 9999-12-31 23:59:59 UTC, the last time datetime holds


def parse_since(text: str | None, *, now: float | None = None) -> float | None:
    """``"90s" | "30m" | "1h" | "2d" | "1w"`` ago, an ISO date/time, epoch seconds, or
    ``"all"`` (None: no bound)."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if m:  # longer ago than 1970: everything (a journal's times are never older)
        return max(0.0, now - float(m.group(1)) * _UNITS[m.group(2)])
    why = f"not a duration (30m, 1h, 2d), date or timestamp: {text!r}"
    try:
        value = float(text)
    except ValueError:
        pass
    else:  # seconds since 1970, up to the end of year 9999 (no nan, no infinity)
        if not 0.0 <= value <= _LAST_S:
            raise ValueError(why)
        return value
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        raise ValueError(why) from None


def _wall(info: TaskInfo) -> float | None:
    """The task's wall time if it counts in latency statistics (see stats.in_latency)."""
    r = info.result
    v = r.metrics.get("wall_ms") if r is not None else None
    return float(v) if v is not None and in_latency(info.status, v) else None


class ExecutionReportGenerator:
    def __init__(self, store: TaskStore, *, max_tasks: int = 200_000) -> None:
        self.store = store
        self.max_tasks = max_tasks

    async def _tasks(self, since: float | None, until: float | None) -> list[TaskInfo]:
        return await self.store.list_tasks(since=since, until=until, limit=self.max_tasks)

    @staticmethod
    def _range(since: float | None, until: float | None) -> dict[str, Any]:
        return {"since": since, "until": until if until is not None else time.time()}

    # -- one task ------------------------------------------------------------------------------

    async def detailed(self, task_id: str) -> dict[str, Any]:
        info = await self.store.get(task_id)
        if info is None:
            raise KeyError(f"no task with id {task_id!r} in the journal")
        history = await self.store.history(task_id)
        request = await self.store.get_request(task_id)
        result = info.result
        metrics = ExecutionMetrics.from_result(result, history) if result else None
        attempts: list[dict[str, Any]] = []
        for h in history:
            m = h.get("metrics") or {}
            attempts.append({
                "attempt": h.get("attempt"), "skill": h.get("skill", info.skill_id),
                "wall_ms": m.get("wall_ms"), "cpu_ms": m.get("cpu_ms"),
                "max_rss_mb": m.get("max_rss_mb"), "error": h.get("error"),
                "decision": h.get("decision"),
                "metrics": ExecutionMetrics.from_attempt(m, failed=bool(h.get("error")))
                .to_dict()})
        timeline = _timeline(info, attempts, metrics)
        errors = [a["error"] for a in attempts if a["error"]]
        if result is not None and result.error is not None and (
                not errors or errors[-1] != result.error.to_dict()):
            errors.append(result.error.to_dict())
        return {
            "kind": "detailed", "generated_at": time.time(), "task_id": task_id,
            "skill_id": info.skill_id, "skill_version": info.skill_version,
            "status": info.status.value, "priority": info.priority,
            "attempts_count": info.attempts, "created_at": info.created_at,
            "started_at": info.started_at, "finished_at": info.finished_at,
            "principal": request.request.principal if request else None,
            "params": redact(request.request.params) if request else None,
            "timeline": timeline, "attempts": attempts,
            "metrics": metrics.to_dict() if metrics else None,
            "artifacts": [a.to_dict() for a in result.artifacts] if result else [],
            "errors": errors,
        }

    # -- a time range --------------------------------------------------------------------------

    async def summary(self, since: float | None = None,
                      until: float | None = None) -> dict[str, Any]:
        tasks = await self._tasks(since, until)
        statuses = Counter(t.status for t in tasks)
        finished = [t for t in tasks if t.status.terminal]
        errors: dict[tuple[str, str], dict[str, Any]] = {}
        per_skill: dict[str, Counter[TaskStatus]] = defaultdict(Counter)
        walls_of: dict[str, list[float]] = defaultdict(list)
        for t in tasks:
            per_skill[t.skill_id][t.status] += 1
            w = _wall(t)
            if w is not None:
                walls_of[t.skill_id].append(w)
            err = t.result.error if t.result else None
            if err is not None:
                e = errors.setdefault((err.type.value, err.code), {
                    "type": err.type.value, "code": err.code, "count": 0,
                    "example": error_headline(err.code, err.message, err.details)[:300],
                    "skills": set()})
                e["count"] += 1
                e["skills"].add(t.skill_id)
        top_errors = sorted(errors.values(), key=lambda e: -e["count"])[:10]
        for e in top_errors:
            e["skills"] = sorted(e["skills"])
        busiest = []
        for skill_id, counts in sorted(per_skill.items(),
                                       key=lambda kv: -kv[1].total())[:15]:
            walls = walls_of[skill_id]
            busiest.append({"skill": skill_id, **_outcomes(counts),
                            "success_rate": success_rate(counts),
                            "mean_ms": sum(walls) / len(walls) if walls else None})
        alerts = await self._alerts(since, until)
        return {
            "kind": "summary", "generated_at": time.time(), "range": self._range(since, until),
            "total": len(tasks), "finished": len(finished),
            "by_status": {s.value: n for s, n in statuses.items()},
            **_outcomes(statuses), "success_rate": success_rate(statuses),
            "top_errors": top_errors, "busiest_skills": busiest,
            "alerts": {"count": len(alerts),
                       "by_rule": dict(Counter(a["data"].get("rule") for a in alerts))},
            "truncated": len(tasks) >= self.max_tasks,
        }

    async def performance(self, since: float | None = None, until: float | None = None, *,
                          bins: int = 24, slowest: int = 10) -> dict[str, Any]:
        tasks = [t for t in await self._tasks(since, until) if t.status.terminal]
        per_skill: dict[str, list[TaskInfo]] = defaultdict(list)
        for t in tasks:
            per_skill[t.skill_id].append(t)
        skills = []
        for skill_id, rows in sorted(per_skill.items(), key=lambda kv: -len(kv[1])):
            walls = sorted(w for t in rows if (w := _wall(t)) is not None)
            queues = sorted(float(q) for t in rows if t.result is not None
                            and t.status in VERDICTS  # as the monitor's queue waits
                            and (q := t.result.metrics.get("queue_ms")) is not None)
            cpu = [float(c) for t in rows if t.result is not None
                   and (c := t.result.metrics.get("cpu_ms")) is not None]
            rss = [float(r) for t in rows if t.result is not None
                   and (r := t.result.metrics.get("max_rss_mb")) is not None]
            disk = [int(t.result.metrics.get("disk_read_bytes") or 0)
                    + int(t.result.metrics.get("disk_write_bytes") or 0)
                    for t in rows if t.result is not None
                    and t.result.metrics.get("disk_read_bytes") is not None]
            skills.append({
                "skill": skill_id, "calls": len(rows),
                "measured": len(walls),
                "p50_ms": percentile(walls, 0.5), "p95_ms": percentile(walls, 0.95),
                "p99_ms": percentile(walls, 0.99), "max_ms": walls[-1] if walls else None,
                "queue_p95_ms": percentile(queues, 0.95),
                "cpu_ms_mean": sum(cpu) / len(cpu) if cpu else None,
                "max_rss_mb": max(rss) if rss else None,
                "disk_bytes": sum(disk) if disk else None})
        slow = sorted(((w, t) for t in tasks if (w := _wall(t)) is not None),
                      key=lambda x: -x[0])[:slowest]
        return {
            "kind": "performance", "generated_at": time.time(),
            "range": self._range(since, until), "total": len(tasks), "skills": skills,
            "throughput": _throughput(tasks, since, until, bins),
            "slowest": [{"task_id": t.task_id, "skill": t.skill_id, "wall_ms": w,
                         "status": t.status.value, "created_at": t.created_at}
                        for w, t in slow],
            "truncated": len(tasks) >= self.max_tasks,
        }

    async def _alerts(self, since: float | None, until: float | None) -> list[dict[str, Any]]:
        events = await self.store.read_events("alert", since=since or 0.0, limit=100_000)
        return [e for e in events if until is None or e["at"] < until]

    async def alerts(self, since: float | None = None,
                     until: float | None = None) -> dict[str, Any]:
        events = await self._alerts(since, until)
        rows = [{"at": e["at"], **{k: e["data"].get(k) for k in (
            "rule", "subject", "state", "severity", "metric", "value", "threshold",
            "message")}} for e in events]
        return {"kind": "alerts", "generated_at": time.time(),
                "range": self._range(since, until), "total": len(rows),
                "by_rule": dict(Counter(r["rule"] for r in rows)), "alerts": rows[::-1]}


def _outcomes(counts: Counter[TaskStatus]) -> dict[str, int]:
    """The counts every report shows beside a success rate, so it can be checked by hand:
    ``success_rate = succeeded / (succeeded + failed)``; ``failed`` includes timed out."""
    return {"calls": counts.total(), "succeeded": counts[TaskStatus.SUCCEEDED],
            "failed": counts[TaskStatus.FAILED] + counts[TaskStatus.TIMED_OUT],
            "cancelled": counts[TaskStatus.CANCELLED], "rejected": counts[TaskStatus.REJECTED]}


def _timeline(info: TaskInfo, attempts: list[dict[str, Any]],
              metrics: ExecutionMetrics | None) -> list[dict[str, Any]]:
    """Phases with start offsets (ms from creation): queue, attempts, the rest."""
    out: list[dict[str, Any]] = [{"phase": "submitted", "at_ms": 0.0, "ms": 0.0}]
    if info.started_at is None:
        return out
    queue_ms = (metrics.queue_ms if metrics and metrics.queue_ms is not None
                else (info.started_at - info.created_at) * 1000.0)
    out.append({"phase": "queued", "at_ms": 0.0, "ms": max(0.0, queue_ms)})
    at = max(0.0, queue_ms)
    for a in attempts:
        ms = float(a["wall_ms"] or 0.0)
        out.append({"phase": f"attempt {a['attempt']}", "at_ms": at, "ms": ms,
                    "error": bool(a["error"])})
        at += ms
    if info.finished_at is not None:
        total = (info.finished_at - info.created_at) * 1000.0
        out.append({"phase": "finished", "at_ms": max(at, total), "ms": 0.0})
    return out


def _throughput(tasks: list[TaskInfo], since: float | None, until: float | None,
                bins: int) -> dict[str, Any]:
    if not tasks:
        return {"start": since, "bin_s": 0.0, "calls": [], "errors": []}
    start = since if since is not None else min(t.created_at for t in tasks)
    end = until if until is not None else max(t.finished_at or t.created_at for t in tasks)
    end = max(end, start + 1e-3)
    width = (end - start) / bins
    calls, errors = [0] * bins, [0] * bins
    for t in tasks:
        i = min(bins - 1, max(0, int(((t.finished_at or t.created_at) - start) / width)))
        calls[i] += 1
        if t.status is not TaskStatus.SUCCEEDED and t.status in VERDICTS:
            errors[i] += 1  # failed or timed out (cancelled and rejected are not failures)
    return {"start": start, "bin_s": width, "calls": calls, "errors": errors,
            "per_s": [c / width for c in calls]}
