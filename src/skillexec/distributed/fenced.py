"""FencedStore: a worker's journal, whose terminal writes only the fence holder may make.

Every method but ``finished`` goes straight to the journal. ``finished`` for a task this
worker claimed first checks its fence in the ledger (the claim becomes ``done`` there), and
writes the journal's guarded terminal row only if that succeeded: a worker the reaper gave
up on, or one that handed the task back at shutdown, can no longer end it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, cast

from skillexec.distributed.ledger import Claim, Ledger
from skillexec.errors import SkillExecError
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask

__all__ = ["FencedStore"]

log = logging.getLogger("skillexec.distributed")


class FencedStore:
    def __init__(self, inner: TaskStore, ledger: Ledger) -> None:
        self.inner = inner
        self.ledger = ledger
        self.claims: dict[str, Claim] = {}  # task id -> the claim this worker holds
        self.fenced_out = 0  # terminal writes refused: another holds the task now

    def finished(self, task: ExecutionTask, result: ExecutionResult,
                 history: list[dict[str, Any]], *,
                 output_json: bytes | None = None) -> Awaitable[None]:
        claim = self.claims.pop(task.task_id, None)
        if claim is None:  # not claimed here (the reaper already closed its claim)
            return self.inner.finished(task, result, history, output_json=output_json)
        return asyncio.ensure_future(self._fenced(claim, task, result, history, output_json))

    async def _fenced(self, claim: Claim, task: ExecutionTask, result: ExecutionResult,
                      history: list[dict[str, Any]], output_json: bytes | None) -> None:
        try:
            holder = await self.ledger.finish(claim)
        except SkillExecError:
            holder = False
            log.warning("task %s: the ledger is unreachable, its end is not written (the "
                        "reaper will decide)", task.task_id)
        if not holder:
            self.fenced_out += 1
            log.warning("task %s: fence %d is no longer current; its end (%s) is dropped",
                        task.task_id, claim.fence, result.status.value)
            return
        await self.inner.finished(task, result, history, output_json=output_json)

    # -- the rest, as the journal does it ----------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Every other part of the store interface (tasks, events, artifacts, the cache, keys,
        # the audit log, purge), whatever the journal grows: the journal's own.
        return getattr(self.inner, name)

    def journal(self) -> TaskStore:
        """This store, typed as the journal interface it fulfils (through ``__getattr__``)."""
        return cast(TaskStore, self)
