"""The sandbox's reads and channels at the kernel level: the seccomp socket allowlist and the
zygote's private mount view, each tried in a real forked process."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import socket
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from skillexec.security import fsview, seccomp
from skillexec.security.privileges import drop_to_uid
from tests._isolation import need

pytestmark = pytest.mark.timeout(60)


def _in_child(fn: Callable[[], object]) -> object:
    """Run ``fn`` in a forked child; its JSON result (or the error) comes back by a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            out = json.dumps({"ok": fn()})
        except BaseException as exc:
            out = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    res = json.loads(data)
    assert "error" not in res, res["error"]
    return res["ok"]


_SOCKETS: dict[str, Callable[[], object]] = {
    "tcp": lambda: socket.socket(),
    "tcp6": lambda: socket.socket(socket.AF_INET6),
    "tcp_flags": lambda: socket.socket(
        socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 6),
    "udp": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
    "mptcp": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262),
    "sctp": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132),
    "raw": lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "unix": lambda: socket.socket(socket.AF_UNIX),
    "unix_dgram": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM),
    "vsock": lambda: socket.socket(40, socket.SOCK_STREAM),
    "packet": lambda: socket.socket(17, socket.SOCK_RAW),
    "alg": lambda: socket.socket(38, socket.SOCK_SEQPACKET),
    "netlink_route": lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0),
    "netlink_diag": lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4),
    "pair_stream": lambda: socket.socketpair(),
    "pair_dgram": lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM),
    "pair_seqpacket": lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET),
}
_ALLOWED = {"tcp", "tcp6", "tcp_flags", "udp", "mptcp", "netlink_route", "pair_stream"}
_ALLOWED_TCP_ONLY = {"tcp", "tcp6", "tcp_flags", "netlink_route", "pair_stream"}


@pytest.mark.parametrize("tcp_only", [False, True])
def test_socket_allowlist(tcp_only: bool) -> None:
    need(seccomp.supported(), "seccomp filter is x86_64 only")

    def trial() -> dict[str, object]:
        seccomp.install_filter(seccomp.build_filter(tcp_only=tcp_only))
        got: dict[str, object] = {}
        for name, make in _SOCKETS.items():
            try:
                make()
                got[name] = "ok"
            except OSError as exc:
                got[name] = exc.errno
        return got

    got = _in_child(trial)
    assert isinstance(got, dict)
    allowed = _ALLOWED_TCP_ONLY if tcp_only else _ALLOWED
    for name in allowed:
        # IPv6 or MPTCP may be missing from a kernel: that is its refusal, not ours.
        assert got[name] == "ok" or got[name] in (97, 93), (name, got[name])
    for name in set(_SOCKETS) - allowed:
        assert got[name] == 1, (name, got[name])  # EPERM: the filter's answer


def _root_only() -> None:
    need(os.geteuid() == 0, "the private mount view is made by root before the drop")


def test_private_view_opens_only_the_needed_trees() -> None:
    """Under a 0700 folder: the needed tree is reachable without a capability, its
    siblings are gone, and a 0600 key in a 0710 folder inside the tree stays private."""
    _root_only()
    base = Path(tempfile.mkdtemp(prefix="skillexec-view-"))
    try:
        base.chmod(0o700)
        needed = base / "lib" / "pkg"
        needed.mkdir(parents=True)
        (needed / "mod.py").write_text("x = 1\n")
        (base / "lib" / "sibling.txt").write_text("hidden")
        (base / "secret.txt").write_text("hidden")
        private = needed / "private"
        private.mkdir()
        (private / "key.pem").write_text("key")
        (private / "key.pem").chmod(0o600)
        private.chmod(0o710)
        # A needed tree beneath another one, past a private folder inside the first.
        deep_private = needed / "deep"
        (deep_private / "inner").mkdir(parents=True)
        (deep_private / "inner" / "data.txt").write_text("deep")
        deep_private.chmod(0o700)
        uid = random.randrange(3_000_000, 4_000_000)

        def trial() -> dict[str, object]:
            covered = fsview.reveal([str(needed), str(deep_private / "inner")],
                                    uid=uid, gid=uid)
            drop_to_uid(uid, uid)
            got: dict[str, object] = {"covered": list(covered)}
            for key, path in (("mod", needed / "mod.py"), ("sibling", base / "lib" / "sibling.txt"),
                              ("secret", base / "secret.txt"), ("key", private / "key.pem"),
                              ("deep", deep_private / "inner" / "data.txt")):
                try:
                    got[key] = path.read_text()
                except OSError as exc:
                    got[key] = exc.errno
                    got[key + "_hidden"] = fsview.hidden(str(path))
            try:
                got["listing"] = os.listdir(base)
            except OSError as exc:
                got["listing"] = exc.errno
            with open("/proc/self/status") as f:
                got["capeff"] = next(ln.split()[1] for ln in f if ln.startswith("CapEff"))
            return got

        got = _in_child(trial)
        assert isinstance(got, dict)
        assert got["mod"] == "x = 1\n" and got["deep"] == "deep"
        assert got["sibling"] == 2 and got["sibling_hidden"] is True  # ENOENT: not there
        assert got["secret"] == 2 and got["secret_hidden"] is True
        assert got["key"] == 13 and got["key_hidden"] is False  # EACCES: file modes hold
        assert got["capeff"] == "0000000000000000"
        assert got["listing"] == 13  # the way through, not a listing of what was revealed
        assert str(base) in got["covered"]  # type: ignore[operator]
        with open("/proc/self/mountinfo") as f:
            assert str(base) not in f.read(), "the view leaked into the host's mount table"
    finally:
        for p in (base, *base.rglob("*")):
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_no_view_when_nothing_is_private() -> None:
    _root_only()
    assert fsview.private_ancestors(["/usr/lib", "/etc/hosts"], uid=4_000_001,
                                    gid=4_000_001) == {}
    assert fsview.enter_view(["/usr/lib"], uid=None, gid=None) == ()


