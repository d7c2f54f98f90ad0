"""The PostgreSQL journal's reads (and the deletions that go with them), on its pool
(a part of :class:`PostgresStore`). The statements are the SQLite journal's, in psycopg's
placeholder style, through the row mappers both share (``rows``)."""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg
from psycopg_pool import AsyncConnectionPool

from skillexec.storage.codec import Codec
from skillexec.storage.rows import (
    ARTIFACT_COLUMNS,
    CACHE_COLUMNS,
    HISTORY_COLUMNS,
    INFO_COLUMNS,
    artifact,
    cache_record,
    created_between,
    event,
    info,
    newest_first,
    pg,
    task_list,
)
from skillexec.storage.rows import history as history_of
from skillexec.storage.sqlite_request import STORED_COLUMNS, stored_task
from skillexec.storage.store import ArtifactRecord, CacheRecord, StoredTask
from skillexec.storage.summary import SUMMARY_COLUMNS, TaskSummary, task_summary
from skillexec.task import TaskInfo, TaskStatus

__all__ = ["PUBLISHED", "PostgresQueriesMixin", "Reconcilable"]

# The ``node`` of a task a distributed node published (then the queue's name): a node
# name is ``host:/path``, and a queue's name holds no space or slash.
PUBLISHED = "broker queue "
_RECONCILABLE = (
    "SELECT task_id, idempotent, priority, node, created_at FROM tasks"
    " WHERE finished_at IS NULL AND (starts_with(node, ?) OR node = ?) AND created_at < ?"
    " AND (created_at, task_id) > (?, ?) ORDER BY created_at, task_id LIMIT ?")


class Reconcilable(NamedTuple):
    """An unfinished task a worker's reconciler may publish again (nothing of its payload
    is read: a row this node cannot decrypt is reconciled all the same)."""

    task_id: str
    idempotent: bool
    priority: int
    queue: str | None  # the broker queue it was published to (None: this node's own)
    created_at: float


_Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresQueriesMixin:
    """What PostgresStore answers from the journal; it opens ``_pool``."""

    _pool: AsyncConnectionPool[_Conn] | None
    _codec: Codec
    node: str | None

    async def _rows(self, sql: str, args: tuple[Any, ...] | list[Any] = (), *,
                    binary: bool = False) -> list[Any]:
        """``binary``: results in PostgreSQL's binary format (bytea as is, not hex: half
        the client's CPU for a page of audit records)."""
        assert self._pool is not None, "the store is not open"
        async with self._pool.connection() as conn:
            cur = await conn.execute(pg(sql), args, binary=binary)
            return await cur.fetchall()

    async def _row(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Any:
        rows = await self._rows(sql, args)
        return rows[0] if rows else None

    async def get(self, task_id: str) -> TaskInfo | None:
        row = await self._row(f"SELECT {INFO_COLUMNS} FROM tasks WHERE task_id=?", (task_id,))
        return info(row, self._codec) if row else None

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        return history_of(await self._row(
            f"SELECT {HISTORY_COLUMNS} FROM tasks WHERE task_id=?", (task_id,)), self._codec,
            task_id=task_id)

    async def list_tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                         limit: int = 50, since: float | None = None,
                         until: float | None = None,
                         principal: str | None = None) -> list[TaskInfo]:
        sql, args = task_list(status=status, skill_id=skill_id, since=since, until=until,
                              principal=principal, limit=limit)
        return [info(r, self._codec) for r in await self._rows(sql, args)]

    async def list_summaries(self, *, status: TaskStatus | None = None,
                             skill_id: str | None = None, limit: int = 50,
                             since: float | None = None, until: float | None = None,
                             principal: str | None = None) -> list[TaskSummary]:
        sql, args = task_list(status=status, skill_id=skill_id, since=since, until=until,
                              principal=principal, limit=limit, columns=SUMMARY_COLUMNS)
        return [task_summary(r, self._codec) for r in await self._rows(sql, args)]

    async def unfinished(self) -> list[StoredTask]:
        """This node's unfinished tasks (every node's for a store without a node): another
        node's are its own to resume when it restarts."""
        mine, args = ("", ()) if self.node is None else (" AND node=?", (self.node,))
        return [stored_task(r, self._codec) for r in await self._rows(
            f"SELECT {STORED_COLUMNS} FROM tasks WHERE finished_at IS NULL{mine}"
            " ORDER BY task_id", args)]

    async def reconcilable(self, *, before: float, after: tuple[float, str] = (0.0, ""),
                           limit: int = 1000) -> list[Reconcilable]:
        """Unfinished tasks created before ``before`` that a broker queue's workers own:
        published by any node (``PostgresStore.publishes_to``), and this node's own; in
        creation order after ``after`` (created_at, task_id: where the last page ended), at
        most ``limit``."""
        rows = await self._rows(_RECONCILABLE, (PUBLISHED, self.node, before, *after,
                                                int(limit)))
        return [Reconcilable(str(r[0]), bool(r[1]), int(r[2]),
                             r[3][len(PUBLISHED):] if str(r[3]).startswith(PUBLISHED) else None,
                             float(r[4])) for r in rows]

    async def requests(self, *, since: float | None = None, until: float | None = None,
                       limit: int = 100_000) -> list[StoredTask]:
        where, args = created_between(since, until)
        return [stored_task(r, self._codec) for r in await self._rows(
            newest_first(STORED_COLUMNS, where, args, limit), args)]

    async def get_request(self, task_id: str) -> StoredTask | None:
        row = await self._row(f"SELECT {STORED_COLUMNS} FROM tasks WHERE task_id=?",
                              (task_id,))
        return stored_task(row, self._codec) if row else None

    async def read_events(self, kind: str | None = None, *, since: float = 0.0,
                          limit: int = 1000) -> list[dict[str, Any]]:
        sql = "SELECT seq, kind, at, data FROM events WHERE at >= ?"
        args: list[Any] = [since]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY seq LIMIT ?"
        args.append(int(limit))
        return [event(r, self._codec) for r in await self._rows(sql, args)]

    async def request_cancel(self, task_id: str) -> bool:
        rows = await self._rows("UPDATE tasks SET cancel_requested=1 WHERE task_id=?"
                                " AND finished_at IS NULL RETURNING task_id", (task_id,))
        return bool(rows)

    async def cancel_requests(self) -> list[str]:
        return [r[0] for r in await self._rows(
            "SELECT task_id FROM tasks WHERE finished_at IS NULL AND cancel_requested=1")]

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        row = await self._row(f"SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id=?",
                              (artifact_id,))
        return artifact(row) if row else None

    async def artifacts_older_than(self, cutoff: float) -> list[ArtifactRecord]:
        return [artifact(r) for r in await self._rows(
            f"SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE created_at < ?", (cutoff,))]

    async def list_artifacts(self, *, task_id: str | None = None,
                             limit: int = 100) -> list[ArtifactRecord]:
        where, args = ("WHERE task_id=? ", (task_id,)) if task_id is not None else ("", ())
        return [artifact(r) for r in await self._rows(
            f"SELECT {ARTIFACT_COLUMNS} FROM artifacts {where}"
            "ORDER BY created_at DESC LIMIT ?", (*args, int(limit)))]

    async def delete_artifacts(self, artifact_ids: list[str]) -> set[str]:
        assert self._pool is not None, "the store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(pg("DELETE FROM artifacts WHERE id = ANY(?)"
                                        " RETURNING sha256"), (list(artifact_ids),))
            gone = {r[0] for r in await cur.fetchall()}
            if not gone:
                return set()
            cur = await conn.execute(pg("SELECT DISTINCT sha256 FROM artifacts"
                                        " WHERE sha256 = ANY(?)"), (sorted(gone),))
            return gone - {r[0] for r in await cur.fetchall()}

    async def referenced_digests(self, digests: list[str]) -> set[str]:
        """Which of these content addresses an artifact record names (a node's file that
        none names was purged or pruned elsewhere: ``distributed.orphans``)."""
        return {r[0] for r in await self._rows(
            "SELECT DISTINCT sha256 FROM artifacts WHERE sha256 = ANY(?)", (list(digests),))}

    # -- the result cache (ExecutionOptimizer) ------------------------------------------------

    async def cache_get(self, key: str) -> CacheRecord | None:
        row = await self._row(f"SELECT {CACHE_COLUMNS} FROM cache WHERE key=?", (key,))
        return cache_record(row, self._codec) if row else None

    async def cache_load(self, *, now: float,
                         limit: int) -> tuple[list[str], list[CacheRecord]]:
        await self._rows("DELETE FROM cache WHERE expires_at IS NOT NULL AND expires_at <= ?"
                         " RETURNING key", (now,))
        keys = [r[0] for r in await self._rows("SELECT key FROM cache")]
        rows = await self._rows(f"SELECT {CACHE_COLUMNS} FROM cache ORDER BY created_at DESC"
                                " LIMIT ?", (int(limit),))
        return keys, [cache_record(r, self._codec) for r in rows]

