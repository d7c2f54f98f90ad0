"""Ledger: claims with fences, worker heartbeats and leases, in PostgreSQL.

The broker only rings the doorbell; whether a worker may run a task is decided here. A
claim bumps the task's fence and succeeds only if nobody holds the task under a live lease
and it has not ended; a terminal write is allowed only to the holder of the current fence.
Every comparison of time uses the database clock (``now()``), never a node's.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from skillexec.distributed.batch import Batch
from skillexec.distributed.reach import reachable
from skillexec.distributed.reaping import (
    MOST_LOST,
    Candidate,
    Expired,
    NeverStarted,
    Swept,
    sweep_in,
)
from skillexec.errors import ConfigError, ResourceError
from skillexec.storage.postgres_queries import PUBLISHED
from skillexec.storage.sqlite_request import STORED_COLUMNS

__all__ = ["BEAT", "CLAIM_REQUEST", "DURABLE", "MIGRATIONS", "MOST_LOST", "RENEW", "Claim",
           "Expired", "Ledger", "unavailable"]

log = logging.getLogger("skillexec.distributed")

# Versioned, applied in order under an advisory lock; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE skillexec_workers (
        worker_id text PRIMARY KEY,
        hostname text NOT NULL,
        pid integer NOT NULL,
        queues text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        seen_at timestamptz NOT NULL DEFAULT now(),
        stopping boolean NOT NULL DEFAULT false
    );
    CREATE TABLE skillexec_claims (
        task_id text PRIMARY KEY,
        fence bigint NOT NULL,
        state text NOT NULL CHECK (state IN ('queued', 'running', 'done')),
        worker_id text,
        idempotent boolean NOT NULL,
        priority integer NOT NULL,
        queue text NOT NULL,
        lease_until timestamptz,
        claimed_at timestamptz,
        published_at timestamptz
    ) WITH (fillfactor = 70);
    CREATE INDEX skillexec_claims_running ON skillexec_claims (lease_until)
        WHERE state = 'running';
    CREATE INDEX skillexec_claims_worker ON skillexec_claims (worker_id)
        WHERE state = 'running';
    """,
    # Claims given back unstarted (a worker without the skill, a start the journal could
    # not write): bounded, so that a task no worker can run ends instead of going round.
    "ALTER TABLE skillexec_claims ADD COLUMN handed_back integer NOT NULL DEFAULT 0",
    # Leases that ran out while the task ran (its worker died, or was cut off), and whose:
    # bounded, so that a task whose run kills its worker ends instead of killing each.
    """
    ALTER TABLE skillexec_claims ADD COLUMN lost integer NOT NULL DEFAULT 0,
        ADD COLUMN lost_on text[] NOT NULL DEFAULT '{}';
    """,
    # Times the reconciler published a queued task again since it was last claimed: each
    # doubles the wait before the next (a backlog is not a lost message; reaping.py).
    "ALTER TABLE skillexec_claims ADD COLUMN republished integer NOT NULL DEFAULT 0",
)
DURABLE = "SET LOCAL synchronous_commit = on"  # the pool's connections default to off
_MIGRATION_LOCK = 0x5E11E8EC01  # pg_advisory_xact_lock key: one migrator at a time
_SWEEP_LOCK = 0x5E11E8EC02  # the reaper/reconciler leader
_OPEN_S = 10.0  # how long a ledger opening waits for its database (starting, or made late)

# One statement, one round trip for every claim a node asked for meanwhile: insert the
# first claim, or take a row that is back in the queue (reaper, shutdown) or whose
# idempotent holder's lease ran out. Rows are taken in id order, as every batch takes
# them, so two batches never wait for each other crosswise.
_INSERT_CLAIM = """INSERT INTO skillexec_claims AS c (task_id, fence, state, worker_id, idempotent,
                                  priority, queue, lease_until, claimed_at)"""
