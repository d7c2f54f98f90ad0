"""OrphanFiles: a worker removes the artifact files in its data folder that no record in
the shared journal names any more.

An artifact's file stays in the data folder of the node that ran its task, its record in the
journal every node shares. ``tasks purge`` or ``artifacts prune`` run on another node delete
the records and can unlink only their own node's files: the worker's copy was left behind
for good (no record left to find it by), a disk leak and, unencrypted, a privacy one. So each
worker looks through its own files now and then (``every_s``) and removes those older than
``min_age_s`` that no record names (a file is written just before its record; a save of a
content already stored touches its file, so a file in use is never that old).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from pathlib import Path

from skillexec.storage.store import TaskStore

__all__ = ["OrphanFiles"]

log = logging.getLogger("skillexec.distributed")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1000  # content addresses asked about per query


class OrphanFiles:
    def __init__(self, root: Path, journal: TaskStore, *, every_s: float,
                 min_age_s: float) -> None:
        self.root = root
        self.journal = journal
        self.every_s = every_s
        self.min_age_s = min_age_s
        self._next_mono = time.monotonic() + every_s
        self.removed = 0  # files removed so far (tests, the log)

    async def sweep_if_due(self) -> None:
        if time.monotonic() < self._next_mono:
            return
        self._next_mono = time.monotonic() + self.every_s
        removed = await self.sweep()
        if removed:
            log.warning("removed %d artifact files of %s that no record names (purged or "
                        "pruned on another node)", removed, self.root)

    async def sweep(self) -> int:
        """Remove the files old enough that no record names; how many."""
        named = getattr(self.journal, "referenced_digests", None)
        if named is None:  # a journal that cannot say (the SQLite one, on one host)
            return 0
        before = time.time() - self.min_age_s
        files = await asyncio.to_thread(self._old_files, before)
        removed = 0
        for lo in range(0, len(files), _CHUNK):
            chunk = files[lo:lo + _CHUNK]
            kept: set[str] = await named([f.name for f in chunk])
            gone = [f for f in chunk if f.name not in kept]
            if gone:
                removed += await asyncio.to_thread(self._unlink, gone, before)
        self.removed += removed
        return removed

    def _old_files(self, before: float) -> list[Path]:
        found: list[Path] = []
        try:
            folders = list(os.scandir(self.root))
        except FileNotFoundError:
            return found
        for folder in folders:
            if not folder.is_dir(follow_symlinks=False) or len(folder.name) != 2:
                continue
            with os.scandir(folder.path) as entries:
                for e in entries:
                    if _DIGEST.fullmatch(e.name) and e.is_file(follow_symlinks=False) and \
                            e.stat(follow_symlinks=False).st_mtime < before:
                        found.append(Path(e.path))
        return found

    @staticmethod
    def _unlink(files: list[Path], before: float) -> int:
        removed = 0
        for f in files:
            try:
                if f.stat().st_mtime < before:  # not saved again meanwhile
                    f.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
