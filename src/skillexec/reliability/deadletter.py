"""Dead letters: tasks that exhausted recovery, kept in the journal to be run again.

The handler journals a ``dead_letter`` event ({task_id, skill_id, skill_version, status,
attempts, error}) when a task ends failed or timed out. Replaying them is a client of the
engine: :mod:`skillexec.replay`.
"""

from __future__ import annotations

from typing import Any

from skillexec.storage.store import TaskStore

__all__ = ["dead_letters"]


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
