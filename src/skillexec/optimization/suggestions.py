"""Performance suggestions: concrete advice, each with the numbers it rests on.

Read from the journal (so they work for past runs and after restarts): per skill, how its
calls ended, how long they ran and waited, what memory they peaked at, how often the same
parameters came back. Each rule below looks for one pattern and, where it finds it, says
what to change and to what. The thresholds are deliberately conservative: a suggestion
needs ``min_calls`` calls of evidence.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from skillexec.monitoring.stats import percentile
from skillexec.task import TaskInfo, TaskStatus

if TYPE_CHECKING:
    from skillexec.resources.manager import ResourceManager
    from skillexec.skills.registry import SkillRegistry
    from skillexec.storage.store import StoredTask, TaskStore

__all__ = ["EngineDefaults", "Suggestion", "suggest"]


class EngineDefaults(Protocol):
    """What the rules read of the engine's settings (EngineConfig is one): the settings tree
    sits above the components, which never import it."""

    @property
    def default_timeout_s(self) -> float: ...

    @property
    def default_memory_mb(self) -> int: ...

_SEVERITY = {"warning": 0, "info": 1}


@dataclass(frozen=True, slots=True)
class Suggestion:
    skill: str
    kind: str  # timeout | timeout_too_long | cacheable | memory | concurrency | failures | retries
    severity: str  # warning | info
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"skill": self.skill, "kind": self.kind, "severity": self.severity,
                "message": self.message, "evidence": self.evidence}


@dataclass(slots=True)
class _Evidence:
    skill: str
    calls: int = 0
    finished: int = 0
    timed_out: int = 0
    failed: int = 0
    cached: int = 0
    attempts: int = 0
    walls: list[float] = field(default_factory=list)
    ok_walls: list[float] = field(default_factory=list)
    queues: list[float] = field(default_factory=list)
    max_rss_mb: float | None = None
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    timeouts_s: list[float] = field(default_factory=list)
    digests: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def suggest(store: TaskStore, *, skills: SkillRegistry | None = None,
                  resources: ResourceManager | None = None,
                  config: EngineDefaults | None = None, since: float | None = None,
                  until: float | None = None, min_calls: int = 20,
                  max_tasks: int = 200_000) -> list[Suggestion]:
    """Suggestions for the tasks created in [since, until), most pressing first."""
    tasks = await store.list_tasks(since=since, until=until, limit=max_tasks)
    requests = {r.task_id: r for r in await store.requests(since=since, until=until,
                                                            limit=max_tasks)}
    by_skill: dict[str, _Evidence] = {}
    for t in tasks:
        if t.status is TaskStatus.REJECTED or not t.status.terminal:
            continue
        ev = by_skill.get(t.skill_id)
        if ev is None:
            ev = by_skill[t.skill_id] = _Evidence(t.skill_id)
        _add(ev, t, requests.get(t.task_id))
    out: list[Suggestion] = []
    for ev in by_skill.values():
        if ev.finished < min_calls:
            continue
        out.extend(_rules(ev, skills, resources, config))
    out.sort(key=lambda s: (_SEVERITY[s.severity], -int(s.evidence.get("calls", 0))))
    return out


def _add(ev: _Evidence, t: TaskInfo, request: StoredTask | None) -> None:
    ev.calls += 1
    r = t.result
    if t.status is TaskStatus.CANCELLED or r is None:
        return
    ev.finished += 1
    ev.attempts += t.attempts
    m = r.metrics
    if r.cached:
        ev.cached += 1
    wall = m.get("last_attempt_wall_ms", m.get("wall_ms"))  # timeouts are per attempt
    if wall is not None and not r.cached and not m.get("shared"):
        ev.walls.append(float(wall))
        if t.status is TaskStatus.SUCCEEDED:
            ev.ok_walls.append(float(wall))
    q = m.get("queue_ms")
    if q is not None:
        ev.queues.append(float(q))
    rss = m.get("max_rss_mb")
    if rss is not None:
        ev.max_rss_mb = max(ev.max_rss_mb or 0.0, float(rss))
    if t.status is TaskStatus.TIMED_OUT:
        ev.timed_out += 1
    elif t.status is not TaskStatus.SUCCEEDED:
        ev.failed += 1
        if r.error is not None:
            ev.errors[f"{r.error.type.value}:{r.error.code}"] += 1
    if request is not None:
        req = request.request
        ev.timeouts_s.append(req.timeout_s)
        blob = orjson.dumps([req.params, req.config], option=orjson.OPT_SORT_KEYS)
        ev.digests[hashlib.blake2b(blob, digest_size=12).hexdigest()] += 1


def _pct(values: list[float], q: float) -> float | None:
    return percentile(sorted(values), q)  # the reports' and the monitor's definition


def _round_up(x: float) -> float:
    """Up to two significant digits: 13.2 -> 14, 0.43 -> 0.43, 1870 -> 1900."""
    if x <= 0:
        return x
    scale = 10.0 ** (math.floor(math.log10(x)) - 1)
    return float(math.ceil(x / scale) * scale)


def _s(ms: float) -> str:
    return f"{ms / 1000:.3g} s" if ms >= 1000 else f"{ms:.0f} ms"


def _rules(ev: _Evidence, skills: SkillRegistry | None, resources: ResourceManager | None,
           config: EngineDefaults | None) -> list[Suggestion]:
    out = []
    sid, n = ev.skill, ev.finished
    skill = None
    if skills is not None:
        try:
            skill = skills.get(sid)
        except Exception:  # a skill no longer loaded: judge by the journal alone
            skill = None
    p99 = _pct(ev.walls, 0.99)
    ok_p99 = _pct(ev.ok_walls, 0.99)
    timeout_s = _pct(ev.timeouts_s, 0.5)  # the timeout calls usually ran with
    if timeout_s is None and skill is not None:
        timeout_s = skill.execution.timeout_s or (config.default_timeout_s if config else None)
    # 1. Calls time out, or run close to their timeout.
    share = ev.timed_out / n
    if timeout_s and p99 is not None and (share >= 0.05 or p99 >= 0.8 * timeout_s * 1000):
        target = _round_up(max((ok_p99 or p99) * 1.5 / 1000, timeout_s * 1.4))
        lead = (f"{share:.0%} of calls time out; " if ev.timed_out else "")
        out.append(Suggestion(sid, "timeout", "warning" if share >= 0.05 else "info",
                              f"{sid}: {lead}its p99 is {_s(p99)} against a {timeout_s:g} s "
                              f"timeout: raise it to {target:g} s",
                              {"calls": n, "timed_out": ev.timed_out, "timeout_share":
                               round(share, 4), "p99_ms": round(p99, 1),
                               "timeout_s": timeout_s, "suggested_timeout_s": target}))
    elif timeout_s and timeout_s >= 10 and p99 is not None and n >= 100 \
            and p99 < 0.02 * timeout_s * 1000:
        target = _round_up(max(1.0, p99 * 10 / 1000))
        out.append(Suggestion(sid, "timeout_too_long", "info",
                              f"{sid}: its p99 is {_s(p99)} against a {timeout_s:g} s timeout: "
                              f"lower it to {target:g} s so that a hung call fails fast",
                              {"calls": n, "p99_ms": round(p99, 1), "timeout_s": timeout_s,
                               "suggested_timeout_s": target}))
    # 2. The same parameters again and again, not cached.
    cacheable = (skill is not None and skill.execution.cacheable) or ev.cached > 0
    seen = sum(ev.digests.values())
    if not cacheable and seen >= 20:
        repeats = seen - len(ev.digests)
        rshare = repeats / seen
        if rshare >= 0.2:
            mean = sum(ev.ok_walls) / len(ev.ok_walls) if ev.ok_walls else None
            cost = f" (mean {_s(mean)} each)" if mean is not None else ""
            out.append(Suggestion(
                sid, "cacheable", "info",
                f"{sid} is called with identical parameters {rshare:.0%} of the time{cost}: "
                "mark it cacheable if its result depends only on its parameters",
                {"calls": seen, "repeats": repeats, "repeat_share": round(rshare, 4),
                 "distinct": len(ev.digests), "mean_ms": None if mean is None
                 else round(mean, 1)}))
    # 3. Peak memory close to the limit.
    if ev.max_rss_mb is not None:
        limit = (skill.execution.memory_mb if skill is not None else None) or (
            config.default_memory_mb if config is not None else None)
        mem_errors = sum(c for k, c in ev.errors.items() if "memory" in k)
        if limit and (ev.max_rss_mb >= 0.8 * limit or mem_errors):
            target = int(_round_up(max(ev.max_rss_mb * 1.5, limit * 1.5)))
            out.append(Suggestion(
                sid, "memory", "warning" if mem_errors else "info",
                f"{sid}'s peak memory is {ev.max_rss_mb / limit:.0%} of its limit "
                f"({ev.max_rss_mb:.0f} of {limit} MB"
                + (f"; {mem_errors} calls ran out" if mem_errors else "")
                + f"): raise memory_mb to {target}",
                {"calls": n, "max_rss_mb": round(ev.max_rss_mb, 1), "memory_mb": limit,
                 "memory_errors": mem_errors, "suggested_memory_mb": target}))
    # 4. Waiting for a slot.
    if ev.queues and len(ev.queues) >= 20:
        qmean = sum(ev.queues) / len(ev.queues)
        emean = sum(ev.walls) / len(ev.walls) if ev.walls else None
        if qmean >= 500 and (emean is None or qmean >= 0.5 * emean):
            limit = resources.skill_limit(skill) if resources and skill else None
            suggested: int | None = None
            if limit is not None:
                suggested = max(limit + 1, math.ceil(limit * (1 + qmean / (emean or qmean))))
                msg = (f"per-skill concurrency of {limit} for {sid} causes {_s(qmean)} mean "
                       f"queue wait: raise it to {suggested} if what it calls can take it")
            else:
                msg = (f"{sid} waits {_s(qmean)} on average for a slot: the engine's "
                       "max_concurrency is saturated; raise it or add workers")
            out.append(Suggestion(sid, "concurrency", "warning", msg,
                                  {"calls": n, "queue_mean_ms": round(qmean, 1),
                                   "exec_mean_ms": None if emean is None else round(emean, 1),
                                   "skill_concurrency": limit, "suggested": suggested}))
    # 5. Failing, and retried.
    if ev.failed / n >= 0.1 and ev.errors:
        top, count = max(ev.errors.items(), key=lambda kv: kv[1])
        fallback = skill is not None and skill.execution.fallback
        hint = ("check the dependency it calls" if fallback else
                "give it a fallback skill or check the dependency it calls")
        out.append(Suggestion(sid, "failures", "warning",
                              f"{sid}: {ev.failed / n:.0%} of calls fail, most with {top} "
                              f"({count} calls): {hint}",
                              {"calls": n, "failed": ev.failed, "top_error": top,
                               "top_error_calls": count, "errors": dict(ev.errors)}))
    mean_attempts = ev.attempts / n
    if mean_attempts >= 1.5:
        out.append(Suggestion(sid, "retries", "info",
                              f"{sid} needs {mean_attempts:.2f} attempts per call: retries "
                              "multiply its load; lower max_retries or fix the cause",
                              {"calls": n, "attempts": ev.attempts,
                               "mean_attempts": round(mean_attempts, 3)}))
    return out
