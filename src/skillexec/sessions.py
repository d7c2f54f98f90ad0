"""Sessions: a workspace that persists across script calls (DESIGN §3.5).

An agent works in steps (extract a form's fields, then fill them): the calls of one session
share a folder, ``<work_root>/.sessions/<id>/``, which is the workspace (cwd) of each. Its
record (created, TTL, last use) is a small JSON file under ``<data_dir>/sessions/`` — out
of the sandbox's reach — so sessions survive an engine restart. A session is removed once
its TTL has passed since its last use (checked whenever sessions are used, and at start).

Calls in one session run one at a time, in submit order (a FIFO lock per session, held
from acceptance to the end); the session's quotas (bytes, files) bound its folder, checked
while a call runs and after it.

A session belongs to the principal who created it (kept in its record; a record from before
principals is ``local``'s). To another principal it does not exist: the very error an
unknown id gets, so an id is never confirmed. Reading and listing follow a task's rules
(``read_any``: admin, operator), closing follows cancelling (``cancel_any``); running a
call in it — acting in its owner's workspace — is its owner's only (by id: a task keeps its
principal's id, not its role, and the sandbox checks again at the call's start).
``principal`` None (``local``) is the engine's own trusted caller: no check, as for tasks.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from skillexec import _session_folder as folder
from skillexec import _session_locks as locks
from skillexec import _session_records as record
from skillexec._session_info import SessionInfo
from skillexec.errors import ParameterError, ResourceError
from skillexec.runtime.workspace import remove_tree
from skillexec.security.principals import LOCAL, LOCAL_ID, Who, principal_of

__all__ = ["SessionInfo", "SessionStore", "SessionsConfig"]


class SessionsConfig(BaseModel):
    """The ``sessions`` section of the settings tree."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    default_ttl_s: float = Field(default=3600.0, gt=0, description="A session is removed "
                                 "this long after its last use, unless created with a TTL.")
    max_ttl_s: float = Field(default=86400.0, gt=0, description="Longest TTL a session may "
                             "be created with.")
    max_bytes: int = Field(default=256 << 20, ge=1 << 20,
                           description="Bytes a session's workspace may hold.")
    max_files: int = Field(default=10_000, ge=1,
                           description="Files and folders a session's workspace may hold.")
    max_sessions: int = Field(default=1000, ge=1, description="Sessions open at once, of "
                              "all principals together.")
    max_sessions_per_principal: int = Field(
        default=100, ge=1, description="Sessions one principal may have open at once (so "
        "that one cannot take all of max_sessions from the others).")