_TAKE_CLAIM = """ON CONFLICT (task_id) DO UPDATE SET fence = c.fence + 1, state = 'running',
    worker_id = EXCLUDED.worker_id, lease_until = EXCLUDED.lease_until, claimed_at = now(),
    republished = 0
WHERE c.state = 'queued' OR (c.state = 'running' AND c.idempotent AND c.lease_until < now())
RETURNING task_id, fence"""
_CLAIM = f"""
{_INSERT_CLAIM}
SELECT t.id, 1, 'running', %s, t.idem, t.prio, t.queue, now() + make_interval(secs => %s),
       now()
FROM unnest(%s::text[], %s::boolean[], %s::integer[], %s::text[]) AS t(id, idem, prio, queue)
ORDER BY t.id
{_TAKE_CLAIM}
"""
# The same claim where the journal shares the ledger's database, returning the request with
# it (the worker reads nothing else): idempotent and priority come from the journal's row,
# and a task the journal does not hold, or holds ended, is not claimed. Its queue is the
# one it was published to (the journal's ``node``), else the delivery's (``%s``): what
# hands it back or takes it back publishes there, where its workers listen; the claimer's
# own first queue may be one no worker with its skill consumes.
CLAIM_REQUEST = f"""
WITH won AS (
{_INSERT_CLAIM}
SELECT k.task_id, 1, 'running', %s, k.idempotent <> 0, k.priority,
       CASE WHEN starts_with(k.node, '{PUBLISHED}') THEN substr(k.node, {len(PUBLISHED) + 1})
            ELSE %s END,
       now() + make_interval(secs => %s), now()
FROM tasks k WHERE k.task_id = ANY(%s::text[]) AND k.finished_at IS NULL
ORDER BY k.task_id
{_TAKE_CLAIM})
SELECT won.fence, {STORED_COLUMNS} FROM won JOIN tasks USING (task_id)
"""
# The fence check of every end a node made meanwhile: only the current holder's matches.
_FINISH = """
UPDATE skillexec_claims AS c SET state = 'done', lease_until = NULL
FROM unnest(%s::text[], %s::bigint[]) AS t(id, fence)
WHERE c.task_id = t.id AND c.fence = t.fence AND c.state = 'running' RETURNING c.task_id
"""
_RELEASE = """
UPDATE skillexec_claims SET state = 'queued', fence = fence + 1, worker_id = NULL,
    lease_until = NULL, published_at = now()
WHERE task_id = %s AND fence = %s AND state = 'running' RETURNING queue
"""
_HAND_BACK = """
UPDATE skillexec_claims SET state = 'queued', fence = fence + 1, worker_id = NULL,
    lease_until = NULL, published_at = now(), handed_back = handed_back + 1
WHERE task_id = %s AND fence = %s AND state = 'running' AND handed_back < %s
RETURNING handed_back, queue
"""
BEAT = """
INSERT INTO skillexec_workers (worker_id, hostname, pid, queues, stopping)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (worker_id) DO UPDATE SET seen_at = now(), stopping = EXCLUDED.stopping
"""
# Returns what it renewed: a held claim missing there is no longer this worker's.
RENEW = """
UPDATE skillexec_claims SET lease_until = now() + make_interval(secs => %s)
WHERE worker_id = %s AND state = 'running' AND task_id = ANY(%s) RETURNING task_id
"""
# A claim this worker lost (its lease ran out) that nobody has taken since: taken back.
_RETAKE = """
UPDATE skillexec_claims SET fence = fence + 1, state = 'running', worker_id = %s,
    lease_until = now() + make_interval(secs => %s), claimed_at = now()
WHERE task_id = %s AND state = 'queued' RETURNING fence
"""
@dataclass(frozen=True, slots=True)
class Claim:
    task_id: str
    fence: int


