"""A zygote's children, reaped: the exits it reports to the engine, and the sweep of its PID
namespace when something no attempt accounts for is left in it (see ``_zygote``).
"""

from __future__ import annotations

import os
import signal
import socket

from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._spare import Spare, settle

__all__ = ["kill_leftovers", "open_children", "reap"]


def open_children() -> int:
    """Our own list of child processes (-1 if the kernel has none): with a spare waiting,
    the leftover sweep counts them (see ``reap``)."""
    # thread-self, not our pid: /proc may number processes in another PID namespace.
    try:
        return os.open("/proc/thread-self/children", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def kill_leftovers() -> bool:
    """As pid 1 of its PID namespace, SIGKILL every other process in it: called when no
    attempt runs, so nothing an attempt (or the import) left behind — daemons that escaped
    their session included — outlives it. (Without a namespace, only the cgroup slot and
    process group of each attempt do that.) Returns whether it swept (a spare too)."""
    if os.getpid() != 1:
        return False
    try:
        os.kill(-1, signal.SIGKILL)  # in a PID namespace: all but its init, us
    except OSError:
        pass  # ESRCH: there was nobody
    return True


def reap(ctl: socket.socket, children: dict[int, int], spares: list[Spare],
         kids_fd: int) -> bool:
    """Reap what exited, telling the engine of its attempts' children; True if a spare
    died while it waited (a zygote whose spares die at once stops making them).
    """
    # Leftovers are swept only when wait4 says a process we did not fork is still alive.
    # Every process of our PID namespace descends from us (orphans reparent to its pid 1,
    # us, or to a subreaper that is itself one of our descendants), so "no children at
    # all" (ECHILD) means nothing else is left; kill(-1) walks every process on the host,
    # which is most of what a call costs the zygote's kernel time on a busy machine.
    # A spare waiting is alive too, but runs no skill code and so has no descendants:
    # anything left lives beside it, as another child of ours. One a call took is that
    # call's child (``settle``: it says so before any of the skill's code runs).
    spare_died = False
    settle(spares, children)
    while True:
        try:
            pid, status, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return spare_died
        if pid == 0:
            if not children and (not spares or _more_children(kids_fd)):
                settle(spares, children)  # taken since: its call's processes are not left
                if not children and kill_leftovers():
                    for spare in spares:
                        spare.kill()  # killed with the rest: never given a call (reaped next)
            return spare_died
        if spares and spares[0].pid == pid:
            # Told as any child's exit: the engine frees the slot it holds for it. Unless
            # a call took it, it died waiting.
            spare = spares.pop()
            unclaimed = not spare.claimed()
            spare_died = spare_died or unclaimed
            spare.sock.close()
        elif children.pop(pid, None) is None:
            continue  # an orphaned grandchild that reparented to us: reaped, nothing to say
        else:
            unclaimed = False
        proto.send_control(ctl, {
            "t": "exited", "pid": pid, "status": status,
            # A spare that ran nothing of a call (one the engine had just sent a call to
            # forks that call afresh).
            **({"unclaimed": True} if unclaimed else {}),
            "utime": ru.ru_utime, "stime": ru.ru_stime, "maxrss_kb": ru.ru_maxrss,
            "inblock": ru.ru_inblock, "oublock": ru.ru_oublock, "minflt": ru.ru_minflt,
        })


def _more_children(kids_fd: int) -> bool:
    """Whether we have a child besides the spare (or cannot tell)."""
    try:
        return len(os.pread(kids_fd, 65536, 0).split()) > 1
    except OSError:
        return True
