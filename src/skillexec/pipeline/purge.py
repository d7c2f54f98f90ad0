"""Privacy: a principal's data purged on request, and everyone's old data on a schedule.

A purge erases, in the journal, the payloads of the finished tasks it selects (their
parameters, config, outputs, error text, history), the records and events about their
artifacts and failures, and the cached results of their skills; the artifact files no
record refers to any more are deleted, and the principal's sessions (last used before the
cutoff, with one) are closed, their folders removed. With encryption, purging a
principal's whole data (no ``before``) also destroys its data key, which makes every
remaining copy of its ciphertexts (a backup of the journal, a file not yet deleted)
unreadable for good.

Each purge is logged and handed to ``record_audit`` when set (the audit log's recorder,
wired by whoever owns it): ``record_audit("purge", {...counts, principal, before})``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skillexec.artifacts import ArtifactManager
from skillexec.optimization.optimizer import ExecutionOptimizer
from skillexec.sessions import SessionStore
from skillexec.storage.codec import Codec, SealingCodec
from skillexec.storage.store import TaskStore

__all__ = ["PurgeOutcome", "Purger"]

log = logging.getLogger("skillexec.purge")
AuditRecorder = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class PurgeOutcome:
    principal: str | None  # None with everyone: every principal
    everyone: bool
    before: float | None
    tasks: int
    artifacts: int
    files: int
    events: int
    key_destroyed: bool
    sessions: int = 0  # closed, their folders removed

    def to_dict(self) -> dict[str, Any]:
        return {"principal": self.principal, "everyone": self.everyone,
                "before": self.before, "tasks": self.tasks, "artifacts": self.artifacts,
                "files": self.files, "events": self.events,
                "key_destroyed": self.key_destroyed, "sessions": self.sessions}


class Purger:
    def __init__(self, *, journal: TaskStore, artifacts: ArtifactManager, codec: Codec,
                 optimizer: ExecutionOptimizer, retention_days: float | None,
                 interval_s: float, record_audit: AuditRecorder | None = None,
                 sessions: SessionStore | None = None) -> None:
        self.journal = journal
        self.sessions = sessions
        self.artifacts = artifacts
        self.codec = codec
        self.optimizer = optimizer
        self.retention_days = retention_days
        self.interval_s = interval_s
        self.record_audit = record_audit

    async def purge(self, *, principal: str | None, everyone: bool = False,
                    before: float | None = None) -> PurgeOutcome:
        began = time.time()  # a file saved again since then keeps its new record's bytes
        report = await self.journal.purge(principal=principal, everyone=everyone,
                                          before=before)
        files = self.artifacts.remove_files(report.orphans, saved_before=began)
        for skill_id in report.skills:  # the in-memory copies of cached outputs too
            self.optimizer.cache.invalidate(skill_id, None)
        # Its sessions too: their folders are never encrypted, so the key's destruction
        # below does not cover them.
        closed = 0 if self.sessions is None else await self.sessions.aclose_all(
            principal=principal, everyone=everyone, before=before)
        destroyed = False
        if isinstance(self.codec, SealingCodec) and before is None and not everyone:
            destroyed = self.codec.keyring.destroy(principal)
        outcome = PurgeOutcome(principal=principal, everyone=everyone, before=before,
                               tasks=report.tasks, artifacts=report.artifacts, files=files,
                               events=report.events, key_destroyed=destroyed,
                               sessions=closed)
        log.info("purged %s: %d tasks, %d artifacts (%d files), %d events, %d sessions%s",
                 "every principal" if everyone else f"principal {principal!r}",
                 outcome.tasks, outcome.artifacts, files, outcome.events, closed,
                 ", data key destroyed" if destroyed else "")
        if self.record_audit is not None:
            try:
                self.record_audit("purge", outcome.to_dict())
            except Exception:  # the purge is done: a failed audit write must be seen
                log.exception("the purge could not be audited")
                raise
        return outcome

    async def retention_loop(self) -> None:
        """Purge every principal's tasks older than ``retention_days``, every
        ``interval_s``, for as long as the engine runs."""
        if self.retention_days is None:
            return
        while True:
            try:
                await self.purge(principal=None, everyone=True,
                                 before=time.time() - self.retention_days * 86400.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again
                log.exception("the retention purge failed")
            await asyncio.sleep(self.interval_s)
