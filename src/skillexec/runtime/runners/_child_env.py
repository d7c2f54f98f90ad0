"""What a child would write in its first moments, written by its zygote before the fork.

After a fork every page a child writes costs it a copy-on-write fault (several µs each on
a VM, then freed again at its exit). Its environment (the zygote's as that started, with
the attempt's folders — HOME, TMPDIR, XDG — and the skill's secrets on top: ~30 faults
when a child wrote it) and, in a script parent, a Python script's run (its ``__main__``,
``sys.path[0]``: see ``_child_script.stage``) are therefore made the zygote's own just
before it forks, and the child inherits them as they are. The zygote puts its own back
before its next fork, or once no child of its lives (``restore``): written while one
lives, each page would be copied in the zygote instead. A spare (forked before its call
is known) still writes its call's environment itself.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from typing import TYPE_CHECKING, Any

from skillexec.runtime.runners import _child_script

if TYPE_CHECKING:
    from skillexec.runtime.runners._child import ChildSetup, ForkPrep

__all__ = ["EnvBytes", "EnvSwap", "ahead", "env_ahead", "env_back", "fsencode", "restore",
           "set_env", "worth_ahead"]

EnvBytes = tuple[list[bytes], list[tuple[bytes, bytes]]]  # (to unset, to set), encoded
_FS_ENCODING = sys.getfilesystemencoding()


def fsencode(text: str) -> bytes:
    return text.encode(_FS_ENCODING, "surrogateescape")  # as os.environ encodes


def ahead(setup: ChildSetup, req: dict[str, Any], prep: ForkPrep) -> None:
    """In the zygote, just before forking the child for ``req``: its environment and its
    script's run made ours; what puts ours back is queued on ``setup.undo``."""
    restore(setup)  # each child starts from the zygote's own
    undo = env_ahead(setup, prep)
    if undo is not None:
        setup.undo.append(functools.partial(env_back, undo))
    try:
        prep.staged = _child_script.stage(setup.scripts, req) if setup.scripts else None
    except Exception:
        prep.staged = None  # a malformed request: the child reports what is wrong
    if prep.staged is not None:
        setup.undo.append(functools.partial(_child_script.unstage, prep.staged))


def worth_ahead(*, waiting: int, running: int) -> bool:
    """Whether the zygote makes a child's writes its own before the fork (``ahead``), with
    ``waiting`` fork requests in hand and ``running`` children alive. Only while calls come
    one at a time (the one before may still be exiting): with several at once the zygote
    is what they all queue on, one core, while children run side by side — there the
    work it took over cost ~0.2 ms of its CPU per call and 10-15 % of the throughput of
    sandboxed no-op calls at concurrency 8 (interleaved A/B, on vs off)."""
    return waiting <= 1 and running <= 1


def restore(setup: ChildSetup) -> None:
    """The zygote's own environment and __main__ again, the latest change undone first."""
    while setup.undo:
        setup.undo.pop()()


def env_ahead(setup: ChildSetup, prep: ForkPrep) -> EnvSwap | None:
    """In the zygote, just before the fork: the child's environment made ours, as a new
    ``os.environ`` mapping and a new C ``environ`` array swapped in (never ``putenv``:
    glibc keeps every value ever set, and each attempt's folders are new ones). Returns
    what swaps ours back (None: not done, and the child writes its environment itself,
    as a spare does)."""
    data = getattr(os.environ, "_data", None)
    if prep.env_bytes is None or type(data) is not dict:
        return None
    environ = _c_environ()
    unset_b, set_b = prep.env_bytes
    if environ is None or any(not k or b"=" in k or b"\0" in k or b"\0" in v
                              for k, v in set_b):
        return None  # what putenv refuses, the child's own attempt refuses (fail closed)
    new = data.copy()
    for kb in unset_b:
        new.pop(kb, None)
    for kb, vb in set_b:
        new[kb] = vb
    array = (ctypes.c_char_p * (len(new) + 1))(*(k + b"=" + v for k, v in new.items()), None)
    swap = EnvSwap(array, data, environ.value)
    environ.value = ctypes.addressof(array)
    os.environ._data = new  # type: ignore[attr-defined]
    prep.env_in_place = True
    return swap


def env_back(swap: EnvSwap) -> None:
    """In the zygote, once the child is forked: its own environment again."""
    environ = _c_environ()
    assert environ is not None
    environ.value = swap.pointer
    os.environ._data = swap.data  # type: ignore[attr-defined]


class EnvSwap:
    """The zygote's own environment, while a child's is swapped in."""

    __slots__ = ("array", "data", "pointer")

    def __init__(self, array: Any, data: dict[bytes, bytes], pointer: int | None) -> None:
        self.array = array  # the child's C array (and the bytes it points to): kept alive
        self.data = data
        self.pointer = pointer


@functools.cache
def _c_environ() -> Any:
    """libc's ``environ`` (what getenv reads, and what a program started inherits)."""
    try:
        return ctypes.c_void_p.in_dll(ctypes.CDLL(None), "environ")
    except (OSError, ValueError):
        return None


def set_env(unset_b: list[bytes], set_b: list[tuple[bytes, bytes]]) -> None:
    """In a child: unset and set these (encoded) variables in os.environ and the C
    environment (when its zygote could not make them its own first)."""
    # What os.environ's __setitem__/__delitem__ do, with the keys and values encoded
    # already: its Python-level encoders would touch (and copy) more pages.
    data: dict[bytes, bytes] = os.environ._data  # type: ignore[attr-defined]
    for kb in unset_b:
        os.unsetenv(kb)
        data.pop(kb, None)
    for kb, vb in set_b:
        os.putenv(kb, vb)
        data[kb] = vb
