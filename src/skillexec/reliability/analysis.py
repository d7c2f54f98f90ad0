"""Error analysis: the journal's failures, grouped so that one cause reads as one line.

A group is (skill, ErrorType, fingerprint): the fingerprint is the error's message with
what changes from one occurrence to the next (numbers, ids, hex, paths, quoted values)
replaced, so ``"connection to 10.0.0.7:5432 reset after 31 ms"`` and the same with other
numbers are one group. Each group has its counts, first and last seen, its recovery rate
(the share of its tasks that still succeeded after the failed attempt), the mean attempts
of its tasks, and one example message and traceback. A failed script (``script_exit``) is
grouped and shown by the line of its stderr that says what went wrong (its exception), its
stderr standing for the traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from skillexec.script_stderr import SCRIPT_EXIT, error_headline
from skillexec.storage.store import TaskStore
from skillexec.task import TaskInfo, TaskStatus

__all__ = ["ErrorGroup", "ErrorReport", "error_report", "fingerprint"]

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                r"[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"(?<![\w/])(?:~|\.{1,2})?(?:/[\w.\-@+]+)+/?"), "<path>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b\d+(?:\.\d+)*\b"), "<n>"),
    (re.compile(r"'[^']{0,200}'|\"[^\"]{0,200}\""), "<str>"),
)


def fingerprint(message: str) -> str:
    """The message with its variable parts replaced: the same cause, the same text."""
    text = message
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return " ".join(text.split())[:300]


@dataclass(slots=True)
class ErrorGroup:
    skill_id: str
    error_type: str
    fingerprint: str
    codes: set[str] = field(default_factory=set)
    count: int = 0  # failed attempts (a refusal counts as one)
    refusals: int = 0  # of count, the tasks refused before they ran (no attempt)
    first_seen: float = 0.0
    last_seen: float = 0.0
    example_message: str = ""
    example_task_id: str = ""
    example_traceback: str | None = None
    _tasks: dict[str, tuple[bool, int]] = field(default_factory=dict)  # id → (ok, attempts)

    @property
    def tasks(self) -> int:
        return len(self._tasks)

    @property
    def recovered(self) -> int:
        return sum(1 for ok, _ in self._tasks.values() if ok)

    @property
    def recovery_rate(self) -> float:
        return self.recovered / self.tasks if self._tasks else 0.0

    @property
    def mean_attempts(self) -> float:
        if not self._tasks:
            return 0.0
        return sum(a for _, a in self._tasks.values()) / len(self._tasks)

    def to_dict(self) -> dict[str, Any]:
        return {"skill_id": self.skill_id, "error_type": self.error_type,
                "fingerprint": self.fingerprint, "codes": sorted(self.codes),
                "count": self.count, "refusals": self.refusals, "tasks": self.tasks,
                "recovered": self.recovered,
                "recovery_rate": round(self.recovery_rate, 4),
                "mean_attempts": round(self.mean_attempts, 3),
                "first_seen": self.first_seen, "last_seen": self.last_seen,
                "example_message": self.example_message,
                "example_task_id": self.example_task_id,
                "example_traceback": self.example_traceback}


@dataclass(slots=True)
class ErrorReport:
    since: float | None
    until: float | None
    tasks_scanned: int = 0
    tasks_with_failures: int = 0  # tasks that ran and had an attempt fail
    failed_attempts: int = 0
    refused_tasks: int = 0  # refused before they ran (their errors are in the groups too)
    recovered_tasks: int = 0
    dead_letters: int = 0
    breaker_transitions: list[dict[str, Any]] = field(default_factory=list)
    groups: list[ErrorGroup] = field(default_factory=list)

    @property
    def recovery_rate(self) -> float:
        if not self.tasks_with_failures:
            return 0.0
        return self.recovered_tasks / self.tasks_with_failures

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until,
                "tasks_scanned": self.tasks_scanned,
                "tasks_with_failures": self.tasks_with_failures,
                "failed_attempts": self.failed_attempts,
                "refused_tasks": self.refused_tasks,
                "recovered_tasks": self.recovered_tasks,
                "recovery_rate": round(self.recovery_rate, 4),
                "dead_letters": self.dead_letters,
                "breaker_transitions": self.breaker_transitions,
                "groups": [g.to_dict() for g in self.groups]}


async def error_report(store: TaskStore, *, since: float | None = None,
                       until: float | None = None, limit: int = 10000) -> ErrorReport:
    """Read the journal (tasks created in [since, until), newest ``limit``) and group."""
    report = ErrorReport(since=since, until=until)
    infos = await store.list_tasks(since=since, until=until, limit=limit)
    report.tasks_scanned = len(infos)
    groups: dict[tuple[str, str, str], ErrorGroup] = {}
    for info in infos:
        # A cancellation is its caller's withdrawal, not a failure of the skill (as in the
        # usage accounts): a task cancelled with no failed attempt is not in this report.
        failures = [f for f in await _failures(store, info) if f[1].get("type") != "cancelled"]
        if not failures:
            continue
        ok = info.status is TaskStatus.SUCCEEDED
        # Refused before it ran (invalid parameters, unknown skill, rate limited): no
        # attempt failed, so neither a task with failures nor a failed attempt.
        refused = info.status is TaskStatus.REJECTED
        report.refused_tasks += refused
        report.tasks_with_failures += not refused
        report.recovered_tasks += ok
        when = info.finished_at or info.started_at or info.created_at
        for skill_id, err, tb in failures:
            report.failed_attempts += not refused
            etype = str(err.get("type", "execution_error"))
            details = err.get("details")
            code = str(err.get("code", ""))
            # A failed script by what its stderr says went wrong, not by its message's
            # stderr tail (which starts wherever 500 characters back fell).
            message = error_headline(code, str(err.get("message", "")),
                                     details if isinstance(details, dict) else {})
            if code == SCRIPT_EXIT and not tb and isinstance(details, dict):
                stderr = details.get("stderr")
                tb = stderr[-4000:] if isinstance(stderr, str) and stderr.strip() else None
            key = (skill_id, etype, fingerprint(message))
            g = groups.get(key)
            if g is None:
                g = groups[key] = ErrorGroup(skill_id=skill_id, error_type=etype,
                                             fingerprint=key[2], first_seen=when,
                                             last_seen=when, example_message=message,
                                             example_task_id=info.task_id)
            g.count += 1
            g.refusals += refused
            g.codes.add(code)
            g.first_seen = min(g.first_seen, info.created_at)
            g.last_seen = max(g.last_seen, when)
            if tb and not g.example_traceback:
                g.example_traceback = tb
            g._tasks[info.task_id] = (ok, info.attempts)
    report.groups = sorted(groups.values(), key=lambda g: (-g.count, g.skill_id))
    t0 = since or 0.0
    dead = await store.read_events("dead_letter", since=t0, limit=1_000_000)
    report.dead_letters = sum(1 for e in dead if until is None or e["at"] < until)
    breaker = await store.read_events("breaker", since=t0, limit=1000)
    report.breaker_transitions = [{"at": e["at"], **e["data"]} for e in breaker
                                  if until is None or e["at"] < until]
    return report


async def _failures(store: TaskStore, info: TaskInfo,
                    ) -> list[tuple[str, dict[str, Any], str | None]]:
    """(skill key, error dict, traceback) of each failed attempt of a task."""
    result = info.result
    if result is None:
        return []  # still running: judged once it ends
    if result.error is None and info.attempts <= 1:
        return []  # one clean attempt: nothing to read
    out: list[tuple[str, dict[str, Any], str | None]] = []
    for entry in await store.history(info.task_id):
        err = entry.get("error")
        if isinstance(err, dict):
            skill = str(entry.get("skill") or info.skill_id).split("@", 1)[0]
            tb = entry.get("traceback")
            out.append((skill, err, tb if isinstance(tb, str) else None))
    if not out and result.error is not None:  # refused before running
        out.append((info.skill_id, result.error.to_dict(), None))
    return out
