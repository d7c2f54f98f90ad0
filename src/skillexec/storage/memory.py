"""A journal that keeps nothing on disk: for benchmarks and throwaway engines.

Finished tasks are remembered in a bounded LRU so that ``status()`` and ``wait()`` still
answer for recent tasks; nothing survives the process.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Generator
from dataclasses import replace
from itertools import islice
from typing import Any

from skillexec.security.audit_chain import AuditEntry, AuditRow, chain
from skillexec.security.keys import KeyRecord
from skillexec.security.principals import LOCAL_ID
from skillexec.storage.store import (
    ArtifactRecord,
    CacheRecord,
    PurgeReport,
    StoredTask,
    poll_finished,
)
from skillexec.storage.summary import TaskSummary, summary_of
from skillexec.task import ExecutionResult, ExecutionTask, TaskInfo, TaskStatus

__all__ = ["MemoryStore"]


class _Done:
    """An awaitable that is already complete, shared by every write."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_DONE = _Done()


class MemoryStore:
    def __init__(self, *, max_finished: int = 100_000) -> None:
        self._max = max_finished
        # task id -> (info, history, principal)
        self._finished: OrderedDict[
            str, tuple[TaskInfo, list[dict[str, Any]], str | None]] = OrderedDict()
        self._artifacts: dict[str, ArtifactRecord] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=max_finished)
        self._seq = 0
        self._cache: dict[str, CacheRecord] = {}
        self._keys: dict[str, KeyRecord] = {}
        self._audit: list[AuditRow] = []  # kept whole: a memory journal is for short lives

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def queued(self, task: ExecutionTask, *, flushed: bool = True) -> Awaitable[None]:
        return _DONE

    def started(self, task: ExecutionTask) -> Awaitable[None]:
        return _DONE

    def retrying(self, task: ExecutionTask) -> Awaitable[None]:
        return _DONE

    def finished(self, task: ExecutionTask, result: ExecutionResult,
                 history: list[dict[str, Any]], *,
                 output_json: bytes | None = None) -> Awaitable[None]:
        if task.task_id not in self._finished:
            info = TaskInfo(task_id=task.task_id, skill_id=task.request.skill_id,
                            skill_version=task.request.skill_version, status=result.status,
                            priority=task.request.priority, attempts=result.attempts,
                            created_at=task.request.created_at, started_at=result.started_at,
                            finished_at=result.finished_at, result=result,
                            principal=task.request.principal)
            self._finished[task.task_id] = (info, history, task.request.principal)
            if len(self._finished) > self._max:
                self._finished.popitem(last=False)
        return _DONE

    def artifact(self, record: ArtifactRecord) -> Awaitable[None]:
        self._artifacts[record.ref.id] = record
        return _DONE

    async def get(self, task_id: str) -> TaskInfo | None:
        hit = self._finished.get(task_id)
        return hit[0] if hit else None

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        hit = self._finished.get(task_id)
        return list(hit[1]) if hit else []

    async def list_tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                         limit: int = 50, since: float | None = None,
                         until: float | None = None,
                         principal: str | None = None) -> list[TaskInfo]:
        out = [info for info, _, _ in reversed(self._finished.values())
               if (principal is None or (info.principal or LOCAL_ID) == principal)
               and (status is None or info.status is status)
               and (skill_id is None or info.skill_id == skill_id)
               and (since is None or info.created_at >= since)
               and (until is None or info.created_at < until)]
        return out[:limit]

    async def list_summaries(self, *, status: TaskStatus | None = None,
                             skill_id: str | None = None, limit: int = 50,
                             since: float | None = None, until: float | None = None,
                             principal: str | None = None) -> list[TaskSummary]:
        # The results are objects here: summarizing one reads three fields, decodes nothing.
        return [TaskSummary(replace(i, result=None),
                            None if i.result is None else summary_of(i.result))
                for i in await self.list_tasks(status=status, skill_id=skill_id, limit=limit,
                                               since=since, until=until, principal=principal)]

    async def requests(self, *, since: float | None = None, until: float | None = None,
                       limit: int = 100_000) -> list[StoredTask]:
        return []  # requests are not kept

    async def get_request(self, task_id: str) -> StoredTask | None:
        return None  # nothing is kept: a memory journal cannot replay

    def append_event(self, kind: str, data: dict[str, Any]) -> Awaitable[None]:
        self._seq += 1
        self._events.append({"seq": self._seq, "kind": kind, "at": time.time(), "data": data})
        return _DONE

    async def read_events(self, kind: str | None = None, *, since: float = 0.0,
                          limit: int = 1000) -> list[dict[str, Any]]:
        out = [e for e in self._events
               if e["at"] >= since and (kind is None or e["kind"] == kind)]
        return out[:limit]

    async def unfinished(self) -> list[StoredTask]:
        return []

    async def wait_finished(self, task_id: str, *, timeout_s: float | None) -> TaskInfo | None:
        return await poll_finished(self.get, task_id, timeout_s=timeout_s)

    async def request_cancel(self, task_id: str) -> bool:
        return False

    async def cancel_requests(self) -> list[str]:
        return []

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        return self._artifacts.get(artifact_id)

    async def artifacts_older_than(self, cutoff: float) -> list[ArtifactRecord]:
        return [r for r in self._artifacts.values() if r.created_at < cutoff]

    async def list_artifacts(self, *, task_id: str | None = None,
                             limit: int = 100) -> list[ArtifactRecord]:
        mine = [r for r in self._artifacts.values() if task_id is None or r.task_id == task_id]
        return sorted(mine, key=lambda r: -r.created_at)[:limit]

    async def delete_artifacts(self, artifact_ids: list[str]) -> set[str]:
        gone = {self._artifacts.pop(a).ref.sha256 for a in artifact_ids if a in self._artifacts}
        still = {r.ref.sha256 for r in self._artifacts.values()}
        return gone - still

    async def purge(self, *, principal: str | None, everyone: bool = False,
                    before: float | None = None) -> PurgeReport:
        ids = {tid for tid, (info, _, who) in self._finished.items()
               if (everyone or who == principal)
               and (before is None or info.created_at < before)}
        skills = sorted({self._finished[t][0].skill_id for t in ids})
        for tid in ids:
            del self._finished[tid]
        arts = [a for a, r in self._artifacts.items() if r.task_id in ids]
        orphans = await self.delete_artifacts(arts)
        n_events = len(self._events)
        kept = [e for e in self._events if e["data"].get("task_id") not in ids]
        self._events.clear()
        self._events.extend(kept)
        self._cache = {k: r for k, r in self._cache.items() if r.skill_id not in skills}
        return PurgeReport(tasks=len(ids), artifacts=len(arts), events=n_events - len(kept),
                           skills=tuple(skills), orphans=frozenset(orphans))

    async def cache_get(self, key: str) -> CacheRecord | None:
        return self._cache.get(key)

    def cache_put(self, record: CacheRecord) -> Awaitable[None]:
        self._cache[record.key] = record
        return _DONE

    def cache_invalidate(self, skill_id: str, keep_version: str | None) -> Awaitable[None]:
        self._cache = {k: r for k, r in self._cache.items()
                       if r.skill_id != skill_id or r.version == keep_version}
        return _DONE

    async def cache_load(self, *, now: float, limit: int) -> tuple[list[str], list[CacheRecord]]:
        self._cache = {k: r for k, r in self._cache.items()
                       if r.expires_at is None or r.expires_at > now}
        return list(self._cache), list(self._cache.values())[-limit:][::-1] if limit else []

    # -- API keys and the audit log ----------------------------------------------------------

    def key_put(self, record: KeyRecord) -> Awaitable[None]:
        self._keys[record.info.key_id] = record
        return _DONE

    async def key_get(self, key_id: str) -> KeyRecord | None:
        return self._keys.get(key_id)

    async def key_list(self) -> list[KeyRecord]:
        return sorted(self._keys.values(), key=lambda r: r.info.created_at)

    async def key_revoke(self, key_id: str, at: float) -> bool:
        r = self._keys.get(key_id)
        if r is None or r.info.revoked_at is not None:
            return False
        self._keys[key_id] = replace(r, info=replace(r.info, revoked_at=at))
        return True

    async def key_used(self, key_id: str, at: float) -> bool:
        r = self._keys.get(key_id)
        if r is None or r.info.used_at is not None:
            return False
        self._keys[key_id] = replace(r, info=replace(r.info, used_at=at))
        return True

    def audit_append(self, entry: AuditEntry) -> Awaitable[None]:
        last = self._audit[-1] if self._audit else None
        self._audit.extend(chain(None if last is None else (last.seq, last.digest), [entry]))
        return _DONE

    async def audit_head(self) -> tuple[int, bytes] | None:
        last = self._audit[-1] if self._audit else None
        return None if last is None else (last.seq, last.digest)

    async def audit_rows(self, *, after_seq: int = -1, since_us: int | None = None,
                         limit: int = 10_000) -> list[AuditRow]:
        rows = (r for r in self._audit[max(after_seq + 1, 0):]
                if since_us is None or r.ts_us >= since_us)
        return list(islice(rows, limit))
