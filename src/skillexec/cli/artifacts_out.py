"""Writing artifacts back into a folder: ``skillexec script --out DIR`` (the files the
script made or changed, as a plain run leaves them: ``reflow_sentences.py paper.tex``
edits ``paper.tex``) and ``skillexec artifacts get --task ID -o DIR``.

An artifact's name is its path in the script's workspace; a skill chose it, so it is
written only within DIR: a name that is absolute, climbs out (``..``) or leads through a
link (one left in DIR, ``out -> /etc``) is refused with a note, and a link is never written
through nor replaced by a file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from skillexec.cli import options as opt
from skillexec.cli.safe_text import safe_line

__all__ = ["check_out_dir", "write_back"]


def check_out_dir(out: Path, *, option: str) -> None:
    """Refuse (one sentence, exit 2) an ``out`` that cannot be a folder, before anything
    runs; a folder not there yet is made."""
    if out.exists() and not out.is_dir():
        opt.fail(f"{option} {out}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        opt.fail(f"{option} {out}: cannot be made: {exc.strerror or exc}")


def _refusal(out: Path, name: str) -> str | None:
    """Why ``name`` may not be written under ``out`` (else None)."""
    parts = name.split("/")
    if name.startswith("/") or not name or any(p in ("", ".", "..") for p in parts):
        return "its name is not a plain path within the folder"
    at = out
    for i, part in enumerate(parts):
        at = at / part
        try:
            st = os.lstat(at)
        except FileNotFoundError:
            return None  # the rest is made afresh
        if stat.S_ISLNK(st.st_mode):
            return f"{'/'.join(parts[:i + 1])} is a link here, never written through"
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            return f"{'/'.join(parts[:i + 1])} is a file here, not a folder"
        if i == len(parts) - 1 and not stat.S_ISREG(st.st_mode):
            return "a folder or other non-file is there"
    return None


def _write(target: Path, data: bytes) -> None:
    """``data`` at ``target``, whole or not at all: a temporary file beside it, renamed
    over it (the rename replaces a name, never follows one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.skillexec-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with contextlib.suppress(FileNotFoundError):  # an edited file keeps its mode (+x)
            os.fchmod(fd, stat.S_IMODE(os.lstat(target).st_mode))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def write_back(out: Path, artifacts: Iterable[tuple[str, str]],
                     read: Callable[[str], Awaitable[bytes]]) -> tuple[list[str], list[str]]:
    """Write each artifact (its id, its workspace path) read with ``read`` at that path
    under ``out``. Returns the paths written and a note for each refused."""
    written, notes = [], []
    for artifact_id, name in artifacts:
        why = _refusal(out, name)
        if why is None:
            try:
                _write(out / name, await read(artifact_id))
                written.append(name)
                continue
            except OSError as exc:
                why = f"cannot be written: {exc.strerror or exc}"
        notes.append(safe_line(f"artifact {artifact_id} ({name}) not written to {out}: {why}"))
    return written, notes
