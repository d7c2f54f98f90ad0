"""JournalWatcher: what other engines on the same journal ask of this one, and the ends of
tasks they own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

from skillexec.errors import ResourceError, SkillExecError, SkillNotFoundError
from skillexec.pipeline.recovery import Recoverer
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult

__all__ = ["JournalWatcher"]

_CANCEL_POLL_S = 0.5


class JournalWatcher:
    def __init__(self, *, journal: TaskStore, live: Mapping[str, object], recoverer: Recoverer,
                 cancel: Callable[[str], Awaitable[bool]]) -> None:
        self.journal = journal
        self.live = live
        self.recoverer = recoverer
        self.cancel = cancel

    async def poll_cancel_requests(self) -> None:
        """Cancellations asked through the journal (``skillexec tasks cancel`` elsewhere)."""
        orphans = self.recoverer.orphans
        while True:
            await asyncio.sleep(_CANCEL_POLL_S)
            if not self.live and not orphans:
                continue
            with contextlib.suppress(SkillExecError, OSError):
                for task_id in await self.journal.cancel_requests():
                    if task_id in self.live:
                        await self.cancel(task_id)
                    elif (orphan := orphans.get(task_id)) is not None:
                        await self.recoverer.end_orphan(orphan)  # its engine is gone

    async def wait_elsewhere(self, task_id: str, timeout: float | None) -> ExecutionResult:
        """A task another engine owns, or one that ended: follow the shared journal until
        it ends (its first read also says whether the journal holds it at all)."""
        info = await self.journal.wait_finished(task_id, timeout_s=timeout)
        if info is not None and info.result is not None:
            return info.result
        if info is None and await self.journal.get(task_id) is None:  # not a timeout
            raise SkillNotFoundError(f"no task with id {task_id!r}", code="task_not_found")
        raise ResourceError(f"task {task_id} did not finish within {timeout} s",
                            code="wait_timeout", retryable=True)
