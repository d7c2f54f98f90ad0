"""A seccomp-BPF filter written by hand: a denylist of syscalls, an allowlist of sockets.

The program checks the architecture first (a foreign-arch or x32 syscall number would
otherwise slip past the table), then answers EPERM for each denied syscall and for
clone() with namespace flags, ENOSYS for clone3 (its flags live in memory BPF cannot read;
libc falls back to clone), and allows the rest — except sockets, which are an allowlist:

- ``socket``: IPv4/IPv6 TCP (``SOCK_STREAM`` with protocol 0, TCP or MPTCP) and UDP/ping
  (``SOCK_DGRAM`` with protocol 0, UDP, ICMP, ICMPv6); with ``tcp_only`` (the
  ``database_access`` grant) only TCP itself — MPTCP and UDP are not ports Landlock can
  confine. Netlink only for ``NETLINK_ROUTE``: glibc's getaddrinfo asks it which address
  families are configured, and every change it could make needs CAP_NET_ADMIN, which a
  skill does not hold; the other netlink families (sock_diag lists the host's sockets,
  uevents, audit...) are refused. Every other family — AF_UNIX, AF_VSOCK, AF_PACKET,
  raw sockets, AF_ALG... — is refused.
- ``socketpair``: only ``AF_UNIX``/``SOCK_STREAM``, what asyncio's self-pipe and
  multiprocessing's duplex ``Pipe`` use. A stream socket refuses ``sendto`` with an
  address; a datagram pair would not, and so would reach the host's datagram sockets
  (``/dev/log``).

``sendto`` is never filtered: asyncio's self-pipe needs it. BPF cannot read the address
a ``connect`` names, so hosts cannot be checked here: ports are Landlock's (ABI 4+).
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
_BPF_MAXINSNS = 4096

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_AND_K = 0x54

# struct seccomp_data: nr (0), arch (4), instruction_pointer (8), args[6] (16 + 8*i);
# the low 32 bits of each argument (little-endian), all the kernel reads of an int.
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG = (16, 24, 32)

# x86_64 syscall numbers
DENIED_SYSCALLS: dict[str, int] = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "pidfd_getfd": 438, "process_madvise": 440, "kcmp": 312,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "unshare": 272, "setns": 308, "bpf": 321, "perf_event_open": 298,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "keyctl": 250, "add_key": 248, "request_key": 249,
    "open_by_handle_at": 304, "name_to_handle_at": 303,  # bypass path-based checks
    "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
    "userfaultfd": 323, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "open_tree": 428, "move_mount": 429, "mount_setattr": 442, "settimeofday": 164,
    "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "personality": 135,
    "syslog": 103, "iopl": 172, "ioperm": 173, "quotactl": 179, "quotactl_fd": 443,
    "lookup_dcookie": 212, "vhangup": 153, "uselib": 134, "fanotify_init": 300,
}
_NR_SOCKET = 41
_NR_SOCKETPAIR = 53
_NR_CLONE = 56
_NR_CLONE3 = 435
_AF_UNIX = 1
_AF_INET = 2
_AF_INET6 = 10
_AF_NETLINK = 16
_SOCK_STREAM = 1
_SOCK_DGRAM = 2
_SOCK_RAW = 3
_SOCK_TYPE_MASK = 0xF  # the rest of the type argument is SOCK_NONBLOCK | SOCK_CLOEXEC
_IPPROTO_ICMP = 1
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_IPPROTO_ICMPV6 = 58
_IPPROTO_MPTCP = 262
_NETLINK_ROUTE = 0
# CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP, NEWTIME
_CLONE_NAMESPACES = (0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
                     | 0x40000000 | 0x02000000 | 0x00000080)


class SeccompError(OSError):
    pass


@dataclass(frozen=True, slots=True)
class SeccompProgram:
    code: bytes  # packed struct sock_filter[]
    length: int
    tcp_only: bool  # IP sockets limited to TCP (database_access without network_access)


def supported() -> bool:
    return platform.machine() == "x86_64"


_Target = str | None  # a label, or None: the next instruction


class _Asm:
    """Classic BPF with forward jumps to labels, resolved (and range-checked) at the end:
    the offsets are what a hand-written filter most easily gets wrong."""

    def __init__(self) -> None:
        self._ins: list[tuple[int, _Target, _Target, int]] = []
        self._labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        assert name not in self._labels, name
        self._labels[name] = len(self._ins)

    def load(self, offset: int) -> None:
        self._ins.append((_LD_W_ABS, None, None, offset))

    def and_(self, k: int) -> None:
        self._ins.append((_AND_K, None, None, k))

    def jump(self, op: int, k: int, *, jt: _Target = None, jf: _Target = None) -> None:
        self._ins.append((op, jt, jf, k))

    def ret(self, k: int) -> None:
        self._ins.append((_RET_K, None, None, k))

    def code(self) -> tuple[bytes, int]:
        out: list[bytes] = []
        for i, (op, jt, jf, k) in enumerate(self._ins):
            out.append(struct.pack("=HBBI", op, self._offset(i, jt), self._offset(i, jf),
                                   k & 0xFFFFFFFF))
        if len(out) > _BPF_MAXINSNS:
            raise SeccompError(f"the filter has {len(out)} instructions, over the kernel's "
                               f"{_BPF_MAXINSNS}")
        return b"".join(out), len(out)

    def _offset(self, at: int, target: _Target) -> int:
        if target is None:
            return 0
        off = self._labels[target] - at - 1
        if not 0 <= off <= 255:
            raise SeccompError(f"jump from {at} to {target!r} is out of range ({off})")
        return off


def _one_of(asm: _Asm, values: tuple[int, ...], *, yes: str, no: str) -> None:
    """Jump to ``yes`` when the accumulator is one of ``values``, else to ``no``."""
    for i, v in enumerate(values):
        asm.jump(_JEQ_K, v, jt=yes, jf=no if i == len(values) - 1 else None)


def build_filter(*, allow_network: bool = False, tcp_only: bool = False) -> SeccompProgram:
    """Build the filter once (in the zygote); each child inherits it.

    ``tcp_only``: IP sockets only for TCP (the ``database_access`` grant, whose ports
    Landlock confines). ``allow_network`` changes nothing here since the socket allowlist
    is the same with or without a network namespace; it is kept for callers.
    """
    del allow_network
    if not supported():
        raise SeccompError("the seccomp filter is written for x86_64 only")
    a = _Asm()
    a.load(_OFF_ARCH)
    a.jump(_JEQ_K, _AUDIT_ARCH_X86_64, jf="kill")
    a.load(_OFF_NR)
    a.jump(_JGE_K, _X32_SYSCALL_BIT, jt="kill")
    a.jump(_JEQ_K, _NR_SOCKET, jt="socket")
    a.jump(_JEQ_K, _NR_SOCKETPAIR, jt="socketpair")
    a.jump(_JEQ_K, _NR_CLONE, jt="clone")
    a.jump(_JEQ_K, _NR_CLONE3, jt="enosys")
    for nr in sorted(DENIED_SYSCALLS.values()):
        a.jump(_JEQ_K, nr, jt="deny")
    a.ret(_RET_ALLOW)

    a.label("clone")  # clone(flags, ...): namespace flags in the low 32 bits of arg0
    a.load(_OFF_ARG[0])
    a.jump(_JSET_K, _CLONE_NAMESPACES, jt="deny", jf="allow")

    a.label("socket")  # socket(family, type, protocol)
    a.load(_OFF_ARG[0])
    a.jump(_JEQ_K, _AF_INET, jt="inet")
    a.jump(_JEQ_K, _AF_INET6, jt="inet")
    a.jump(_JEQ_K, _AF_NETLINK, jt="netlink", jf="deny")
    a.label("inet")
    a.load(_OFF_ARG[1])
    a.and_(_SOCK_TYPE_MASK)
    if tcp_only:
        a.jump(_JEQ_K, _SOCK_STREAM, jf="deny")
        a.load(_OFF_ARG[2])
        _one_of(a, (0, _IPPROTO_TCP), yes="allow", no="deny")
    else:
        a.jump(_JEQ_K, _SOCK_STREAM, jt="inet_stream")
        a.jump(_JEQ_K, _SOCK_DGRAM, jt="inet_dgram", jf="deny")
        a.label("inet_stream")
        a.load(_OFF_ARG[2])
        _one_of(a, (0, _IPPROTO_TCP, _IPPROTO_MPTCP), yes="allow", no="deny")
        a.label("inet_dgram")
        a.load(_OFF_ARG[2])
        _one_of(a, (0, _IPPROTO_UDP, _IPPROTO_ICMP, _IPPROTO_ICMPV6), yes="allow", no="deny")
    a.label("netlink")
    a.load(_OFF_ARG[1])
    a.and_(_SOCK_TYPE_MASK)
    _one_of(a, (_SOCK_RAW, _SOCK_DGRAM), yes="netlink_proto", no="deny")
    a.label("netlink_proto")
    a.load(_OFF_ARG[2])
    a.jump(_JEQ_K, _NETLINK_ROUTE, jt="allow", jf="deny")

    a.label("socketpair")  # socketpair(family, type, protocol, sv)
    a.load(_OFF_ARG[0])
    a.jump(_JEQ_K, _AF_UNIX, jf="deny")
    a.load(_OFF_ARG[1])
    a.and_(_SOCK_TYPE_MASK)
    a.jump(_JEQ_K, _SOCK_STREAM, jf="deny")
    a.load(_OFF_ARG[2])
    a.jump(_JEQ_K, 0, jt="allow", jf="deny")

    a.label("allow")
    a.ret(_RET_ALLOW)
    a.label("deny")
    a.ret(_RET_ERRNO | errno.EPERM)
    a.label("enosys")
    a.ret(_RET_ERRNO | errno.ENOSYS)
    a.label("kill")
    a.ret(_RET_KILL_PROCESS)
    code, length = a.code()
    return SeccompProgram(code=code, length=length, tcp_only=tcp_only)


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
