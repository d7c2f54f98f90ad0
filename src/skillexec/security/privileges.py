"""Dropping root: an unprivileged uid with no capabilities at all, and namespaces.

The interpreter may live under a private home (/root/.pyenv, /root being 0700): a plain
setuid() child could not import a module it had not imported yet. CAP_DAC_READ_SEARCH
would get it there, but also past the mode bits of every private file under every tree
Landlock allows (a 0600 key in a 0710 folder). So the zygote does not keep it: before the
drop it opens the way to exactly the trees it needs in a mount namespace of its own (see
``security.fsview``). ``keep_read_search`` remains for a caller that must have it.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable
from functools import cache

__all__ = [
    "CAP_DAC_READ_SEARCH",
    "PrivilegeError",
    "drop_capabilities",
    "drop_to_uid",
    "map_own_identity",
    "prepare_parent_death_signal",
    "set_child_subreaper",
    "set_parent_death_signal",
    "unshare",
    "unshare_network",
]

CAP_DAC_READ_SEARCH = 2
_PR_SET_PDEATHSIG = 1
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_DROP = 24
_PR_SET_CHILD_SUBREAPER = 36
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_NR_CAPSET = 126
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class PrivilegeError(OSError):
    pass


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    if _libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0) != 0:
        err = ctypes.get_errno()
        raise PrivilegeError(err, f"prctl({option}): {os.strerror(err)}")


@cache
def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40


def set_parent_death_signal(sig: int) -> None:
    _prctl(_PR_SET_PDEATHSIG, sig)


def prepare_parent_death_signal(sig: int) -> Callable[[], None]:
    """``set_parent_death_signal(sig)`` with its C arguments built now (in the zygote): a
    forked child then only makes the call, touching (and so copying) fewer pages."""
    prctl = _libc.prctl
    args = (ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(sig), ctypes.c_ulong(0),
            ctypes.c_ulong(0), ctypes.c_ulong(0))

    def apply() -> None:
        if prctl(*args) != 0:
            err = ctypes.get_errno()
            raise PrivilegeError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")

    return apply


def set_child_subreaper() -> None:
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def unshare_network() -> None:
    unshare(_CLONE_NEWNET)


_FLAG_NAMES = {CLONE_NEWUSER: "CLONE_NEWUSER", CLONE_NEWPID: "CLONE_NEWPID",
               _CLONE_NEWNET: "CLONE_NEWNET"}


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        names = "|".join(n for f, n in _FLAG_NAMES.items() if flags & f) or hex(flags)
        raise PrivilegeError(err, f"unshare({names}): {os.strerror(err)}")


def map_own_identity(uid: int, gid: int) -> None:
    """In a user namespace this process just made, map its own uid and gid (and nothing
    else) so that files keep their owners; the only mapping an ordinary user may write."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def drop_capabilities() -> None:
    """Give up every capability for good (the bounding set too): what the creator of a user
    namespace holds inside it must not reach the skill, which keeps the engine's uid."""
    for cap in range(last_cap() + 1):
        _prctl(_PR_CAPBSET_DROP, cap)
    _capset(0, 0, 0)
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    header = ctypes.create_string_buffer(struct.pack("=Ii", _LINUX_CAPABILITY_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(struct.pack(
        "=IIIIII", effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
        effective >> 32, permitted >> 32, inheritable >> 32), 24)
    if _libc.syscall(_NR_CAPSET, header, data) != 0:
        err = ctypes.get_errno()
        raise PrivilegeError(err, f"capset: {os.strerror(err)}")


def drop_to_uid(uid: int, gid: int, *, keep_read_search: bool = False) -> None:
    """Become ``uid``/``gid`` for good, with no capability left (or only
    CAP_DAC_READ_SEARCH, raised as ambient, with ``keep_read_search``). Needs root."""
    keep = CAP_DAC_READ_SEARCH if keep_read_search else -1
    for cap in range(last_cap() + 1):
        if cap != keep:
            _prctl(_PR_CAPBSET_DROP, cap)
    _prctl(_PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _prctl(_PR_SET_KEEPCAPS, 0)
    mask = 1 << CAP_DAC_READ_SEARCH if keep_read_search else 0
    _capset(mask, mask, mask)
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    if keep_read_search:
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH)


def set_no_new_privs() -> None:
    _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: needed before Landlock without CAP_SYS_ADMIN
