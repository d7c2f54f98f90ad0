"""The audit log (``engine.audit``): who did what to which task, key or setting, and how it
ended, in a hash chain written with the journal's own group commit (DESIGN §4.5).

Records are queued with the task write they belong to (no commit of their own); every
``checkpoint_every`` records, and at close, the chain's head is signed into a file outside
the journal (:mod:`skillexec.security.audit_checkpoints`). ``verify`` streams the chain and
matches the checkpoints (:mod:`skillexec.security.audit_verify`).

Records by no one (principal ``""``: a failed authentication) are the ones a client without
a key can make, as many as it sends requests: past ``ANONYMOUS_PER_WINDOW`` of them in a
``ANONYMOUS_WINDOW_S`` window they are counted instead of written, and one record per action
and outcome sums them up when the window ends (``details.count``, the reasons, the clients
and targets seen most). The chain keeps growing with time, never with a flood.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

import orjson

from skillexec.errors import SkillExecError
from skillexec.security.audit_chain import AuditEntry, AuditRow, records
from skillexec.security.audit_checkpoints import CheckpointFile
from skillexec.security.audit_verify import VerifyReport, verify_chain
from skillexec.security.principals import LOCAL_ID, Principal

__all__ = ["ANONYMOUS_PER_WINDOW", "ANONYMOUS_WINDOW_S", "CLIENT", "REQUEST_ID", "AuditLog",
           "AuditStore", "VerifyReport"]

log = logging.getLogger("skillexec.audit")

ANONYMOUS_PER_WINDOW = 100  # records by no one written as they are, per window
ANONYMOUS_WINDOW_S = 60.0
_TALLIED = 1000  # distinct reasons, clients or targets counted per summary (then "other")
_SHOWN = 10  # of which a summary names the most frequent


class AuditStore(Protocol):
    def audit_append(self, entry: AuditEntry) -> Awaitable[None]: ...

    async def audit_head(self) -> tuple[int, bytes] | None: ...

    async def audit_rows(self, *, after_seq: int = -1, since_us: int | None = None,
                         limit: int = 10_000) -> list[AuditRow]: ...


class _Done:
    __slots__ = ()

    def __await__(self) -> Any:
        return
        yield  # pragma: no cover


_DONE = _Done()
_new = tuple.__new__


# The request a record is made for (the HTTP service sets it for each request, and tasks
# inherit it with their context): kept in the record, so that an audit record leads to the
# access log's line for its request, and back.
REQUEST_ID: ContextVar[str | None] = ContextVar("skillexec_request_id", default=None)
# The address a request came from (the HTTP service sets it while it checks a key): kept in
# the records by no one, which have no principal to say who it was.
CLIENT: ContextVar[str | None] = ContextVar("skillexec_client", default=None)


class _Tally:
    """What the records by no one of one action and outcome held back in a window were."""

    __slots__ = ("clients", "count", "first_us", "last_us", "reasons", "targets")

    def __init__(self, ts_us: int) -> None:
        self.count = 0
        self.first_us = self.last_us = ts_us
        self.reasons: dict[str, int] = {}
        self.clients: dict[str, int] = {}
        self.targets: dict[str, int] = {}

    def add(self, entry: AuditEntry) -> None:
        self.count += 1
        self.last_us = entry.ts_us
        details = entry.details or {}
        _bump(self.reasons, details.get("reason"))
        _bump(self.clients, details.get("client"))
        _bump(self.targets, entry.target)

    def details(self) -> dict[str, Any]:
        return {"count": self.count, "first_ts": self.first_us, "last_ts": self.last_us,
                "reasons": _most(self.reasons), "clients": _most(self.clients),
                "targets": _most(self.targets)}


def _bump(counts: dict[str, int], value: Any) -> None:
    if value is None or value == "":
        return
    key = str(value) if str(value) in counts or len(counts) < _TALLIED else "other"
    counts[key] = counts.get(key, 0) + 1


def _most(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:_SHOWN])


class AuditLog:
    """``directory`` None: no checkpoints (a memory journal's chain dies with it)."""

    def __init__(self, store: AuditStore, *, directory: Path | None, enabled: bool = True,
                 checkpoint_every: int = 1000, task_submissions: bool = False,
                 journal: str | None = None) -> None:
        self.enabled = enabled
        self.task_submissions = task_submissions  # a record at acceptance too
        self._store = store
        self._append = store.audit_append
        self._file = CheckpointFile(directory, journal=journal) \
            if directory is not None else None
        self._every = checkpoint_every
        self._since_checkpoint = 0
        self._signing: asyncio.Task[None] | None = None
        self._signed: int | None = None  # seq of the last checkpoint written here
        self._last: Awaitable[None] = _DONE  # the newest record's write
        # Records by no one: the window's start (monotonic), how many were written in it,
        # those held back (by action and outcome), and the timer that sums them up.
        self._anon_since = time.monotonic()
        self._anon_written = 0
        self._anon_held: dict[tuple[str, str], _Tally] = {}
        self._anon_timer: asyncio.TimerHandle | None = None

    def record(self, action: str, *, principal: str | Principal | None = None,
               target: str = "", outcome: str = "ok",
               details: Mapping[str, Any] | None = None) -> Awaitable[None]:
        """Add a record (durable with the journal's next group commit: await to know it is).

        ``principal``: who acted (None: ``local``; "" for no one, e.g. a failed
        authentication). ``details``: small and never secret (no parameters, outputs or
        keys): it is kept for as long as the audit log.
        """
        if not self.enabled:
            return _DONE
        if (request_id := REQUEST_ID.get()) is not None:
            details = {**(details or {}), "request_id": request_id}
        who = principal if principal.__class__ is str else LOCAL_ID if principal is None \
            else principal.id if isinstance(principal, Principal) else principal
        if who == "" and (client := CLIENT.get()) is not None:
            details = {**(details or {}), "client": client}
        # tuple.__new__: the entry without the NamedTuple's Python-level __new__
        entry = _new(AuditEntry, (int(time.time() * 1_000_000), who, action, target, outcome,
                                  details))
        return self._anonymous(entry) if who == "" else self._queue(entry)

    def _anonymous(self, entry: AuditEntry) -> Awaitable[None]:
        """A record by no one: written while its window has room, else counted."""
        if time.monotonic() - self._anon_since >= ANONYMOUS_WINDOW_S:
            self._sum_up()
        if self._anon_written < ANONYMOUS_PER_WINDOW:
            self._anon_written += 1
            return self._queue(entry)
        key = (entry.action, entry.outcome)
        if (tally := self._anon_held.get(key)) is None:
            tally = self._anon_held[key] = _Tally(entry.ts_us)
        tally.add(entry)
        if self._anon_timer is None:  # summed up when the window ends, if nothing else came
            left = ANONYMOUS_WINDOW_S - (time.monotonic() - self._anon_since)
            self._anon_timer = asyncio.get_running_loop().call_later(max(0.0, left),
                                                                     self._sum_up)
        return _DONE

    def _sum_up(self) -> None:
        """End the window of records by no one: one record for each kind held back."""
        if self._anon_timer is not None:
            self._anon_timer.cancel()
            self._anon_timer = None
        held, self._anon_held = self._anon_held, {}
        self._anon_since, self._anon_written = time.monotonic(), 0
        for (action, outcome), tally in held.items():
            self._queue(_new(AuditEntry, (int(time.time() * 1_000_000), "", action, "",
                                          outcome, tally.details())))

    def task(self, action: str, principal: str | None, target: str, outcome: str,
             details: dict[str, Any]) -> None:
        """``record`` for the engine's records of a task (once per task: its hot path):
        positional, ``principal`` a task's (None: ``local``), ``details`` a dict of its own
        (extended here). The caller checks ``enabled``."""
        if (request_id := REQUEST_ID.get()) is not None:
            details["request_id"] = request_id
        self._queue(_new(AuditEntry, (int(time.time() * 1_000_000),
                                      LOCAL_ID if principal is None else principal, action,
                                      target, outcome, details)))

    def _queue(self, entry: AuditEntry) -> Awaitable[None]:
        done = self._last = self._append(entry)
        if self._file is not None:
            self._since_checkpoint += 1
            if self._since_checkpoint >= self._every and self._signing is None:
                self._since_checkpoint = 0
                self._signing = asyncio.get_running_loop().create_task(self._sign(done))
        return done

    async def _sign(self, written: Awaitable[None]) -> None:
        try:
            await written
            await self.checkpoint()
        except Exception:  # the journal's failure is reported where it was written
            log.exception("the audit checkpoint could not be written")
        finally:
            self._signing = None

    async def checkpoint(self) -> int | None:
        """Sign the chain's head now; its seq (None: nothing to sign, or no checkpoints)."""
        if self._file is None:
            return None
        try:
            await self._last  # what was recorded before this call is in the chain
        except Exception:  # its writer was told; sign what the journal holds
            pass
        head = await self._store.audit_head()
        if head is None or head[0] == self._signed:
            return None
        await asyncio.to_thread(self._file.write, head[0], head[1])
        self._signed = head[0]
        return head[0]

    async def close(self) -> None:
        """At shutdown: the head is signed (after the last records are durable)."""
        if self._anon_held:  # what a flood left uncounted in the chain goes in first
            self._sum_up()
        if self._signing is not None:
            await asyncio.gather(self._signing, return_exceptions=True)
        if self.enabled:
            try:
                await self.checkpoint()
            except SkillExecError as exc:  # its key's mode, say: one sentence, no traceback
                log.error("the audit checkpoint could not be written at shutdown: %s", exc)
            except Exception:  # the engine must still close its journal; verify will say
                log.exception("the audit checkpoint could not be written at shutdown")

    async def verify(self) -> VerifyReport:
        checkpoints = list(self._file.read()) if self._file is not None else []
        return await verify_chain(self._store, checkpoints)

    async def newest(self, *, since: float | None = None, limit: int = 1000,
                     before: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
        """The newest ``limit`` records (as stored, parsed) newest first, since ``since``
        (seconds since the epoch) and below seq ``before`` (the previous page's cursor),
        and the cursor of the page before them (None: there is none, or it is older than
        ``since``).

        Records are numbered without gaps, so the page is the seqs just below ``before``,
        read in one forward query from its first (a row holds up to GROUP_MAX records: the
        first row read may start below it)."""
        head = await self._store.audit_head()
        if head is None:
            return [], None
        top = head[0] + 1 if before is None else min(before, head[0] + 1)
        if top <= 0:
            return [], None
        low = max(0, top - limit)
        out: list[dict[str, Any]] = []
        after = low - 1
        while True:
            rows = await self._store.audit_rows(after_seq=after, limit=top - low + 1)
            for r in rows:
                out.extend(d for d in map(orjson.loads, records(r.body))
                           if low <= d["seq"] < top)
            if not rows or rows[-1].seq >= top - 1:
                break
            after = rows[-1].seq
        out.reverse()
        since_us = None if since is None else int(since * 1_000_000)
        recent = [d for d in out if since_us is None or d["ts"] >= since_us]
        # Older pages only while this one did not reach records older than since.
        return recent, low if low > 0 and len(recent) == len(out) else None

    async def read(self, *, since: float | None = None, limit: int = 1000,
                   ) -> list[dict[str, Any]]:
        """Records (as stored, parsed), oldest first; ``since``: seconds since the epoch."""
        since_us = None if since is None else int(since * 1_000_000)
        out: list[dict[str, Any]] = []
        after = -1
        while len(out) < limit:  # a row holds one or more records (a group commit's)
            rows = await self._store.audit_rows(after_seq=after, since_us=since_us,
                                                limit=limit)
            for r in rows:
                out.extend(d for d in map(orjson.loads, records(r.body))
                           if since_us is None or d["ts"] >= since_us)
            if len(rows) < limit:
                break
            after = rows[-1].seq
        return out[:limit]
