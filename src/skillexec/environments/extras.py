"""``<data_dir>/envs/extras.json``: the packages an operator added per skill (``skillexec
skills install ID PKG``), which every engine and CLI on the data folder reads.

Changed under a lock (``extras.json.lock``), re-read under it, one skill's entry at a
time: two ``skills install`` in two processes each kept the whole file they had read, so
the second one's write (or a failed install's rollback) wiped the first one's packages.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from skillexec.environments.locks import atomic_write, file_lock

__all__ = ["Extras"]

_NOTHING: frozenset[str] = frozenset()
_RECHECK_S = 0.2


class Extras:
    """The packages added per skill id, as last read; ``changed`` sees another process's."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "extras.json"
        self._read: dict[str, tuple[str, ...]] | None = None
        self._stamp: tuple[int, int, int] | None = None  # of the extras.json read
        self._recheck_at = 0.0  # monotonic: when changed() looks at extras.json again

    def get(self, skill_id: str) -> tuple[str, ...]:
        if self._read is None:
            self._read = self._load()
        return self._read.get(skill_id, ())

    def changed(self) -> frozenset[str]:
        """The ids whose added packages changed since they were read: ``skills install ID
        PKG`` in another process (a running engine saw them only at its next start). Seen
        by every call that starts ``_RECHECK_S`` or more after that install ended: one
        ``stat`` per interval (a stat per call was 2% of a no-op call's CPU)."""
        if self._read is not None:
            now = time.monotonic()
            if now < self._recheck_at:
                return _NOTHING
            self._recheck_at = now + _RECHECK_S
            if self._stat() == self._stamp:
                return _NOTHING
        before = self._read or {}
        after = self._read = self._load()
        return frozenset(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))

    def record(self, skill_id: str, packages: tuple[str, ...]) -> None:
        """Set ``skill_id``'s entry alone, in the file as it is now (OSError if the
        folder cannot be written: see locks.folder_error)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / "extras.json.lock"):
            now = self._load()
            if packages:
                now[skill_id] = packages
            else:
                now.pop(skill_id, None)
            atomic_write(self.path, json.dumps(
                {k: list(v) for k, v in sorted(now.items())}, indent=1))
        self._read = self._read or {}
        if packages:
            self._read[skill_id] = packages
        else:
            self._read.pop(skill_id, None)

    def _load(self) -> dict[str, tuple[str, ...]]:
        # Stamped before it is read: a file replaced in between is read again later.
        self._stamp = self._stat()
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        return {str(k): tuple(str(p) for p in v) for k, v in raw.items()
                if isinstance(v, list)} if isinstance(raw, dict) else {}

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino
