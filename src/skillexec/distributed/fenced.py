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
from typing import Any

from skillexec.distributed.ledger import Claim, Ledger
from skillexec.errors import SkillExecError
from skillexec.storage.store import ArtifactRecord, CacheRecord, StoredTask, TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskInfo, TaskStatus

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

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    def queued(self, task: ExecutionTask) -> Awaitable[None]:
        return self.inner.queued(task)

    def started(self, task: ExecutionTask) -> Awaitable[None]:
        return self.inner.started(task)

    def retrying(self, task: ExecutionTask) -> Awaitable[None]:
        return self.inner.retrying(task)

    def artifact(self, record: ArtifactRecord) -> Awaitable[None]:
        return self.inner.artifact(record)

    async def get(self, task_id: str) -> TaskInfo | None:
        return await self.inner.get(task_id)

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        return await self.inner.history(task_id)

    async def list_tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                         limit: int = 50, since: float | None = None,
                         until: float | None = None) -> list[TaskInfo]:
        return await self.inner.list_tasks(status=status, skill_id=skill_id, limit=limit,
                                           since=since, until=until)

    async def requests(self, *, since: float | None = None, until: float | None = None,
                       limit: int = 100_000) -> list[StoredTask]:
        return await self.inner.requests(since=since, until=until, limit=limit)

    async def get_request(self, task_id: str) -> StoredTask | None:
        return await self.inner.get_request(task_id)

    def append_event(self, kind: str, data: dict[str, Any]) -> Awaitable[None]:
        return self.inner.append_event(kind, data)

    async def read_events(self, kind: str | None = None, *, since: float = 0.0,
                          limit: int = 1000) -> list[dict[str, Any]]:
        return await self.inner.read_events(kind, since=since, limit=limit)

    async def unfinished(self) -> list[StoredTask]:
        return await self.inner.unfinished()

    async def wait_finished(self, task_id: str, *, timeout_s: float | None) -> TaskInfo | None:
        return await self.inner.wait_finished(task_id, timeout_s=timeout_s)

    async def request_cancel(self, task_id: str) -> bool:
        return await self.inner.request_cancel(task_id)

    async def cancel_requests(self) -> list[str]:
        return await self.inner.cancel_requests()

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        return await self.inner.get_artifact(artifact_id)

    async def artifacts_older_than(self, cutoff: float) -> list[ArtifactRecord]:
        return await self.inner.artifacts_older_than(cutoff)

    async def delete_artifacts(self, artifact_ids: list[str]) -> set[str]:
        return await self.inner.delete_artifacts(artifact_ids)

    async def cache_get(self, key: str) -> CacheRecord | None:
        return await self.inner.cache_get(key)

    def cache_put(self, record: CacheRecord) -> Awaitable[None]:
        return self.inner.cache_put(record)

    def cache_invalidate(self, skill_id: str, keep_version: str | None) -> Awaitable[None]:
        return self.inner.cache_invalidate(skill_id, keep_version)

    async def cache_load(self, *, now: float, limit: int) -> tuple[list[str], list[CacheRecord]]:
        return await self.inner.cache_load(now=now, limit=limit)
