"""Forking a zygote's child without the cost of CPython's at-fork hooks.

``os.fork()`` runs every ``os.register_at_fork`` hook. In a zygote those are mostly the
standard library's lock re-initialisers (threading, logging, concurrent.futures), which
exist for locks *another thread* might hold at the fork, plus ``random``'s reseed. In the
child they touch ~200 pages — each a copy-on-write fault of several microseconds on a VM,
about half of what a sandboxed no-op attempt costs.

So the zygote records every hook as it is registered (``install`` runs before anything
that registers one is imported) and, while it has no other Python thread, forks with
libc's ``fork()`` directly (through ``ctypes.PyDLL``: the GIL stays held, and libc's own
``pthread_atfork`` handlers still run), then does itself what the hooks would have done
that still matters without other threads:

* lock hooks (``acquire``/``release``/``_at_fork_reinit`` of a lock, threading's and
  logging's re-initialisers) are skipped: with a single thread no lock is held at a fork;
* ``random``'s reseed is done with the C method directly (no Python frames);
* any other hook — a skill's library may register one — is run as ``os.fork`` would.

With another Python thread alive once the skill is imported, or when recording could not
be set up first, it is ``os.fork()`` as before. Nothing here relaxes any confinement:
those are kernel state.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["ForkPlan", "fork", "install", "plan"]

Hook = Callable[[], object]

# (before, after_in_parent, after_in_child), in registration order.
_registered: list[tuple[Hook | None, Hook | None, Hook | None]] = []
_complete = False  # True once install() ran before any module that registers hooks
# Imported modules that register at-fork hooks when they are imported.
_HOOK_MODULES = ("threading", "random", "logging", "concurrent.futures.thread",
                 "multiprocessing")
_LOCK_METHODS = frozenset({"acquire", "release", "_at_fork_reinit"})


def install() -> None:
    """Record at-fork hooks from now on. Call it first thing in the zygote."""
    global _complete
    if _registered or getattr(os.register_at_fork, "_skillexec_recording", False):
        return
    _complete = not any(m in sys.modules for m in _HOOK_MODULES)
    original = os.register_at_fork

    def register_at_fork(*, before: Hook | None = None, after_in_child: Hook | None = None,
                         after_in_parent: Hook | None = None) -> None:
        given = {k: v for k, v in (("before", before), ("after_in_child", after_in_child),
                                   ("after_in_parent", after_in_parent)) if v is not None}
        original(**given)  # validates them, and serves os.fork()
        _registered.append((before, after_in_parent, after_in_child))

    register_at_fork._skillexec_recording = True  # type: ignore[attr-defined]
    os.register_at_fork = register_at_fork
    posix: Any = sys.modules.get("posix")  # os.register_at_fork's home: patched too
    if posix is not None:
        posix.register_at_fork = register_at_fork


class ForkPlan:
    """What to run around a fast fork, worked out once the zygote has imported the skill."""

    __slots__ = ("before", "child", "parent", "reseed", "seed")

    def __init__(self, before: tuple[Hook, ...], parent: tuple[Hook, ...],
                 child: tuple[Hook, ...], reseed: tuple[Any, ...]) -> None:
        self.before = before
        self.parent = parent
        self.child = child
        self.reseed = reseed  # random.Random instances whose seed() hook was registered
        self.seed: Callable[[Any, Any], None] | None = None
        if reseed:
            import _random

            self.seed = _random.Random.seed  # the C method under random.Random.seed


def plan() -> ForkPlan | None:
    """The fast path's plan, or None when only ``os.fork()`` is safe: hooks went unrecorded,
    or another Python thread exists (it could hold a lock the skipped hooks re-create).

    Called once the zygote has imported the skill. From then on the zygote runs only its
    own single-threaded loop, so no thread can appear later unless one exists now.
    """
    if not _complete or _thread_count() != 0 or len(sys._current_frames()) != 1:
        return None
    before: list[Hook] = []
    parent: list[Hook] = []
    child: list[Hook] = []
    reseed: list[Any] = []
    random_seed = getattr(sys.modules.get("random"), "Random", None)
    random_seed = getattr(random_seed, "seed", None)
    for b, p, c in _registered:
        if b is not None and not _is_lock_hook(b):
            before.append(b)
        if p is not None and not _is_lock_hook(p):
            parent.append(p)
        if c is None or _is_lock_hook(c):
            continue
        if random_seed is not None and getattr(c, "__func__", None) is random_seed:
            reseed.append(c.__self__)  # type: ignore[attr-defined]
        else:
            child.append(c)
    before.reverse()  # os.fork runs "before" hooks in reverse registration order
    return ForkPlan(tuple(before), tuple(parent), tuple(child), tuple(reseed))


def _is_lock_hook(hook: Hook) -> bool:
    """A hook that only takes, releases or re-creates a lock: moot with one thread."""
    threading = sys.modules.get("threading")
    logging = sys.modules.get("logging")
    known = (getattr(threading, "_after_fork", None), getattr(logging, "_acquireLock", None),
             getattr(logging, "_releaseLock", None),
             getattr(logging, "_after_at_fork_child_reinit_locks", None))
    if any(hook is k for k in known if k is not None):
        return True
    # concurrent.futures.thread's: a lock's own acquire, release and _at_fork_reinit.
    lock_types = tuple(t for t in (type(sys.modules["_thread"].allocate_lock()),
                                   getattr(sys.modules["_thread"], "RLock", None),
                                   getattr(threading, "_PyRLock", None)) if t is not None)
    owner = getattr(hook, "__self__", None)
    return (isinstance(owner, lock_types)
            and getattr(hook, "__name__", "") in _LOCK_METHODS)


_libc_fork: Any = ctypes.PyDLL(None).fork  # PyDLL: the GIL stays held
_libc_fork.restype = ctypes.c_int
_libc_fork.argtypes = ()
_thread_count: Callable[[], int] = sys.modules["_thread"]._count


def fork(p: ForkPlan | None) -> int:
    """``os.fork()``'s contract (0 in the child, the pid in the parent, OSError on failure)."""
    if p is None or ((p.before or p.parent) and _thread_count() != 0):
        # (A skill's own "before" or "after_in_parent" hook runs here, in the zygote, and
        # could have started a thread.)
        return os.fork()
    # Lean on purpose, in both processes: after the fork every page touched is a fault.
    if p.before:
        _run(p.before)
    pid: int = _libc_fork()
    if pid == 0:
        seed = p.seed
        if seed is not None:
            for inst in p.reseed:
                try:
                    seed(inst, None)  # random.Random.seed(None) minus its Python layer
                    inst.gauss_next = None
                except BaseException:  # as os.fork: a hook failing is not our failure
                    pass
        if p.child:
            _run(p.child)
        return 0
    if pid < 0:
        # Failed (EAGAIN, ENOMEM): the hooks are paired up, then os.fork() either manages
        # or raises the OSError (the fast call skips errno bookkeeping, like its hooks).
        _run(p.parent)
        return os.fork()
    if p.parent:
        _run(p.parent)
    return pid


def _run(hooks: tuple[Hook, ...]) -> None:
    # os.fork reports a failing hook as "unraisable" and goes on; so does this, and in the
    # child an exception must never escape into the zygote's loop.
    for hook in hooks:
        try:
            hook()
        except BaseException:
            pass
