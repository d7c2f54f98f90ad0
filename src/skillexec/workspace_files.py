"""What a script call's ``files=`` may bring into its workspace: a file's bytes, or a
:class:`WorkspaceFile`, which carries what a copy of a folder keeps beyond them (``cp -a``
within the workspace): an empty folder, a file's owner execute bit (``./gradlew``), its
modification time (an inventory of a legacy codebase reads the files' ages) and a symbolic
link that stays inside the workspace.

Python: ``files={path: bytes | WorkspaceFile}``. In JSON (the call's journaled parameters,
HTTP's and MCP's ``files``) a path maps to the file's bytes in base64, as before, or to an
object ``{"content": base64, "executable": bool, "mtime": seconds, "folder": bool, "link":
target}`` (each optional). Never a mode number: no setuid bit, no device file, nothing the
engine could be made to create but a folder, a regular file of the skill's uid or a link.
"""

from __future__ import annotations

import base64
import binascii
import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skillexec.errors import ParameterError

__all__ = ["FILE_SCHEMA", "WorkspaceFile", "from_wire", "to_wire", "wire_bytes"]

_MAX_LINK = 4096  # PATH_MAX: a longer target no system call takes
# The times os.utime takes everywhere (a 64-bit time_t in nanoseconds): 1970 +- 292 years.
_MAX_MTIME = float(1 << 33)

FILE_SCHEMA: dict[str, Any] = {"anyOf": [
    {"type": "string", "description": "the file's bytes, base64"},
    {"type": "object", "additionalProperties": False, "properties": {
        "content": {"type": "string", "description": "the file's bytes, base64"},
        "executable": {"type": "boolean", "description": "its owner may run it"},
        "mtime": {"type": "number", "description": "modified at, seconds since 1970"},
        "folder": {"type": "boolean", "description": "a folder (empty, or made for the "
                   "files under it), no content"},
        "link": {"type": "string", "maxLength": _MAX_LINK, "description": "a symbolic link "
                 "to this relative target, inside the workspace"}}}]}


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceFile:
    """One entry of a script call's ``files=`` beyond plain bytes: a regular file
    (``content``, ``executable``: its owner may run it), an empty folder (``folder=True``)
    or a symbolic link (``link``: a relative target that stays inside the workspace);
    ``mtime``, seconds since 1970, is set on it once written (else it is the call's time)."""

    content: bytes = b""
    executable: bool = False
    mtime: float | None = None
    folder: bool = False
    link: str | None = None


def _refused(path: str, why: str) -> ParameterError:
    return ParameterError(f"file {path!r}: {why}", code="invalid_file_content")


def checked(path: str, f: WorkspaceFile) -> WorkspaceFile:
    """``f`` if the workspace path ``path`` (normalised already) may hold it, else
    ``ParameterError`` saying why: one kind of entry, a time ``os.utime`` takes, a link
    whose target stays inside the workspace (a link is never followed by the engine; the
    target is checked by its text, as the script would read it from there)."""
    if not isinstance(f.content, bytes | bytearray | memoryview):
        raise _refused(path, "its content must be bytes")
    if not isinstance(f.executable, bool) or not isinstance(f.folder, bool):
        raise _refused(path, "'executable' and 'folder' are true or false")
    if f.mtime is not None and (isinstance(f.mtime, bool) or not isinstance(f.mtime, int | float)
                                or not math.isfinite(f.mtime) or abs(f.mtime) > _MAX_MTIME):
        raise _refused(path, f"'mtime' must be seconds since 1970 (within +-{_MAX_MTIME:.0f})")
    if (f.folder or f.link is not None) and (f.content or f.executable):
        raise _refused(path, "a folder or a link has no content and no execute bit")
    if f.link is None:
        return f
    if f.folder:
        raise _refused(path, "it is a folder or a link, not both")
    target = f.link
    if not isinstance(target, str) or not target or "\0" in target or len(target) > _MAX_LINK:
        raise _refused(path, f"a link's target is a non-empty path of at most {_MAX_LINK} "
                       "characters")
    where = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if target.startswith("/") or where == ".." or where.startswith("../"):
        raise _refused(path, f"its link's target {target!r} is outside the workspace (give a "
                       "relative path that stays inside it)")
    return f


def to_wire(path: str, value: object) -> str | dict[str, Any]:
    """A ``files=`` value as the call's JSON parameters carry it: base64 text for a file
    that is only bytes (as ever), else an object of the fields given."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if not isinstance(value, WorkspaceFile):
        raise _refused(path, "its content must be bytes (or a WorkspaceFile)")
    f = checked(path, value)
    out: dict[str, Any] = {}
    if f.content:
        out["content"] = base64.b64encode(bytes(f.content)).decode()
    if f.executable:
        out["executable"] = True
    if f.mtime is not None:
        out["mtime"] = f.mtime
    if f.folder:
        out["folder"] = True
    if f.link is not None:
        out["link"] = f.link
    return out or ""  # an empty file, nothing else: the plain form


def from_wire(path: str, value: object) -> WorkspaceFile:
    """A ``files`` value in JSON (base64 text, or an object of :data:`FILE_SCHEMA`'s
    fields) as a checked :class:`WorkspaceFile`; ``ParameterError`` naming the field."""
    if isinstance(value, str):
        return WorkspaceFile(content=_b64(path, value))
    if not isinstance(value, Mapping):
        raise _refused(path, "give its content in base64, or an object of content, "
                       "executable, mtime, folder, link")
    unknown = sorted(set(value) - {"content", "executable", "mtime", "folder", "link"})
    if unknown:
        raise _refused(path, f"unknown field {unknown[0]!r} (fields: content, executable, "
                       "mtime, folder, link)")
    content = value.get("content", "")
    if not isinstance(content, str):
        raise _refused(path, "'content' is its bytes in base64")
    return checked(path, WorkspaceFile(
        content=_b64(path, content), executable=value.get("executable", False),
        mtime=value.get("mtime"), folder=value.get("folder", False), link=value.get("link")))


def _b64(path: str, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _refused(path, "its content is not base64") from None


def wire_bytes(value: object) -> int:
    """About how many bytes of content a ``files`` value in JSON carries (base64's third
    more and its padding left out): what a refusal over the size of the call names."""
    text = value if isinstance(value, str) else (
        value.get("content") if isinstance(value, Mapping) else None)
    if not isinstance(text, str):
        return 0
    return len(text) * 3 // 4 - text[-2:].count("=")