class Ledger:
    """Claims and leases of one node, over a small connection pool."""

    def __init__(self, url: str, *, worker_id: str, lease_s: float, pool_size: int = 4) -> None:
        self.url = url
        self.worker_id = worker_id
        self.lease_s = lease_s
        # Claims and fence checks commit without waiting for their WAL flush (claim() and
        # finish() say why that is safe), set once per connection so that each is one
        # statement, one round trip; what must be durable says so in its transaction.
        self._pool = AsyncConnectionPool(url, min_size=1, max_size=pool_size, open=False,
                                         kwargs={"autocommit": True,
                                                 "options": "-c synchronous_commit=off"})
        self._claims: Batch[tuple[str, bool, int, str], int | None] = Batch(self._claim_many)
        self._finishes: Batch[Claim, bool] = Batch(self._finish_many)
        self._requests: Batch[tuple[str, str], tuple[Any, ...] | None] = Batch(
            self._claim_requests)

    async def open(self, *, migrate: bool = True) -> None:
        await reachable(self.url, wait_s=_OPEN_S)
        try:
            await self._pool.open(wait=True, timeout=_OPEN_S)
            if migrate:
                await self.migrate()
        except (psycopg.Error, TimeoutError, OSError) as exc:
            await self._pool.close()
            raise unavailable(exc) from exc
        except BaseException:
            await self._pool.close()
            raise

    async def close(self) -> None:
        await self._pool.close()

    async def migrate(self) -> int:
        """Apply the migrations not yet applied; the schema version after."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(DURABLE)
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS skillexec_ledger_version "
                               "(version integer PRIMARY KEY, applied_at timestamptz "
                               "NOT NULL DEFAULT now())")
            cur = await conn.execute("SELECT coalesce(max(version), 0) "
                                     "FROM skillexec_ledger_version")
            row = await cur.fetchone()
            done = int(row[0]) if row else 0
            if done > len(MIGRATIONS):  # a newer skillexec's: what it changed, this misreads
                raise ConfigError(f"the distributed ledger's schema is version {done}, newer "
                                  f"than this skillexec knows ({len(MIGRATIONS)}): a node runs "
                                  "a newer skillexec; upgrade this one", code="ledger_schema_newer")
            for version, sql in enumerate(MIGRATIONS[done:], start=done + 1):
                await conn.execute(sql)
                await conn.execute("INSERT INTO skillexec_ledger_version(version) "
                                   "VALUES (%s)", (version,))
            return len(MIGRATIONS)

    async def schema_version(self) -> int | None:
        """The schema version applied, read only (None: no worker made the tables yet)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT to_regclass('skillexec_ledger_version')")
            row = await cur.fetchone()
            if row is None or row[0] is None:
                return None
            cur = await conn.execute("SELECT coalesce(max(version), 0) "
                                     "FROM skillexec_ledger_version")
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, args)
                return await cur.fetchone()
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    async def claim(self, task_id: str, *, idempotent: bool, priority: int,
                    queue: str) -> Claim | None:
        """Take the task, fenced; None if another holds it or it has ended.

        The claims this node asks for while one is on the wire go together in one
        statement. Committed without waiting for its WAL flush (one fsync less per task):
        the row lock decides between concurrent claimers all the same, and a claim lost to a
        PostgreSQL crash can only let a task be claimed again, which is harmless for an
        idempotent task, and for a non-idempotent one the journal already says it started
        (its start is written durably before the skill runs), so the next claimer ends it
        ``interrupted`` instead of running it (WorkerNode.handle)."""
        try:
            fence = await self._claims.ask((task_id, idempotent, priority, queue))
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc
        return None if fence is None else Claim(task_id, fence)

    async def _claim_many(self, asks: list[tuple[str, bool, int, str]]) -> list[int | None]:
        first: dict[str, tuple[str, bool, int, str]] = {}
        for ask in asks:  # the same id twice (a message delivered twice): one may win
            first.setdefault(ask[0], ask)
        rows = list(first.values())
        async with self._pool.connection() as conn:
            cur = await conn.execute(_CLAIM, (
                self.worker_id, self.lease_s, [r[0] for r in rows], [r[1] for r in rows],
                [r[2] for r in rows], [r[3] for r in rows]))
            won = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        answers: list[int | None] = []
        for ask in asks:
            answers.append(won.pop(ask[0], None))  # a repeated id's later asks get None
        return answers

    async def claim_request(self, task_id: str, *,
                            queue: str) -> tuple[Claim, tuple[Any, ...]] | None:
        """As ``claim``, for a journal in this database: the claim and the task's row
        (``STORED_COLUMNS``) in one statement; None if it is not to be run here (no such
        task, ended, or held by another)."""
        try:
            row = await self._requests.ask((task_id, queue))
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc
        return None if row is None else (Claim(task_id, int(row[0])), row[1:])

    async def _claim_requests(self, asks: list[tuple[str, str]],
                              ) -> list[tuple[Any, ...] | None]:
        won: dict[str, tuple[Any, ...]] = {}
        for queue in dict.fromkeys(q for _, q in asks):
            ids = sorted({t for t, q in asks if q == queue})
            async with self._pool.connection() as conn:
                cur = await conn.execute(CLAIM_REQUEST, (self.worker_id, queue, self.lease_s,
                                                          ids))
                won.update((str(r[1]), tuple(r)) for r in await cur.fetchall())
        # The same id twice (a message delivered twice): one ask wins, the others get None.
        return [won.pop(task_id, None) for task_id, _ in asks]

    async def finish(self, claim: Claim) -> bool:
        """The fence check before a terminal write: True only for the current holder.

        The checks this node makes while one is on the wire go together in one statement.
        Committed without waiting for its WAL flush: the row lock and the fence check are
        what exclude a zombie, and if PostgreSQL crashed and lost this commit the claim
        would read ``running`` again, which the reaper settles against the journal's
        durable terminal row (a re-claim finds the task ended; ``interrupted`` loses to the
        guarded write). It saves one fsync per task."""
        try:
            return await self._finishes.ask(claim)
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    async def _finish_many(self, claims: list[Claim]) -> list[bool]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_FINISH, ([c.task_id for c in claims],
                                               [c.fence for c in claims]))
            ended = {str(r[0]) for r in await cur.fetchall()}
        return [c.task_id in ended for c in claims]

    @property
    def round_trips(self) -> tuple[int, int]:
        """(statements, claims and checks they held) of the batched claims and finishes."""
        return (self._claims.round_trips + self._finishes.round_trips
                + self._requests.round_trips,
                self._claims.items + self._finishes.items + self._requests.items)

    async def release(self, claim: Claim) -> str | None:
        """Hand a claim back (shutdown): queued again under a new fence; the queue to
        publish it on (the task's), or None (the claim was no longer ours)."""
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(DURABLE)
                cur = await conn.execute(_RELEASE, (claim.task_id, claim.fence))
                row = await cur.fetchone()
                return None if row is None else str(row[0])
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    async def hand_back(self, claim: Claim, *, most: int) -> tuple[int, str] | None:
        """Give back a claim whose task did not start here: queued again under a new fence,
        as ``release``, unless it was given back ``most`` times already; how many times it
        has been, and the queue to publish it on (None: not given back, the bound reached
        or the claim no longer ours)."""
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(DURABLE)
                cur = await conn.execute(_HAND_BACK, (claim.task_id, claim.fence, most))
                row = await cur.fetchone()
                return None if row is None else (int(row[0]), str(row[1]))
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    async def heartbeat(self, *, hostname: str, pid: int, queues: str,
                        held: Collection[str], stopping: bool = False) -> None:
        """This worker is alive: its row seen now, and the leases of the claims it holds
        (``held``: task ids) renewed. Only those: a claim the ledger gave this worker but
        whose answer never reached it (a connection lost on the way back) is held by
        nobody; renewed with the rest, it would stay running until the worker died, its
        task never run. Left alone, its lease runs out and the reaper takes it back."""
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(DURABLE)
                await conn.execute(BEAT, (self.worker_id, hostname, pid, queues, stopping))
                await conn.execute(RENEW, (self.lease_s, self.worker_id, list(held)))
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    async def renewed(self, claims: Collection[Claim]) -> set[str]:
        """Renew these claims' leases now; the ids still this worker's (a claim whose
        answer came late, its lease maybe run out meanwhile)."""
        if not claims:
            return set()
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(RENEW, (self.lease_s, self.worker_id,
                                                 [c.task_id for c in claims]))
                return {str(r[0]) for r in await cur.fetchall()}
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    async def retake(self, task_id: str) -> Claim | None:
        """Take back a claim this worker lost (its lease ran out: the reaper queued the task
        again) if nobody has claimed it since; the new claim, or None."""
        row = await self._one(_RETAKE, (self.worker_id, self.lease_s, task_id))
        return None if row is None else Claim(task_id, int(row[0]))

    async def sweep(self, candidates: list[Candidate], *, reconcile_after_s: float,
                    unstarted: NeverStarted | None = None) -> Swept:
        """As the leader (else nothing): the reaper and the reconciler (``reaping``);
        ``unstarted``: which of some task ids the journal holds as never started."""
        try:
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                         (_SWEEP_LOCK,))
                row = await cur.fetchone()
                if not row or not row[0]:
                    return Swept([], [], set())
                await conn.execute(DURABLE)
                return await sweep_in(conn, candidates, lease_s=self.lease_s,
                                      reconcile_after_s=reconcile_after_s,
                                      unstarted=unstarted)
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    async def state(self, task_id: str) -> tuple[str, int] | None:
        """(state, fence) of a task's claim, or None (never claimed)."""
        row = await self._one("SELECT state, fence FROM skillexec_claims WHERE task_id = %s",
                              (task_id,))
        return None if row is None else (str(row[0]), int(row[1]))

    async def ping(self) -> None:
        await self._one("SELECT 1", ())


def unavailable(exc: BaseException) -> ResourceError:
    """The error of a statement that failed: the database out of reach (a lost connection,
    a server going down: worth trying again), or refusing what it was given (a value it
    cannot hold: the same statement fails every time)."""
    if isinstance(exc, psycopg.Error) and not isinstance(
            exc, psycopg.OperationalError | psycopg.InterfaceError):
        said = " ".join(str(exc).split())
        return ResourceError(f"the distributed ledger (PostgreSQL) refused it: {said}",
                             code="ledger_refused", retryable=False)
    return ResourceError(f"the distributed ledger (PostgreSQL) is unavailable: {exc}",
                         code="ledger_unavailable", retryable=True)
