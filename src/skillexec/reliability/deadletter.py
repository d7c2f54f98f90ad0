"""Dead letters: tasks that exhausted recovery, kept in the journal to be run again.

The handler journals a ``dead_letter`` event ({task_id, skill_id, skill_version, status,
attempts, error}) when a task ends failed or timed out. :func:`replay` submits the stored
request of such tasks again (a new task each, the same parameters, config, priority,
timeout and retries) and journals a ``replayed`` event linking the old and the new task, so
that ``--all-failed`` does not replay the same dead letter twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skillexec.errors import SkillExecError, SkillNotFoundError
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["ReplayOutcome", "dead_letters", "replay"]


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    original_task_id: str
    new_task_id: str | None
    result: ExecutionResult | None
    error: str | None = None  # why it could not be replayed at all

    def to_dict(self) -> dict[str, Any]:
        return {"original_task_id": self.original_task_id, "new_task_id": self.new_task_id,
                "result": self.result.to_dict() if self.result else None,
                "error": self.error}


async def dead_letters(store: TaskStore, *, since: float = 0.0,
                       include_replayed: bool = False) -> list[dict[str, Any]]:
    """Dead-letter records, oldest first (``data`` of each event, plus ``at``)."""
    letters = await store.read_events("dead_letter", since=since, limit=1_000_000)
    replayed: set[str] = set()
    if not include_replayed:
        done = await store.read_events("replayed", since=since, limit=1_000_000)
        replayed = {str(e["data"].get("task_id")) for e in done}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for e in letters:
        task_id = str(e["data"].get("task_id"))
        if task_id in replayed or task_id in seen:
            continue
        seen.add(task_id)
        out.append({**e["data"], "at": e["at"]})
    return out


async def replay(engine: SkillExecutionEngine, task_ids: list[str], *,
                 wait: bool = True) -> list[ReplayOutcome]:
    """Submit each task's stored request again; wait for the new tasks' results."""
    store = engine.errors.store
    if store is None:
        raise SkillNotFoundError("this engine has no journal to replay from",
                                 code="no_journal")

    async def one(task_id: str) -> ReplayOutcome:
        st = await store.get_request(task_id)
        if st is None:
            return ReplayOutcome(task_id, None, None, f"no task with id {task_id!r}")
        try:
            new_id = await engine.submit(st.skill_id, st.params, config=st.config,
                                         priority=st.priority, timeout=st.timeout_s or None,
                                         max_retries=st.max_retries, principal=st.principal,
                                         cache=False)
        except SkillExecError as exc:
            return ReplayOutcome(task_id, None, None, str(exc))
        result = await engine.wait(new_id) if wait else None
        written = store.append_event("replayed", {
            "task_id": task_id, "new_task_id": new_id,
            "status": result.status.value if result else None})
        await written
        return ReplayOutcome(task_id, new_id, result)

    return list(await asyncio.gather(*(one(t) for t in task_ids)))
