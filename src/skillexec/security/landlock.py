"""Landlock, driven with raw syscalls: confine file access, TCP and IPC scopes of a process.

Landlock is allow-list only: a ruleset names the rights it *handles*; every handled right is
then denied except beneath the paths (or on the ports) given a rule. Rulesets stack: a
process restricted twice gets the intersection, which is how the zygote's layer (every
workdir) and each child's layer (its own workdir) combine.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

__all__ = [
    "FS_READ",
    "FS_WRITE",
    "LandlockError",
    "LandlockRules",
    "PreparedRuleset",
    "abi_version",
    "enforce",
    "open_rule_fds",
    "restrict_self",
]

_NR_CREATE_RULESET = 444
_NR_ADD_RULE = 445
_NR_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

FS_READ = EXECUTE | READ_FILE | READ_DIR
FS_WRITE = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM
            | MAKE_FIFO | MAKE_SOCK | REFER | TRUNCATE)
# Rights that make sense on a file (not a directory): the kernel refuses the others there.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class LandlockError(OSError):
    pass


@cache
def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled."""
    res = _syscall(_NR_CREATE_RULESET, None, ctypes.c_size_t(0),
                   ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return int(res) if res > 0 else 0


def _handled_fs(abi: int) -> int:
    rights = FS_READ | FS_WRITE | MAKE_CHAR | MAKE_BLOCK
    if abi < 2:
        rights &= ~REFER
    if abi < 3:
        rights &= ~TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


@dataclass(frozen=True, slots=True)
class LandlockRules:
    """What stays allowed. Paths that do not exist are skipped (a rule needs an open fd)."""

    read_paths: tuple[str, ...] = ()
    write_paths: tuple[str, ...] = ()  # read and write
    deny_tcp: bool = True  # handle TCP bind/connect (ABI 4+), allowing only connect_ports
    connect_ports: tuple[int, ...] = ()
    scoped: bool = True  # abstract unix sockets and signals stay inside the domain (ABI 6+)


def open_rule_fds(paths: Iterable[str]) -> list[tuple[int, bool]]:
    """O_PATH descriptors for rule paths, opened before any restriction; (fd, is_dir)."""
    out: list[tuple[int, bool]] = []
    for p in paths:
        try:
            fd = os.open(p, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        # fstat works on an O_PATH fd, and needs no /proc (which Landlock may hide).
        out.append((fd, stat.S_ISDIR(os.fstat(fd).st_mode)))
    return out


class PreparedRuleset:
    """A ruleset's attribute and rule buffers, built once (in the zygote) so that applying
    it per attempt (in each forked child) is only the syscalls: every Python object a child
    touches costs it a copy-on-write page fault.
    """

    __slots__ = ("_attr", "_attr_len", "_rules", "ahead_fd", "handled_fs")

    def __init__(self, rules: LandlockRules, read_fds: Sequence[tuple[int, bool]],
                 write_fds: Sequence[tuple[int, bool]] = ()) -> None:
        abi = abi_version()
        if abi < 1:
            raise LandlockError("Landlock is not available on this kernel")
        if rules.deny_tcp and rules.connect_ports and abi < 4:
            # database_access without TCP rules would be the whole network: fail closed.
            raise LandlockError(f"TCP port rules need Landlock ABI 4; this kernel has {abi}")
        handled_fs = _handled_fs(abi)
        handled_net = NET_BIND_TCP | NET_CONNECT_TCP if rules.deny_tcp and abi >= 4 else 0
        scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if rules.scoped and abi >= 6 else 0
        if abi >= 6:
            attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
        elif abi >= 4:
            attr = struct.pack("=QQ", handled_fs, handled_net)
        else:
            attr = struct.pack("=Q", handled_fs)
        self.handled_fs = handled_fs
        self._attr = ctypes.create_string_buffer(attr, len(attr))
        self._attr_len = ctypes.c_size_t(len(attr))
        rule_bufs: list[tuple[ctypes.c_int, ctypes.Array[ctypes.c_char]]] = []
        path_type = ctypes.c_int(_RULE_PATH_BENEATH)
        for fds, rights in ((read_fds, FS_READ), (write_fds, handled_fs)):
            for fd, is_dir in fds:
                rule_bufs.append((path_type, _path_rule(handled_fs, rights, fd, is_dir)))
        if handled_net:
            port_type = ctypes.c_int(_RULE_NET_PORT)
            for port in rules.connect_ports:
                b = struct.pack("=QQ", NET_CONNECT_TCP, port)
                rule_bufs.append((port_type, ctypes.create_string_buffer(b, len(b))))
        self._rules = tuple(rule_bufs)
        # A ruleset holding the prepared rules, built before it is needed (build_ahead):
        # the next build() only adds its own rules to it. -1: none.
        self.ahead_fd = -1

    def restrict_self(self, extra_write_fds: Sequence[tuple[int, bool]] = ()) -> None:
        """Create the ruleset, add the prepared rules and ``extra_write_fds``, enforce it."""
        ruleset = self.build(extra_write_fds)
        try:
            enforce(ruleset)
        finally:
            os.close(ruleset)

    def build_ahead(self) -> None:
        """Build the next ruleset's prepared part now (a zygote does it while no child
        runs): adding each rule is a system call of several microseconds, so with a score
        of paths that is most of what preparing a child costs, on the call's path."""
        if self.ahead_fd < 0:
            self.ahead_fd = self._prepared()

    def build(self, extra_write_fds: Sequence[tuple[int, bool]] = ()) -> int:
        """A ruleset fd with the prepared rules and ``extra_write_fds``; the caller closes it.

        The zygote builds each child's ruleset before forking it, so the child's part is a
        single ``enforce``. A ruleset is copied into the domain when it is enforced, so the
        fd is only ever used once, by the one child it was built for; one built ahead is
        taken (it then belongs to that one build alone).
        """
        ruleset, self.ahead_fd = self.ahead_fd, -1
        if ruleset < 0:
            ruleset = self._prepared()
        try:
            self.add_writes(ruleset, extra_write_fds)
        except BaseException:
            os.close(ruleset)
            raise
        return ruleset

    def add_writes(self, ruleset: int, write_fds: Sequence[tuple[int, bool]]) -> None:
        """Add rules allowing writes beneath ``write_fds`` to ``ruleset`` (one of ours, not
        enforced yet: a spare adds its call's workdir to the one built for it)."""
        if write_fds:
            rs = ctypes.c_int(ruleset)
            path_type = ctypes.c_int(_RULE_PATH_BENEATH)
            for fd, is_dir in write_fds:
                _add_rule_buf(rs, path_type,
                              _path_rule(self.handled_fs, self.handled_fs, fd, is_dir))

    def _prepared(self) -> int:
        ruleset = _syscall(_NR_CREATE_RULESET, self._attr, self._attr_len, _ZERO_U32)
        if ruleset < 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"landlock_create_ruleset: {os.strerror(err)}")
        try:
            rs = ctypes.c_int(ruleset)
            syscall = _syscall
            # Inlined (no helper call per rule): this runs for every child, in the zygote,
            # where every page it touches after a fork is a copy-on-write fault.
            for rule_type, buf in self._rules:
                if syscall(_NR_ADD_RULE, rs, rule_type, buf, _ZERO_U32) < 0:
                    err = ctypes.get_errno()
                    raise LandlockError(err, f"landlock_add_rule: {os.strerror(err)}")
        except BaseException:
            os.close(ruleset)
            raise
        return int(ruleset)


def enforce(ruleset_fd: int) -> None:
    """Confine the calling thread (and its future children) to a built ruleset.

    Needs no_new_privs (the zygote sets it; children inherit it). Raises LandlockError.
    """
    if _syscall(_NR_RESTRICT_SELF, ctypes.c_int(ruleset_fd), _ZERO_U32) < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock_restrict_self: {os.strerror(err)}")


_ZERO_U32 = ctypes.c_uint32(0)


def _path_rule(handled_fs: int, rights: int, fd: int, is_dir: bool,
               ) -> ctypes.Array[ctypes.c_char]:
    allowed = (rights & handled_fs) if is_dir else (rights & handled_fs & _FILE_RIGHTS)
    b = struct.pack("=Qi", allowed, fd)
    return ctypes.create_string_buffer(b, len(b))


def restrict_self(rules: LandlockRules, *, read_fds: list[tuple[int, bool]] | None = None,
                  write_fds: list[tuple[int, bool]] | None = None) -> int:
    """Apply ``rules`` to the calling thread (and its future children). Returns the ABI used.

    The caller must have set no_new_privs (or hold CAP_SYS_ADMIN). Raises LandlockError
    when the kernel has no Landlock: callers fail closed.
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockError("Landlock is not available on this kernel")
    own: list[int] = []
    try:
        if read_fds is None:
            read_fds = open_rule_fds(rules.read_paths)
            own += [fd for fd, _ in read_fds]
        if write_fds is None:
            write_fds = open_rule_fds(rules.write_paths)
            own += [fd for fd, _ in write_fds]
        PreparedRuleset(rules, read_fds, write_fds).restrict_self()
    finally:
        for fd in own:
            os.close(fd)
    return abi


def _add_rule_buf(ruleset: ctypes.c_int, rule_type: ctypes.c_int,
                  buf: ctypes.Array[ctypes.c_char]) -> None:
    if _syscall(_NR_ADD_RULE, ruleset, rule_type, buf, _ZERO_U32) < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock_add_rule: {os.strerror(err)}")
