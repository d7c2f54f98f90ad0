"""What a worker does with a delivery it can never claim, rather than requeue it at once,
forever (a hot loop that purging the queue could not stop: the message was always unacked
at some worker).

- A message naming no task id (a NUL byte, a list, a megabyte): dropped as it arrives. Task
  ids are 24 hex characters as engines make them; any id of the characters below is looked
  up (a test's, another tool's), nothing else reaches the database.
- A claim the database refuses (the same statement fails every time): dropped.
- A task this worker cannot read (its keyring is not the submitters'; an altered row): its
  claim is given back and the message dropped; the reconciler publishes it again after
  ``reconcile_after_s``, for a worker that can read it. And a worker that can read none of
  the queued tasks refuses to start (``check_keyring``), naming its keyring.
- The database out of reach: the message goes back, after a pause.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from skillexec.distributed.ledger import Claim
from skillexec.errors import ConfigError, SkillExecError
from skillexec.storage.codec import Codec
from skillexec.storage.sqlite_request import stored_task
from skillexec.storage.store import StoredTask, TaskStore

__all__ = ["REQUEUE_PAUSE_S", "Unreadable", "UnreadableTasks", "check_keyring", "decoded",
           "unreadable_error", "valid_task_id"]

log = logging.getLogger("skillexec.distributed")
REQUEUE_PAUSE_S = 1.0  # before a message goes back for a database out of reach
_TASK_ID = re.compile(r"[0-9A-Za-z_.:-]{1,128}")
# A payload this node's codec cannot open: its keyring lacks the key, or the row was altered.
_UNREADABLE = frozenset({"data_key_destroyed", "data_key_missing", "decrypt_failed",
                         "master_key_missing"})


def valid_task_id(value: object) -> bool:
    return isinstance(value, str) and _TASK_ID.fullmatch(value) is not None


def unreadable_error(exc: BaseException) -> bool:
    return isinstance(exc, SkillExecError) and exc.code in _UNREADABLE


class Unreadable(Exception):
    """A task this worker cannot read; ``claim``: the claim it took first, if any."""

    def __init__(self, task_id: str, claim: Claim | None, error: SkillExecError) -> None:
        super().__init__(str(error))
        self.task_id = task_id
        self.claim = claim
        self.error = error


def decoded(claim: Claim, row: tuple[Any, ...], codec: Codec) -> tuple[Claim, StoredTask]:
    """A claim and its task's row, read (``Unreadable`` if it cannot be)."""
    try:
        return claim, stored_task(row, codec)
    except SkillExecError as exc:
        if unreadable_error(exc):
            raise Unreadable(claim.task_id, claim, exc) from exc
        raise


class UnreadableTasks:
    """Tasks this worker could not read lately: the sweep leaves their cancellation to a
    worker that can (each try would claim and give back, every sweep)."""

    def __init__(self, forget_after_s: float) -> None:
        self.forget_after_s = forget_after_s
        self._seen: dict[str, float] = {}

    def add(self, task_id: str) -> None:
        now = time.monotonic()
        if len(self._seen) > 10_000:  # bounded: the oldest are forgotten first
            self._seen = {t: at for t, at in self._seen.items()
                          if now - at < self.forget_after_s}
        self._seen[task_id] = now

    def __contains__(self, task_id: object) -> bool:
        at = self._seen.get(task_id) if isinstance(task_id, str) else None
        return at is not None and time.monotonic() - at < self.forget_after_s


async def check_keyring(journal: TaskStore, *, sample: int = 20) -> None:
    """At a worker's start, with encryption on and a shared journal: a ConfigError if it
    cannot read any of the oldest unfinished tasks (``sample``) for want of their keys
    (its --data-dir's keyring.json is not the submitters'; made new here, it holds none of
    their keys). One it can read is enough: a purged principal's task is unreadable to all."""
    codec = getattr(journal, "codec", None)
    reconcilable = getattr(journal, "reconcilable", None)
    if not isinstance(codec, Codec) or not codec.enabled or reconcilable is None:
        return
    failed: SkillExecError | None = None
    for row in await reconcilable(before=time.time(), limit=sample):
        try:
            await journal.get_request(row.task_id)
            return
        except SkillExecError as exc:
            if not unreadable_error(exc):
                raise
            failed = failed or exc
    if failed is not None:
        keyring = getattr(getattr(codec, "keyring", None), "path", "keyring.json")
        raise ConfigError(f"this worker cannot read the journal's queued tasks ({failed}) "
                          f"with its keyring {keyring}: every node must share the "
                          "submitters' keyring.json; copy it into this worker's --data-dir",
                          code="keyring_mismatch")
