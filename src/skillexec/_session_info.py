"""What is shown of a session (``engine.sessions.list``, ``get``): its record's times and
owner, and what its folder holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillexec.security.principals import LOCAL_ID

__all__ = ["SessionInfo"]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    created_at: float
    last_used_at: float
    ttl_s: float
    files: int
    bytes: int
    principal: str = LOCAL_ID  # whose it is
    # Everything in its folder: files, folders, links (what sessions.max_files bounds);
    # ``files`` and ``bytes`` are its regular files, as ``SessionStore.files`` lists them.
    entries: int = 0
    # What the user sees of them: ``entries`` but the engine's own folders (its TMPDIR,
    # HOME's .cache ...), which no script of theirs made (what ``sessions show`` says).
    made: int = 0

    @property
    def expires_at(self) -> float:
        return self.last_used_at + self.ttl_s

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at,
                "last_used_at": self.last_used_at, "ttl_s": self.ttl_s,
                "expires_at": self.expires_at, "files": self.files, "bytes": self.bytes,
                "entries": self.entries, "made": self.made, "principal": self.principal}
