"""A seccomp-BPF filter written by hand: deny the syscalls a skill never needs.

The program checks the architecture first (a foreign-arch or x32 syscall number would
otherwise slip past the table), then answers EPERM for each denied syscall, EPERM for
AF_UNIX / raw / packet sockets and for clone() with namespace flags, ENOSYS for clone3
(its flags live in memory BPF cannot read; libc falls back to clone), and allows the rest.
``sendto`` is never filtered: asyncio's self-pipe needs it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

__all__ = ["SeccompError", "SeccompProgram", "build_filter", "install_filter", "supported"]

_PR_SET_NO_NEW_PRIVS = 38
_NR_SECCOMP = 317
_SECCOMP_SET_MODE_FILTER = 1
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_AND_K = 0x54

# struct seccomp_data: nr (0), arch (4), instruction_pointer (8), args[6] (16 + 8*i)
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0 = 16
_OFF_ARG1 = 24

# x86_64 syscall numbers
DENIED_SYSCALLS: dict[str, int] = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "unshare": 272, "setns": 308, "bpf": 321, "perf_event_open": 298,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "keyctl": 250, "add_key": 248, "request_key": 249,
    "open_by_handle_at": 304, "name_to_handle_at": 303,  # bypass path-based checks
    "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
    "userfaultfd": 323, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "open_tree": 428, "move_mount": 429, "mount_setattr": 442, "settimeofday": 164,
    "clock_settime": 227, "adjtimex": 159, "personality": 135,
}
_NR_SOCKET = 41
_NR_CLONE = 56
_NR_CLONE3 = 435
_AF_UNIX = 1
_AF_INET = 2
_AF_INET6 = 10
_AF_PACKET = 17
_SOCK_RAW = 3
_SOCK_TYPE_MASK = 0xF
# CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP, NEWTIME
_CLONE_NAMESPACES = (0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
                     | 0x40000000 | 0x02000000 | 0x00000080)


class SeccompError(OSError):
    pass


@dataclass(frozen=True, slots=True)
class SeccompProgram:
    code: bytes  # packed struct sock_filter[]
    length: int
    allow_inet_raw: bool


def supported() -> bool:
    return platform.machine() == "x86_64"


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def build_filter(*, allow_network: bool) -> SeccompProgram:
    """Build the filter once (in the zygote); each child installs the same bytes."""
    if not supported():
        raise SeccompError("the seccomp filter is written for x86_64 only")
    eperm = _RET_ERRNO | errno.EPERM
    prog: list[bytes] = [
        _ins(_LD_W_ABS, 0, 0, _OFF_ARCH),
        _ins(_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64),
        _ins(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _ins(_LD_W_ABS, 0, 0, _OFF_NR),
        _ins(_JGE_K, 0, 1, _X32_SYSCALL_BIT),
        _ins(_RET_K, 0, 0, _RET_KILL_PROCESS),
    ]
    for nr in sorted(DENIED_SYSCALLS.values()):
        prog += [_ins(_JEQ_K, 0, 1, nr), _ins(_RET_K, 0, 0, eperm)]
    prog += [_ins(_JEQ_K, 0, 1, _NR_CLONE3), _ins(_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    # clone(flags, ...): namespace flags in the low 32 bits of arg0
    prog += [
        _ins(_JEQ_K, 0, 4, _NR_CLONE),
        _ins(_LD_W_ABS, 0, 0, _OFF_ARG0),
        _ins(_JSET_K, 0, 1, _CLONE_NAMESPACES),
        _ins(_RET_K, 0, 0, eperm),
        _ins(_RET_K, 0, 0, _RET_ALLOW),
    ]
    # socket(domain, type, protocol)
    sock: list[bytes] = [
        _ins(_LD_W_ABS, 0, 0, _OFF_ARG0),
        _ins(_JEQ_K, 0, 1, _AF_UNIX),
        _ins(_RET_K, 0, 0, eperm),
    ]
    if not allow_network:
        sock += [
            _ins(_JEQ_K, 0, 1, _AF_PACKET),
            _ins(_RET_K, 0, 0, eperm),
            _ins(_JEQ_K, 1, 0, _AF_INET),
            _ins(_JEQ_K, 0, 4, _AF_INET6),
            _ins(_LD_W_ABS, 0, 0, _OFF_ARG1),
            _ins(_AND_K, 0, 0, _SOCK_TYPE_MASK),
            _ins(_JEQ_K, 0, 1, _SOCK_RAW),
            _ins(_RET_K, 0, 0, eperm),
        ]
    sock.append(_ins(_RET_K, 0, 0, _RET_ALLOW))
    prog += [_ins(_JEQ_K, 0, len(sock), _NR_SOCKET), *sock]
    prog.append(_ins(_RET_K, 0, 0, _RET_ALLOW))
    return SeccompProgram(code=b"".join(prog), length=len(prog),
                          allow_inet_raw=allow_network)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_filter(program: SeccompProgram) -> None:
    """Set no_new_privs and load the filter for the calling thread and its descendants."""
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, "prctl(PR_SET_NO_NEW_PRIVS) failed")
    buf = ctypes.create_string_buffer(program.code, len(program.code))
    fprog = _SockFprog(program.length, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.syscall(_NR_SECCOMP, _SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(fprog)) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, f"seccomp(SET_MODE_FILTER): {os.strerror(err)}")
