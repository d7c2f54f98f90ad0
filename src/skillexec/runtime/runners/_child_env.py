"""A child's environment, written by its zygote just before the fork.

A child's environment is its zygote's (as that started) with the attempt's folders (HOME,
TMPDIR, XDG) and the skill's secrets on top. A child that wrote them itself would pay
copy-on-write faults for each ``putenv`` and dict insert (~30 a child, ~0.1 ms on the
call's path here); so the zygote makes that environment its own just before it forks, the
child inherits it as it is, and the zygote puts its own back once the child is forked.
A spare (forked before its call is known) still writes its call's environment itself.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skillexec.runtime.runners._child import ChildSetup, ForkPrep

__all__ = ["EnvBytes", "env_ahead", "env_back", "fsencode", "set_env"]

EnvBytes = tuple[list[bytes], list[tuple[bytes, bytes]]]  # (to unset, to set), encoded
_FS_ENCODING = sys.getfilesystemencoding()


def fsencode(text: str) -> bytes:
    return text.encode(_FS_ENCODING, "surrogateescape")  # as os.environ encodes


def env_ahead(setup: ChildSetup, prep: ForkPrep) -> EnvBytes | None:
    """In the zygote, just before the fork: make the child's environment its own, so that
    the child inherits it instead of writing it (each putenv and dict insert after a fork
    costs copy-on-write faults, ~30 a child). Returns what puts the zygote's back once
    the child is forked (None: not done, the child does it itself, as a spare does)."""
    if prep.env_bytes is None or type(getattr(os.environ, "_data", None)) is not dict:
        return None
    base = setup.environ
    try:
        undo_unset = [fsencode(k) for k, _ in prep.env_set if k not in base]
        undo_set = [(fsencode(k), fsencode(base[k]))
                    for k in (*prep.env_unset, *(k for k, _ in prep.env_set)) if k in base]
    except (TypeError, UnicodeError):
        return None
    set_env(*prep.env_bytes)
    prep.env_in_place = True
    return undo_unset, undo_set


def env_back(undo: EnvBytes) -> None:
    """In the zygote, once the child is forked: its own environment again."""
    set_env(*undo)


def set_env(unset_b: list[bytes], set_b: list[tuple[bytes, bytes]]) -> None:
    """Unset and set these (encoded) variables in os.environ and the C environment."""
    # What os.environ's __setitem__/__delitem__ do, with the keys and values encoded
    # already: its Python-level encoders would touch (and copy) more pages.
    data: dict[bytes, bytes] = os.environ._data  # type: ignore[attr-defined]
    for kb in unset_b:
        os.unsetenv(kb)
        data.pop(kb, None)
    for kb, vb in set_b:
        os.putenv(kb, vb)
        data[kb] = vb
