"""ArtifactManager: files that skills produce, stored by content, described in the journal.

A file is stored once under ``artifacts/ab/abcdef...`` (its sha256), however many times it
is saved; each save gets its own id, name and mime type in the journal. Names are labels,
never paths: nothing a skill says can make the store write outside its folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import mimetypes
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from skillexec.errors import ResourceError, SkillNotFoundError
from skillexec.security.artifact_seal import address, open_chunks, seal_to
from skillexec.security.keyring import DataKey
from skillexec.security.principals import Who
from skillexec.storage.codec import PLAIN, Codec, SealingCodec
from skillexec.storage.store import ArtifactRecord, TaskStore
from skillexec.task import ArtifactRef

__all__ = ["ArtifactManager", "PruneReport", "SaveObserver", "safe_mime", "safe_name"]

_log = logging.getLogger("skillexec.artifacts")
# Brackets and a leading dot are kept: every Office file has "[Content_Types].xml" and
# "_rels/.rels", and a script that unpacks one must get those names back.
_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@=]")
# RFC 6838 section 4.2: type "/" subtype, each a restricted-name (a letter or digit first,
# at most 127 characters); then RFC 2045 parameters, "; name=value" with token values.
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_PARAM_WORD = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME = re.compile(rf"{_NAME}/{_NAME}(?:[ \t]*;[ \t]*{_PARAM_WORD}={_PARAM_WORD})*")
_MAX_MIME = 255
_OCTET_STREAM = "application/octet-stream"


def safe_name(name: str) -> str:
    """A display name: the relative path a skill gave (``out/a.txt`` and ``b/a.txt`` stay
    apart), each part without control or odd characters, at most 200 chars. A path that is
    absolute or climbs out of its folder (``..``) has no place under the workspace: only its
    file name is kept. The name is a label, never opened: the store is by content."""
    parts = [p for p in str(name).replace("\\", "/").split("/") if p not in ("", ".")]
    if str(name).replace("\\", "/").startswith("/") or ".." in parts:
        parts = parts[-1:]
    parts = [c for c in (_UNSAFE.sub("_", p).lstrip(" ").rstrip(" .") for p in parts) if c]
    if not parts:
        return "artifact"
    out = parts[-1][:200]
    for part in reversed(parts[:-1]):  # the file's own name first; folders while they fit
        if len(part) + 1 + len(out) > 200:
            break
        out = f"{part}/{out}"
    return out


def safe_mime(mime: object) -> str | None:
    """``mime`` if it is a valid media type (RFC 6838 grammar, at most 255 characters),
    else None: a skill's label is kept only when it cannot be anything but a media type."""
    if not isinstance(mime, str) or len(mime) > _MAX_MIME or not _MIME.fullmatch(mime):
        return None
    return mime


@dataclass(frozen=True, slots=True)
class PruneReport:
    records: int
    files: int
    bytes: int


SaveObserver = Callable[[str | None, ArtifactRef, int, int], None]
"""Told of each save: ``(task_id, ref, start_ns, end_ns)``, epoch nanoseconds (tracing)."""