class SessionStore:
    """``engine.sessions``: create, list, inspect and close sessions."""

    def __init__(self, *, root: Path, records: Path, settings: SessionsConfig) -> None:
        self.root = root  # the sessions' folders (inside the work root: the sandbox's side)
        self.records = records  # their records (inside the data dir: the engine's side)
        self.settings = settings
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # calls holding or awaiting each session's lock
        self._closing: set[str] = set()  # closed while calls held or awaited them
        self._creating = asyncio.Lock()  # acreate: one count-and-create at a time

    # -- the public calls ----------------------------------------------------------------
    def create(self, *, ttl_s: float | None = None, principal: Who = None) -> str:
        """A new, empty session of ``principal`` (None: ``local``); removed ``ttl_s`` after
        its last use (the setting's default when None; at most ``max_ttl_s``)."""
        owner = principal_of(principal).id  # an empty or odd principal is refused here
        s = self.settings
        ttl = s.default_ttl_s if ttl_s is None else float(ttl_s)
        if not 0 < ttl <= s.max_ttl_s:
            raise ParameterError(f"a session's ttl_s must be over 0 and at most "
                                 f"{s.max_ttl_s:g} seconds (got {ttl_s})",
                                 code="invalid_session_ttl")
        self.sweep()
        with locks.creating(self.records):  # the count holds until the record is written
            ids = record.ids(self.records)
            if len(ids) >= s.max_sessions:
                raise ResourceError(f"{s.max_sessions} sessions are open already (the "
                                    "sessions.max_sessions setting); close one first",
                                    code="too_many_sessions", retryable=True,
                                    details={"limit": s.max_sessions,
                                             "setting": "sessions.max_sessions"})
            mine = sum(1 for sid in ids if (rec := record.read(self.records, sid)) is not None
                       and _owner(rec) == owner)
            if mine >= s.max_sessions_per_principal:
                raise ResourceError(f"principal {owner!r} has {mine} sessions open already, its "
                                    f"most (the sessions.max_sessions_per_principal setting: "
                                    f"{s.max_sessions_per_principal}); close one first",
                                    code="too_many_principal_sessions", retryable=True,
                                    details={"limit": s.max_sessions_per_principal,
                                             "setting": "sessions.max_sessions_per_principal"})
            sid = "s_" + secrets.token_hex(12)
            now = time.time()
            # The record first: a folder without one is a closed session's, which a sweep (of
            # any process) removes.
            record.write(self.records, sid, {"created_at": now, "last_used_at": now,
                                              "ttl_s": ttl, "principal": owner})
        self.root.mkdir(parents=True, exist_ok=True)
        # Traversable by the skills' uids, listed by none: a session's id is the way into
        # its folder (0700, its uid's), and a skill of another engine given that uid later
        # could read it (the work root is in /var/tmp, beside other data dirs').
        os.chmod(self.root, 0o711)  # noqa: S103
        os.mkdir(self.root / sid, 0o700)
        return sid

    def list(self, *, principal: Who = None) -> builtins.list[SessionInfo]:
        """The open sessions ``principal`` may see (its own; all with ``read_any``), oldest
        first."""
        self.sweep()
        who = None if principal is None else principal_of(principal)
        only = None if who is None or who.can("read_any") else who.id
        # Whose each is, from its record, before its folder is walked: another principal's
        # sessions (a thousand of ten thousand files each) cost a listing nothing.
        out = [info for sid in record.ids(self.records)
               if (rec := record.read(self.records, sid)) is not None
               and (only is None or _owner(rec) == only)
               and (info := self._info(sid, rec)) is not None]
        return sorted(out, key=lambda i: i.created_at)

    def get(self, session_id: str, *, principal: Who = None) -> SessionInfo:
        """One session (``session_not_found`` when unknown, closed, expired or another
        principal's)."""
        self._open(session_id, principal, "read")
        info = self._info(session_id)
        if info is None:
            raise self._not_found(session_id)
        return info

    def files(self, session_id: str, *, principal: Who = None,
              ) -> builtins.list[dict[str, Any]]:
        """The regular files in a session's folder (hidden ones too; no folder, no link):
        ``{path, size, mtime}``, by path. :meth:`get`'s ``files`` and ``bytes`` count them."""
        return folder.listing(str(self._open(session_id, principal, "read")))

    def close(self, session_id: str, *, principal: Who = None) -> bool:
        """Remove a session and its files; False if there was no such session (or it is
        another principal's, which ``principal`` may not close)."""
        if not self._closable(session_id, principal):
            return False
        self._remove(session_id)
        return True

    # -- the same, off the event loop -----------------------------------------------------
    # A session may hold thousands of files: walking or removing its folder on the engine's
    # event loop stalled every other call meanwhile. What decides (the record, whether a
    # call uses it) stays on the loop; the walk or the removal goes to a thread. A call
    # that gets its turn after the record went is refused, so none runs in a folder being
    # removed.

    async def acreate(self, *, ttl_s: float | None = None, principal: Who = None) -> str:
        """:meth:`create`, its sweep and count off the loop (one create at a time in this
        process waits for the count's lock, so that no other thread waits for it)."""
        async with self._creating:
            return await asyncio.to_thread(self.create, ttl_s=ttl_s, principal=principal)

    async def alist(self, *, principal: Who = None) -> builtins.list[SessionInfo]:
        """:meth:`list`, its sweep and its walk of each session's folder off the loop."""
        return await asyncio.to_thread(self.list, principal=principal)

    async def aget(self, session_id: str, *, principal: Who = None,
                   ) -> tuple[SessionInfo, builtins.list[dict[str, Any]]]:
        """:meth:`get` and :meth:`files` together, off the loop."""
        def read() -> tuple[SessionInfo, builtins.list[dict[str, Any]]]:
            return (self.get(session_id, principal=principal),
                    self.files(session_id, principal=principal))
        return await asyncio.to_thread(read)

    async def aclose(self, session_id: str, *, principal: Who = None) -> bool:
        """:meth:`close`, the folder's removal off the loop."""
        if not self._closable(session_id, principal):
            return False
        if self._unlist(session_id):
            await asyncio.to_thread(self._erase, session_id)
        return True

    async def aclose_all(self, *, principal: str | None, everyone: bool = False,
                         before: float | None = None) -> int:
        """Close the sessions of ``principal`` (None: ``local``'s; every principal's with
        ``everyone``), only those last used before ``before`` when given: a purge of a
        principal's data. Its sessions' folders hold files its calls were given or made,
        never encrypted, which lived on, listed as its, until their TTL passed. How many."""
        owner = LOCAL_ID if principal is None else principal
        chosen = [sid for sid in record.ids(self.records)
                  if (rec := record.read(self.records, sid)) is not None
                  and (everyone or _owner(rec) == owner)
                  and (before is None or rec["last_used_at"] < before)]
        free = [sid for sid in chosen if self._unlist(sid)]  # in use: gone with its call
        for sid in free:
            await asyncio.to_thread(self._erase, sid)
        return len(chosen)

    def remove(self, session_id: str, *, principal: Who = None) -> None:
        """:meth:`close`, refused as :meth:`get` refuses (``invalid_session_id``,
        ``session_not_found``): the command line words an unknown id one way."""
        self._open(session_id, principal, "close")
        if not self.close(session_id, principal=principal):  # closed meanwhile
            raise self._not_found(session_id)

    # -- for the engine ------------------------------------------------------------------
    @property
    def quota(self) -> tuple[int, int]:
        """A session folder's quota: (files and folders, bytes)."""
        return self.settings.max_files, self.settings.max_bytes

    def path(self, session_id: str, *, principal: Who = None) -> Path:
        """The folder of an open session that ``principal`` may run calls in (refused
        clearly when it is not one; as unknown when it is another principal's)."""
        return self._open(session_id, principal, "use")

    def used(self, session_id: str) -> None:
        """Mark a use of the session (a call in it ended): its TTL runs from now."""
        if record.SESSION_ID.match(session_id):
            record.touch(self.records, session_id)

    def _open(self, session_id: str, principal: Who, action: str) -> Path:
        _check_id(session_id)
        rec = record.read(self.records, session_id)
        if rec is None or not (self.root / session_id).is_dir() \
                or not self._allowed(rec, principal, action):
            raise self._not_found(session_id)
        # Expired unless a call runs in it now: a call of this process that only holds or
        # awaits its turn does not count (a call's own turn kept the session it came to
        # alive, and ran it, however long its TTL had passed).
        if time.time() > rec["last_used_at"] + rec["ttl_s"] and not self._running(session_id):
            self._remove(session_id)
            raise self._not_found(session_id, expired=True)
        return self.root / session_id

    @contextlib.asynccontextmanager
    async def turn(self, session_id: str, *, principal: Who = None) -> AsyncIterator[Path]:
        """Hold the session for one call: calls wait their turn in the order they came. A
        session that is not open (or not ``principal``'s) is refused before the call waits,
        and again once its turn has come (closed or expired meanwhile)."""
        _check_id(session_id)
        held = self._locks.get(session_id)
        if held is not None and held.locked():
            # it would wait: refused now rather than after the wait
            self.path(session_id, principal=principal)
        lock = self._locks.setdefault(session_id, asyncio.Lock())  # FIFO waiters
        closed = False
        self._users[session_id] = self._users.get(session_id, 0) + 1
        try:
            async with lock:
                # not open (any more), or not this principal's: refused
                path = self.path(session_id, principal=principal)
                # in use, for other processes' sweeps too
                flock_fd = locks.hold(self.records, session_id)
                try:
                    yield path
                finally:
                    closed = not record.touch(self.records, session_id)
                    os.close(flock_fd)
        finally:
            left = self._users[session_id] = self._users.get(session_id, 1) - 1
            if closed:  # by another process: this process's calls that wait are refused
                self._closing.add(session_id)
            if left <= 0:
                self._users.pop(session_id, None)
                if self._locks.get(session_id) is lock:
                    del self._locks[session_id]
                if session_id in self._closing:  # closed while in use: gone with its last call
                    self._closing.discard(session_id)
                    await asyncio.to_thread(self._remove, session_id)

    def sweep(self) -> int:
        """Remove the sessions whose TTL has passed; how many were removed."""
        now, gone = time.time(), 0
        for sid in record.ids(self.records):
            rec = record.read(self.records, sid)
            expired = rec is None or now > rec["last_used_at"] + rec["ttl_s"]
            if expired and not self._in_use(sid):  # one in use is kept until its call ends
                self._remove(sid)
                gone += 1
        # A folder whose record is gone: a session closed while a call of another process
        # (or a killed one) ran in it.
        with contextlib.suppress(FileNotFoundError):
            for sid in os.listdir(self.root):
                if record.SESSION_ID.match(sid) and not (self.records / f"{sid}.json").exists() \
                        and not self._in_use(sid):
                    self._remove(sid)
        return gone

    # -- records -------------------------------------------------------------------------
    @staticmethod
    def _allowed(rec: dict[str, Any], principal: Who, action: str) -> bool:
        """May ``principal`` (None: the trusted caller) read, use or close this session?"""
        if principal is None:
            return True
        who = principal_of(principal)
        owner = _owner(rec)
        if action == "read":
            return who.may_read_task(owner)
        if action == "close":
            return who.may_cancel_task(owner)
        return owner == who.id or who is LOCAL  # use: the owner's workspace

    def _info(self, sid: str, rec: dict[str, Any] | None = None) -> SessionInfo | None:
        rec = record.read(self.records, sid) if rec is None else rec
        if rec is None:
            return None
        files, size, entries, made = folder.usage(str(self.root / sid))
        return SessionInfo(id=sid, created_at=rec["created_at"],
                           last_used_at=rec["last_used_at"], ttl_s=rec["ttl_s"],
                           files=files, bytes=size, principal=_owner(rec), entries=entries,
                           made=made)

    def _in_use(self, sid: str) -> bool:
        """A call of this process holds or awaits it, or one of another process runs in it
        (its lock file is locked)."""
        return sid in self._locks or self._running(sid)

    def _running(self, sid: str) -> bool:
        """A call runs in it, of this process or another (its lock file is locked)."""
        return locks.running(self.records, sid, self.root / sid)

    def _closable(self, session_id: object, principal: Who) -> bool:
        """Whether ``session_id`` names an open session ``principal`` may close."""
        if not isinstance(session_id, str) or not record.SESSION_ID.match(session_id):
            return False
        rec = record.read(self.records, session_id)
        return rec is not None and self._allowed(rec, principal, "close")

    def _remove(self, sid: str) -> None:
        """Close a session: its record goes now (no call gets in any more); its folder and
        lock file too unless a call runs in it, whose end removes them (see :meth:`turn`;
        one of another process: :meth:`sweep`). Removed under a call, the folder lost the
        call's files, and was often left behind for good as the script made more."""
        if self._unlist(sid):
            self._erase(sid)

    def _unlist(self, sid: str) -> bool:
        """The first half of :meth:`_remove`: the record goes; True when no call uses the
        session, so its folder may go now (else the end of the call that does removes it)."""
        with contextlib.suppress(FileNotFoundError):
            (self.records / f"{sid}.json").unlink()
        if self._in_use(sid):
            if sid in self._locks:
                self._closing.add(sid)
            return False
        return True

    def _erase(self, sid: str) -> None:
        """The second half of :meth:`_remove`: the folder (maybe large) and the lock file."""
        path = self.root / sid
        with locks.removing(path) as free:
            if not free:  # a call started in it (a direct one): the next sweep removes it
                return
            if path.is_dir():
                with contextlib.suppress(OSError):  # whatever a script made there
                    remove_tree(str(path))
        with contextlib.suppress(FileNotFoundError):
            (self.records / f"{sid}.lock").unlink()

    @staticmethod
    def _not_found(sid: str, *, expired: bool = False) -> ParameterError:
        why = "its TTL has passed" if expired else "it was closed, or never existed"
        return ParameterError(f"session {sid!r} is not open ({why})",
                              code="session_not_found", details={"session": sid})


def _check_id(session_id: object) -> None:
    if not isinstance(session_id, str) or not record.SESSION_ID.match(session_id):
        raise ParameterError(f"{session_id!r} is not a session id (they look like "
                             "s_ and 24 hex digits)", code="invalid_session_id")


def _owner(rec: dict[str, Any]) -> str:
    """Whose the session is (a record from before principals: ``local``'s)."""
    return str(rec.get("principal") or LOCAL_ID)