def _run_bpf(code: bytes, nr: int, args: tuple[int, ...], arch: int = 0xC000003E) -> int:
    """Classic BPF as the kernel runs a seccomp filter, for the few opcodes ours uses."""
    full = (*args, 0, 0, 0, 0, 0, 0)[:6]
    data = struct.pack("=iIQ6Q", nr, arch, 0, *(a & 0xFFFFFFFFFFFFFFFF for a in full))
    ins = [struct.unpack_from("=HBBI", code, i) for i in range(0, len(code), 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = ins[pc]
        if op == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
        elif op == 0x54:  # and #k
            acc &= k
        elif op == 0x06:  # ret #k
            return int(k)
        elif op in (0x15, 0x35, 0x45):  # jeq / jge / jset #k
            hit = acc == k if op == 0x15 else acc >= k if op == 0x35 else bool(acc & k)
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
        pc += 1


_EPERM = 0x00050000 | 1
_ALLOW = 0x7FFF0000


def _expected(nr: int, family: int, sock_type: int, proto: int, *, tcp_only: bool) -> int:
    """The policy the filter must implement, written plainly."""
    t = sock_type & 0xF
    if nr == 41:  # socket
        if family in (2, 10):
            if tcp_only:
                return _ALLOW if t == 1 and proto in (0, 6) else _EPERM
            ok = (t == 1 and proto in (0, 6, 262)) or (t == 2 and proto in (0, 17, 1, 58))
            return _ALLOW if ok else _EPERM
        if family == 16:
            return _ALLOW if t in (2, 3) and proto == 0 else _EPERM
        return _EPERM
    if nr == 53:  # socketpair
        return _ALLOW if family == 1 and t == 1 and proto == 0 else _EPERM
    if nr in seccomp.DENIED_SYSCALLS.values():
        return _EPERM
    return _ALLOW


_FAMILY_GRID = (0, 1, 2, 10, 16, 17, 38, 40, 44)
_TYPE_GRID = tuple(t | f for t in (1, 2, 3, 5, 10) for f in (0, 0o4000, 0o2000000))
_PROTO_GRID = (0, 1, 4, 6, 17, 58, 132, 136, 255, 262)


@pytest.mark.parametrize("tcp_only", [False, True])
def test_filter_matches_the_policy_on_every_case_that_matters(tcp_only: bool) -> None:
    """Every family, type (with and without flags) and protocol named anywhere in the
    policy, for socket and socketpair: the assembled program against the plain policy."""
    prog = seccomp.build_filter(tcp_only=tcp_only)
    for nr, family, sock_type, proto in itertools.product(
            (41, 53), _FAMILY_GRID, _TYPE_GRID, _PROTO_GRID):
        got = _run_bpf(prog.code, nr, (family, sock_type, proto))
        assert got == _expected(nr, family, sock_type, proto, tcp_only=tcp_only), \
            (nr, family, sock_type, proto)


@given(nr=st.integers(0, 460), family=st.integers(0, 2**32 - 1),
       sock_type=st.integers(0, 2**32 - 1), proto=st.integers(0, 2**32 - 1),
       tcp_only=st.booleans(), high=st.integers(0, 2**32 - 1))
@hyp_settings(max_examples=300, deadline=None)
def test_filter_matches_the_policy(nr: int, family: int, sock_type: int, proto: int,
                                   tcp_only: bool, high: int) -> None:
    """Any syscall with any arguments; the high 32 bits of an int argument are ignored,
    as by the kernel."""
    if nr in (56, 435):  # clone and clone3 have their own rules, checked below
        return
    prog = seccomp.build_filter(tcp_only=tcp_only)
    args = (family | high << 32, sock_type, proto)
    assert _run_bpf(prog.code, nr, args) == _expected(nr, family, sock_type, proto,
                                                      tcp_only=tcp_only)


def test_filter_arch_and_clone() -> None:
    prog = seccomp.build_filter()
    assert _run_bpf(prog.code, 41, (2, 1, 0), arch=0x40000003) == 0x80000000  # i386: killed
    assert _run_bpf(prog.code, 0x40000000 + 41, (2, 1, 0)) == 0x80000000  # x32: killed
    assert _run_bpf(prog.code, 435, ()) == 0x00050000 | 38  # clone3: ENOSYS
    assert _run_bpf(prog.code, 56, (0x01200011,)) == _ALLOW  # fork()'s flags
    assert _run_bpf(prog.code, 56, (0x40000000,)) == _EPERM  # CLONE_NEWNET