class ArtifactManager:
    def __init__(self, root: Path, store: TaskStore, *, max_bytes: int,
                 codec: Codec = PLAIN) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._store = store
        # sealed files (encryption at rest): addressed by a keyed hash, in 64 KiB chunks
        self._sealing = codec if isinstance(codec, SealingCodec) else None
        # A tuple, replaced whole: saves read it from worker threads without a lock.
        self._observers: tuple[SaveObserver, ...] = ()
        # Set by the engine: may this principal read this artifact? (audited there)
        self.guard: Callable[[ArtifactRecord, Who], Awaitable[bool]] | None = None

    def add_observer(self, observer: SaveObserver) -> None:
        """Call ``observer`` after each successful save (from the saving thread)."""
        self._observers = (*self._observers, observer)

    def remove_observer(self, observer: SaveObserver) -> None:
        self._observers = tuple(o for o in self._observers if o != observer)

    def save(self, name: str, data: bytes, mime: str | None = None, *,
             task_id: str | None = None, principal: str | None = None) -> ArtifactRef:
        """Store bytes; safe to call from any thread (sync skills run in threads).

        With encryption, ``principal`` owns the file: it is sealed under its data key.
        """
        started = time.time_ns()
        ref = self._save(name, data, mime, task_id, principal)
        for observer in self._observers:
            try:
                observer(task_id, ref, started, time.time_ns())
            except Exception:  # the file is stored: an observer's failure must not undo it
                _log.exception("artifact observer %r failed", observer)
        return ref

    def _save(self, name: str, data: bytes, mime: str | None,
              task_id: str | None, principal: str | None) -> ArtifactRef:
        if len(data) > self.max_bytes:
            raise ResourceError(
                f"artifact {name!r} is {len(data)} bytes; the limit is {self.max_bytes}",
                code="artifact_too_large")
        sealing = self._sealing
        key = sealing.keyring.key_for(principal) if sealing is not None else None
        digest = address(key, data) if key is not None else hashlib.sha256(data).hexdigest()
        target = self._file(digest)
        # The record's time is also the file's (see _unlink): a prune that deletes the
        # records of this content before this one is written keeps a file saved after them.
        created = time.time()
        if not self._touched(target, created):
            try:
                self._write(target, data, key, principal, digest, created)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise self._full(name, len(data), exc.errno) from None
        label = safe_name(name)
        # An invalid media type is stored as octet-stream, not refused: the bytes are the
        # artifact, the label only a hint (and never raw text for a terminal or a browser).
        ref = ArtifactRef(id="art_" + secrets.token_hex(12), name=label,
                          mime=(safe_mime(mime) if mime else None)
                          or (_OCTET_STREAM if mime else mimetypes.guess_type(label)[0])
                          or _OCTET_STREAM,
                          size=len(data), sha256=digest)
        # The journal record is ordered before the task's terminal record, so a finished
        # task never names an artifact the journal does not know.
        self._store.artifact(ArtifactRecord(ref=ref, task_id=task_id, created_at=created))
        return ref

    @staticmethod
    def _touched(target: Path, created: float) -> bool:
        """Whether the file is already stored; touched if so (its time set to the new
        record's), so that neither a prune nor a sweep of files no record names (a
        distributed worker's) takes it for an orphan while that record is on its way."""
        try:
            os.utime(target, ns=_stamp(created))
        except FileNotFoundError:
            return False
        except OSError:  # there, not ours to touch (another user's): kept as it is
            return True
        return True

    def _write(self, target: Path, data: bytes, key: DataKey | None, principal: str | None,
               digest: str, created: float) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                if key is not None:
                    seal_to(fh, data, key=key, owner=principal, digest=digest)
                else:
                    fh.write(data)
            os.utime(tmp, ns=_stamp(created))  # before it is there: never moved back
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _full(self, name: str, size: int, number: int) -> ResourceError:
        """What a full disk is to a save: a resource error that says so (retryable: space
        may be freed), not the skill's failure ("[Errno 28]" in an execution_error)."""
        try:
            free = f"{shutil.disk_usage(self.root).free // 1024} KiB free"
        except OSError:
            free = "free space unknown"
        what = "full" if number == errno.ENOSPC else "over its disk quota"
        return ResourceError(f"artifact {safe_name(name)!r} ({size} bytes) was not saved: the "
                             f"disk holding "
                             f"{self.root} is {what} ({free})", code="disk_full",
                             retryable=True, details={"path": str(self.root)})

    async def info(self, artifact_id: str, *, principal: Who = None) -> ArtifactRef:
        """``principal``: whose eyes; another's artifact is "not found" to a runner."""
        record = await self._store.get_artifact(artifact_id)
        if record is not None and self.guard is not None and \
                not await self.guard(record, principal):
            record = None
        if record is None:
            raise SkillNotFoundError(f"no artifact with id {artifact_id!r}",
                                     code="artifact_not_found")
        return record.ref

    async def path(self, artifact_id: str, *, principal: Who = None) -> Path:
        """Where the artifact's bytes are; with encryption they are sealed there: read them
        with :meth:`read` or :meth:`chunks`."""
        ref = await self.info(artifact_id, principal=principal)
        return self._file(ref.sha256)

    async def read(self, artifact_id: str, *, principal: Who = None) -> bytes:
        path = await self.path(artifact_id, principal=principal)
        if self._sealing is None:
            return path.read_bytes()
        return b"".join(self._chunks(path))

    async def chunks(self, artifact_id: str, *, principal: Who = None) -> Iterator[bytes]:
        """The artifact's bytes in pieces (64 KiB when sealed), each checked as it is read."""
        path = await self.path(artifact_id, principal=principal)
        if self._sealing is None:
            return iter((path.read_bytes(),))
        return self._chunks(path)

    def _chunks(self, path: Path) -> Iterator[bytes]:
        assert self._sealing is not None
        with path.open("rb") as fh:
            yield from open_chunks(fh, keyring=self._sealing.keyring, digest=path.name)

    async def prune(self, *, older_than_s: float) -> PruneReport:
        """Forget artifacts saved more than ``older_than_s`` ago; delete unreferenced files."""
        old = await self._store.artifacts_older_than(time.time() - older_than_s)
        orphans = await self._store.delete_artifacts([r.ref.id for r in old])
        newest: dict[str, float] = {}
        for r in old:
            newest[r.ref.sha256] = max(newest.get(r.ref.sha256, 0.0), r.created_at)
        files, freed = self._unlink({d: newest.get(d, 0.0) for d in orphans})
        return PruneReport(records=len(old), files=files, bytes=freed)

    def remove_files(self, digests: Iterable[str], *, saved_before: float | None = None) -> int:
        """Delete the files of these content addresses (no record refers to them); how
        many were there. ``saved_before``: when their records began to be deleted; a file
        saved again since is kept (its new record may not be in the journal yet)."""
        at = time.time() if saved_before is None else saved_before
        return self._unlink(dict.fromkeys(digests, at))[0]

    def _unlink(self, last_saved: dict[str, float]) -> tuple[int, int]:
        """Delete each content's file unless it was saved after ``last_saved[digest]``.

        A save of content already stored only touches its file (its time set to the new
        record's) and writes its record a moment later: a prune between the two found the
        content orphaned and deleted the file of the record about to be written. So the file
        is first moved aside (a save from then on finds none and writes its own), and put
        back where its time says a save came after the records deleted."""
        files = freed = 0
        for digest, saved in last_saved.items():
            f = self._file(digest)
            aside = f.with_name(f".pruned-{digest}-{secrets.token_hex(4)}")
            try:
                os.rename(f, aside)
            except FileNotFoundError:
                continue
            st = aside.stat()
            if st.st_mtime_ns > _stamp(saved)[1]:
                with contextlib.suppress(FileExistsError):  # saved anew meanwhile: the same
                    os.link(aside, f)
            else:
                freed += st.st_size
                files += 1
            aside.unlink()
        return files, freed

    def _file(self, digest: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest


def _stamp(t: float) -> tuple[int, int]:
    """A record's time as a file's (atime, mtime) in nanoseconds, compared exactly."""
    ns = int(t * 1e9)
    return ns, ns
