"""How the PostgreSQL journal writes one group commit: the task statements that answer
(the guarded end, the fenced end), the batch sent in runs of one statement, and the
one-by-one retry that fails only the records that fail. ``PostgresStore._commit`` decides
when; this module only how."""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg

from skillexec.storage.postgres_notify import ENDED_COLUMNS, NOTE, NOTED
from skillexec.storage.postgres_security import place_audit
from skillexec.storage.rows import AUDIT_MARK, Record, pg

Conn = psycopg.AsyncConnection[tuple[Any, ...]]
Cursor = psycopg.AsyncCursor[tuple[Any, ...]]
LAZY = "SET LOCAL synchronous_commit = off"
STARTED = pg(
    "UPDATE tasks SET status=?, started_at=coalesce(started_at, ?), attempts=?"
    " WHERE task_id=? AND finished_at IS NULL"
)
# Guarded: a second terminal write (another node's, a late one) matches no row, and only
# the write that matched notifies (with the row, when it is small: ``postgres_notify``).
_END = ("UPDATE tasks SET status=?, finished_at=?, started_at=coalesce(started_at, ?),"
        " attempts=?, result=?, history=?, summary=? WHERE task_id=? AND finished_at IS NULL")
FINISHED = pg(f"WITH done AS ({_END} RETURNING {ENDED_COLUMNS}) SELECT {NOTE} FROM {NOTED}")
# A distributed worker's end when its ledger lives in this database: the fence check folded
# into the guarded terminal write, one statement in the group commit's transaction (no
# round trip of its own, and the claim's ``done`` as durable as the end). The end is written
# only if this fence is still the current one; the row says whether it was.
FENCED_FINISHED = pg(
    "WITH f AS (UPDATE skillexec_claims SET state='done', lease_until=NULL"
    " WHERE task_id=? AND fence=? AND state='running' RETURNING task_id),"
    f" done AS ({_END} AND EXISTS (SELECT 1 FROM f) RETURNING {ENDED_COLUMNS})"
    f" SELECT EXISTS (SELECT 1 FROM f), (SELECT {NOTE} FROM {NOTED})"
)

# Where an end's arguments hold its task id.
_END_ID = {FINISHED: 7, FENCED_FINISHED: 0}


def superseded_dropped(records: list[Record]) -> list[Record]:
    """The records but the start of a task whose end is in the same group commit: the end
    writes ``started_at`` and ``attempts`` as well, so such a task's row is updated once,
    not twice (a short task's start and end usually meet in one commit)."""
    ended = {r[1][_END_ID[r[0]]] for r in records if r[0] in _END_ID}
    if not ended:
        return records
    return [r for r in records if r[0] is not STARTED or r[1][3] not in ended]


async def execute_runs(cur: Cursor, batch: list[Record]) -> list[tuple[Cursor, str]]:
    """executemany over runs of the same statement, keeping the order of the records (the
    callers of one turn often make the same kind of record: many accepts, many ends). The
    fenced ends' cursors and task ids, to be read once the pipeline has synced
    (``fence_answers``)."""
    fenced: list[tuple[Cursor, str]] = []
    start, n = 0, len(batch)
    while start < n:
        sql = batch[start][0]
        end = start + 1
        while end < n and batch[end][0] == sql:
            end += 1
        if sql is FENCED_FINISHED:  # each answers whether its fence was current
            for _, args, _ in batch[start:end]:
                # A cursor of its own each (the shared one's results are the statements'
                # before), and execute, not executemany: in a pipeline, executemany with
                # ``returning`` waits for its rows before it returns, a round trip before
                # the COMMIT is even sent (a distributed task's end took two, not one).
                answers = cur.connection.cursor()
                await answers.execute(sql, args)
                fenced.append((answers, args[0]))
        elif end - start == 1:
            await cur.execute(sql, batch[start][1])
        else:
            await cur.executemany(sql, [r[1] for r in batch[start:end]])
        start = end
    return fenced


async def rolled_back(conn: Conn) -> None:
    if not conn.closed and not conn.broken and \
            conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            await conn.execute("ROLLBACK")


async def fence_answers(fenced: list[tuple[Cursor, str]],
                         fence_held: dict[str, bool]) -> None:
    for answers, task_id in fenced:
        row = await answers.fetchone()
        fence_held[task_id] = bool(row and row[0])


async def one_by_one(conn: Conn, batch: list[Record], fence_held: dict[str, bool],
                      ) -> tuple[list[Record], list[BaseException | None]]:
    """The batch as written and each record's error. The other records first, each in a
    savepoint, then the audit entries (the chain's lock taken only now, as ``_commit``
    does: every writer takes the rows it writes before the lock, so none waits for a row
    while holding the lock) in one savepoint: each follows the one before it, so they stand
    or fall as one (a chain with a hole in it would read as a deleted record)."""
    placed = batch
    errors: list[BaseException | None] = [None] * len(batch)
    plain = [r for r in batch if r[0] is not AUDIT_MARK]
    try:
        async with conn.transaction():
            for i, (sql, args, _) in enumerate(plain):
                try:
                    async with conn.transaction():  # a savepoint
                        cur = await conn.execute(sql, args)
                        if sql is FENCED_FINISHED:
                            row = await cur.fetchone()
                            fence_held[args[0]] = bool(row and row[0])
                except psycopg.Error as exc:
                    if conn.broken:
                        raise
                    errors[i] = exc
            placed = await place_audit(conn, batch)  # the plain records, then the chain's
            if len(placed) > len(plain):
                try:
                    async with conn.transaction():
                        await conn.cursor().executemany(placed[len(plain)][0],
                                                        [r[1] for r in placed[len(plain):]])
                except psycopg.Error as exc:
                    if conn.broken:
                        raise
                    errors[len(plain):] = [exc] * (len(batch) - len(plain))
    except psycopg.Error as exc:  # the database itself fails: all fail
        with contextlib.suppress(psycopg.Error):
            await conn.close()
        return placed, [exc] * len(batch)
    return placed, errors
