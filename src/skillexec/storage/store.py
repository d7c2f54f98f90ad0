"""The journal interface: where tasks, results and artifact metadata are kept.

Writes are fire-and-forget calls that return an awaitable resolved once the record is
durable, so a store can batch them (group commit) while callers that need durability wait.
Writes for one task are applied in the order they were made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from skillexec.security.audit_chain import AuditEntry, AuditRow
from skillexec.security.keys import KeyRecord
from skillexec.storage.summary import TaskSummary
from skillexec.task import (
    ArtifactRef,
    ExecutionResult,
    ExecutionTask,
    Request,
    TaskInfo,
    TaskStatus,
)

__all__ = ["ArtifactRecord", "CacheRecord", "PurgeReport", "StoredTask", "TaskStore",
           "poll_finished"]

# Polling starts fast (a short task's end is seen within milliseconds) and backs off, so
# that thousands of waiters on long tasks cost little.
_FINISHED_POLL_FIRST_S = 0.002
_FINISHED_POLL_MAX_S = 0.05


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task as the journal keeps it: its request, and what the journal adds.

    The request's ``timeout_s`` and ``max_retries`` are those the task was queued with
    (after advice and resource clamps), so that a resumed task runs as it would have.
    """

    task_id: str
    request: Request
    status: TaskStatus
    attempts: int
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    ref: ArtifactRef
    task_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class CacheRecord:
    """A cached result: the output as JSON, and until when it may be served."""

    key: str
    value_json: bytes
    expires_at: float | None
    skill_id: str
    version: str


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What a purge removed: the tasks whose payloads went, their artifact records, the
    events about them, the skills whose cached results were dropped, and the artifact
    files (content addresses) no record refers to any more."""

    tasks: int
    artifacts: int
    events: int
    skills: tuple[str, ...]
    orphans: frozenset[str]


class TaskStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def queued(self, task: ExecutionTask, *, flushed: bool = True) -> Awaitable[None]:
        """Record an accepted task; resolved when durable. ``flushed=False``: resolved once
        other nodes can read it, maybe before it is on disk, for a caller told nothing until
        the task's end is durable (which, written after it, makes it durable too; a journal
        that cannot tell the two apart waits for durability)."""

    def started(self, task: ExecutionTask) -> Awaitable[None]:
        """Record that an attempt began (status, attempt number, started_at)."""

    def retrying(self, task: ExecutionTask) -> Awaitable[None]:
        """Record that a failed attempt will be tried again."""

    def finished(self, task: ExecutionTask, result: ExecutionResult,
                 history: list[dict[str, Any]], *,
                 output_json: bytes | None = None) -> Awaitable[None]:
        """Record the terminal state, once: a second terminal write for a task is ignored.

        ``output_json`` is the output already encoded as JSON, when the caller has it.
        """

    def artifact(self, record: ArtifactRecord) -> Awaitable[None]: ...

    async def get(self, task_id: str) -> TaskInfo | None: ...

    async def history(self, task_id: str) -> list[dict[str, Any]]: ...

    async def list_tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                         limit: int = 50, since: float | None = None,
                         until: float | None = None,
                         principal: str | None = None) -> list[TaskInfo]:
        """Newest first; ``since``/``until`` bound ``created_at`` (seconds since the epoch);
        ``principal``: only that principal's tasks (``local``'s are stored with NULL)."""

    async def list_summaries(self, *, status: TaskStatus | None = None,
                             skill_id: str | None = None, limit: int = 50,
                             since: float | None = None, until: float | None = None,
                             principal: str | None = None) -> list[TaskSummary]:
        """``list_tasks`` without the results: each task with its result's summary (wall
        time, error code and message cut, artifact count), read without reading the result
        (``storage.summary``; a row journaled before summaries were kept: from its result)."""

    async def requests(self, *, since: float | None = None, until: float | None = None,
                       limit: int = 100_000) -> list[StoredTask]:
        """The requests (parameters, timeout) of tasks created in a range, newest first."""

    async def get_request(self, task_id: str) -> StoredTask | None:
        """What was asked: enough to run the task again (replay)."""

    def append_event(self, kind: str, data: dict[str, Any]) -> Awaitable[None]:
        """Keep an engine event (an alert, a breaker opening, ...) in the journal."""

    async def read_events(self, kind: str | None = None, *, since: float = 0.0,
                          limit: int = 1000) -> list[dict[str, Any]]:
        """Journal events, oldest first: each ``{seq, kind, at, data}``."""

    async def unfinished(self) -> list[StoredTask]: ...

    async def wait_finished(self, task_id: str, *, timeout_s: float | None) -> TaskInfo | None:
        """The task once it has a terminal state (written by any engine on this journal);
        None if ``timeout_s`` passed first or there is no such task."""

    async def request_cancel(self, task_id: str) -> bool:
        """Ask whichever engine runs this task to cancel it. False if already terminal."""

    async def cancel_requests(self) -> list[str]:
        """Unfinished tasks whose cancellation was asked for from outside."""

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None: ...

    async def artifacts_older_than(self, cutoff: float) -> list[ArtifactRecord]: ...

    async def list_artifacts(self, *, task_id: str | None = None,
                             limit: int = 100) -> list[ArtifactRecord]:
        """The newest ``limit`` records (of ``task_id``'s artifacts only, when given), newest
        first: read as far as asked, never the whole table."""

    async def delete_artifacts(self, artifact_ids: list[str]) -> set[str]:
        """Delete these records; return the sha256 digests no longer referenced at all."""

    async def purge(self, *, principal: str | None, everyone: bool = False,
                    before: float | None = None) -> PurgeReport:
        """Erase the payloads (parameters, config, output, error text, history) of the
        finished tasks of ``principal`` (of every principal when ``everyone``) created
        before ``before``; delete their artifact records, the events about them and the
        cached results of their skills. Ids, states, times and metrics stay (reports). The
        erased bytes must not survive in the store's files (secure delete, compaction)."""

    # -- the result cache (ExecutionOptimizer) ------------------------------------------------

    async def cache_get(self, key: str) -> CacheRecord | None: ...

    def cache_put(self, record: CacheRecord) -> Awaitable[None]: ...

    def cache_invalidate(self, skill_id: str, keep_version: str | None) -> Awaitable[None]:
        """Drop the cached results of ``skill_id`` except those of ``keep_version``."""

    async def cache_load(self, *, now: float, limit: int) -> tuple[list[str], list[CacheRecord]]:
        """Drop expired entries; return every live key, and the ``limit`` newest records."""

    # -- API keys (skillexec.security.keys) ----------------------------------------------------

    def key_put(self, record: KeyRecord) -> Awaitable[None]:
        """Keep a new key (its digest, never the key)."""

    async def key_get(self, key_id: str) -> KeyRecord | None: ...

    async def key_list(self) -> list[KeyRecord]:
        """Every key, oldest first (revoked and expired ones too)."""

    async def key_revoke(self, key_id: str, at: float) -> bool:
        """Mark a key revoked; False if there is no such key or it already was."""

    async def key_used(self, key_id: str, at: float) -> bool:
        """Note a key's first use; True only the first time."""

    # -- the audit log (skillexec.security.audit) ----------------------------------------------

    def audit_append(self, entry: AuditEntry) -> Awaitable[None]:
        """Add a record to the chain, in the same transaction (group commit) as the task
        writes made with it; the store gives it its seq and prev (``audit_chain.chain``)
        while holding its write lock, so that two writers never fork the chain."""

    async def audit_head(self) -> tuple[int, bytes] | None:
        """The last record's seq and digest (None: no record yet)."""

    async def audit_rows(self, *, after_seq: int = -1, since_us: int | None = None,
                         limit: int = 10_000) -> list[AuditRow]:
        """Stored rows in seq order after ``after_seq`` (and with ``ts_us >= since_us``):
        each holds one record or several (a group commit's, keyed by the last one)."""

async def poll_finished(get: Callable[[str], Awaitable[TaskInfo | None]], task_id: str, *,
                        timeout_s: float | None) -> TaskInfo | None:
    """``wait_finished`` for a journal that cannot notify: read the row until it ends."""
    end = None if timeout_s is None else time.monotonic() + timeout_s
    pause = _FINISHED_POLL_FIRST_S
    while True:
        info = await get(task_id)
        if info is None or info.result is not None:
            return info
        if end is not None and time.monotonic() >= end:
            return None
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, _FINISHED_POLL_MAX_S)
