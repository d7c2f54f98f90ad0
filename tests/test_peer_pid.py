"""How the engine learns a sandboxed child's pid: the kernel's credentials on the child's
first byte (``_channels.peer_pid``), tried with real forked processes, in a PID namespace
of their own where the kernel allows it."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from skillexec.runtime.capabilities import detect_capabilities
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._channels import NoCredentials, peer_pid
from skillexec.security.privileges import (
    CLONE_NEWPID,
    CLONE_NEWUSER,
    map_own_identity,
    unshare,
)
from tests._isolation import need

pytestmark = pytest.mark.timeout(60)


def _ns_pids(pid: int) -> list[int]:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no NSpid line")


def _engine_end() -> tuple[socket.socket, socket.socket]:
    engine, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    engine.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    engine.setblocking(False)
    return engine, child


def _fork_writer(child: socket.socket, data: bytes, *, delay_s: float = 0.0) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            if delay_s:
                import time
                time.sleep(delay_s)
            if data:
                os.write(child.fileno(), data)
        finally:
            os._exit(0)
    child.close()
    return pid


@pytest.mark.parametrize("delay_s", [0.0, 0.2])  # there already, or awaited
def test_the_hello_names_its_sender(delay_s: float) -> None:
    engine, child = _engine_end()
    pid = _fork_writer(child, proto.HELLO, delay_s=delay_s)
    try:
        assert asyncio.run(peer_pid(engine)) == pid
        # Only the hello is read: what follows is the frames' reader's.
        os.waitpid(pid, 0)
        assert engine.recv(16) == b""
    finally:
        engine.close()


def test_a_closed_socket_is_a_gone_child() -> None:
    engine, child = _engine_end()
    pid = _fork_writer(child, b"")
    try:
        assert asyncio.run(peer_pid(engine)) == 0
    finally:
        os.waitpid(pid, 0)
        engine.close()


def test_anything_but_the_hello_fails_closed() -> None:
    engine, child = _engine_end()
    pid = _fork_writer(child, b"\x00\x00\x00\x05J{}")  # a frame, not the hello
    try:
        with pytest.raises(NoCredentials):
            asyncio.run(peer_pid(engine))
    finally:
        os.waitpid(pid, 0)
        engine.close()


def test_without_passcred_there_is_no_pid() -> None:
    engine, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    engine.setblocking(False)
    pid = _fork_writer(child, proto.HELLO)
    try:
        with pytest.raises(NoCredentials):
            asyncio.run(peer_pid(engine))
    finally:
        os.waitpid(pid, 0)
        engine.close()


def test_the_pid_is_translated_out_of_a_pid_namespace() -> None:
    caps = detect_capabilities()
    need(caps.pid_namespaces, "PID namespaces are not available")
    engine, child = _engine_end()
    r, w = os.pipe()
    outer = os.fork()
    if outer == 0:  # pragma: no cover - the child: pid 1 of a namespace sends the hello
        try:
            os.close(r)
            engine.close()  # the engine's end is the engine's: its closing ends the wait
            uid, gid = os.getuid(), os.getgid()
            userns = os.geteuid() != 0
            unshare(CLONE_NEWPID | (CLONE_NEWUSER if userns else 0))
            if userns:
                map_own_identity(uid, gid)
            inner = os.fork()
            if inner == 0:
                os.write(w, str(os.getpid()).encode())
                os.write(child.fileno(), proto.HELLO)
                os.read(child.fileno(), 1)  # alive until the engine has looked
                os._exit(0)
            os.waitpid(inner, 0)
        finally:
            os._exit(0)
    child.close()
    os.close(w)
    try:
        host = asyncio.run(peer_pid(engine))
        assert os.read(r, 16) == b"1"  # it is pid 1 where it lives
        assert host not in (0, 1, outer)
        assert _ns_pids(host)[-1] == 1 and _ns_pids(host)[0] == host
        assert os.getppid() != host and host in _children(outer)
    finally:
        engine.close()
        os.close(r)
        os.waitpid(outer, 0)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]
