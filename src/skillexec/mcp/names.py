"""Tool names every client accepts (``[A-Za-z0-9_-]{1,64}``), from skill ids.

Claude Desktop withholds a whole toolset over one dotted name; Cursor drops tools when
server and tool name exceed 60 characters. So: keep ``[A-Za-z0-9_-]``, replace the rest by
``_``, collapse runs, cap at 48, and when two ids map to one name give each of them a short
hash of its id — the same names whatever the order the skills were loaded in."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

__all__ = ["MAX_NAME", "tool_names"]

MAX_NAME = 64
_BASE_MAX = 48  # room for a client's own "server__" prefix
_BAD = re.compile(r"[^A-Za-z0-9_-]+")
_RUNS = re.compile(r"_{2,}")


def _hash(skill_id: str) -> str:
    return hashlib.sha256(skill_id.encode()).hexdigest()[:6]


def _base(skill_id: str, prefix: str) -> str:
    name = _RUNS.sub("_", _BAD.sub("_", skill_id)).strip("_") or "skill"
    name = prefix + name
    if len(name) > _BASE_MAX:
        name = name[:_BASE_MAX - 7].rstrip("_") + "_" + _hash(skill_id)
    return name


def tool_names(skill_ids: Iterable[str], *, prefix: str = "",
               reserved: Iterable[str] = ()) -> Mapping[str, str]:
    """skill id -> tool name: unique, safe, deterministic. Names in ``reserved`` (the
    server's own tools) are never given to a skill; a name differing from another only in
    case counts as a collision too."""
    taken = {r.lower() for r in reserved}
    groups: dict[str, list[str]] = defaultdict(list)
    for sid in sorted(set(skill_ids)):
        groups[_base(sid, prefix).lower()].append(sid)
    out: dict[str, str] = {}
    for key, ids in groups.items():
        if len(ids) == 1 and key not in taken:
            out[ids[0]] = _base(ids[0], prefix)
            continue
        for sid in ids:
            base = _base(sid, prefix)[:_BASE_MAX - 7].rstrip("_")
            out[sid] = f"{base}_{_hash(sid)}"
    return out
