"""A session's record on disk: ``<records>/<id>.json`` (created, TTL, last use, principal),
kept in the data dir — out of the sandbox's reach — so sessions survive an engine restart.
The folder of records is the list of open sessions; a use is marked on a record's mtime,
not written into it. A record that is missing, unreadable or malformed reads as None.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson

__all__ = ["SESSION_ID", "ids", "read", "touch", "write"]

SESSION_ID = re.compile(r"^s_[0-9a-f]{24}$")


def ids(records: Path) -> list[str]:
    """The ids of the sessions with a record in ``records``."""
    try:
        return [n[:-5] for n in os.listdir(records)
                if n.endswith(".json") and SESSION_ID.match(n[:-5])]
    except FileNotFoundError:
        return []


def read(records: Path, sid: str) -> dict[str, Any] | None:
    """Session ``sid``'s record, its last use the later of the one written and the one
    marked (see :func:`touch`); None when it has none, or one that cannot be read."""
    try:
        fd = os.open(records / f"{sid}.json", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        used = os.fstat(fd).st_mtime
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        rec = orjson.loads(b"".join(chunks))
    except (OSError, orjson.JSONDecodeError):
        return None
    finally:
        os.close(fd)
    if not isinstance(rec, dict) or not isinstance(rec.get("last_used_at"), (int, float)):
        return None
    # A use is marked on the record's mtime (see touch).
    rec["last_used_at"] = max(rec["last_used_at"], used)
    return rec


def write(records: Path, sid: str, rec: dict[str, Any]) -> None:
    """Write session ``sid``'s record whole (to a temporary file renamed over it)."""
    # The engine's alone: a session's id is the way into its folder (whose parent lists
    # none), and a skill of another engine may run as the uid that last used it.
    records.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(records, 0o700)  # one an earlier version made 0755
    tmp = records / f".{sid}.{os.getpid()}.tmp"
    tmp.write_bytes(orjson.dumps(rec))
    os.replace(tmp, records / f"{sid}.json")


def touch(records: Path, sid: str) -> bool:
    """A use, marked on the record's mtime: rewriting the record (a rename over it)
    made ext4 write its blocks out at once, ~1 ms on every call's path. False: the
    record is gone (closed meanwhile)."""
    try:
        os.utime(records / f"{sid}.json")
    except FileNotFoundError:
        return False
    return True
