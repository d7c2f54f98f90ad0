"""Usage accounting read back from the journal: what each skill and each principal used.

The live ledger (``engine.resources.usage()``) covers this process since it started; this
covers any time range of the journal, past runs included, from the same per-task metrics.
"""

from __future__ import annotations

import time
from typing import Any

from skillexec.resources.usage import UsageLedger
from skillexec.storage.store import TaskStore
from skillexec.task import TaskStatus

__all__ = ["usage_report"]


async def usage_report(store: TaskStore, *, since: float | None = None,
                       until: float | None = None,
                       max_tasks: int = 200_000) -> dict[str, Any]:
    tasks = await store.list_tasks(since=since, until=until, limit=max_tasks)
    principals = {r.task_id: r.request.principal for r in await store.requests(
        since=since, until=until, limit=max_tasks)}
    ledger = UsageLedger()
    for t in tasks:
        r = t.result
        if r is None:
            continue
        ledger.record(t.skill_id, principals.get(t.task_id), r.metrics,
                      ok=t.status is TaskStatus.SUCCEEDED, cached=r.cached,
                      refused=t.status is TaskStatus.REJECTED,
                      cancelled=t.status is TaskStatus.CANCELLED)
    snap = ledger.snapshot()
    return {"kind": "usage", "generated_at": time.time(),
            "range": {"since": since, "until": until if until is not None else time.time()},
            "skills": snap["skills"], "principals": snap["principals"],
            "truncated": len(tasks) >= max_tasks}
