"""The byte channels of an attempt, engine side: a child's stdout/stderr pipe collected up
to a cap, its socket read as whole, size-checked frames, and its pid from the kernel's
credentials on that socket."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

import orjson

from skillexec.runtime.runners import _protocol as proto

__all__ = ["Capture", "Conn", "NoCredentials", "peer_pid", "socket_pair"]

_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid
_CMSG_UCRED = socket.CMSG_SPACE(_UCRED.size)


class NoCredentials(Exception):
    """The child's first byte came without its credentials, or was not the hello."""


def socket_pair(*, passcred: bool) -> tuple[socket.socket, socket.socket]:
    """The engine's (non-blocking) and a child's ends of its socket. ``passcred``: the
    child's first bytes will carry its pid as the engine's namespace numbers it (see
    ``peer_pid``), which must be asked for before the child can send them."""
    engine_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if passcred:
        engine_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    engine_end.setblocking(False)
    return engine_end, child_end


async def peer_pid(sock: socket.socket) -> int:
    """The pid, in the engine's PID namespace, of the child that sent ``HELLO`` first on
    ``sock`` (a non-blocking socket with SO_PASSCRED set before the child was forked): the
    kernel translates the sender's pid into the reader's namespace. 0 if the socket closed
    first: the child is gone, or was never forked (the zygote closes what it was sent for
    a child it refuses or cannot fork, and what a dead zygote held closes with it). Only
    the hello byte is read.

    NoCredentials when something else arrived: the caller then knows no process to confine
    and must not let the attempt run (fail closed)."""
    while True:
        try:
            data, anc, _flags, _addr = sock.recvmsg(1, _CMSG_UCRED)
            break
        except BlockingIOError:
            await _readable(sock)
    if not data:
        return 0
    for level, kind, payload in anc:
        if (level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
                and len(payload) >= _UCRED.size and data == proto.HELLO):
            pid = int(_UCRED.unpack_from(payload)[0])
            if pid > 0:
                return pid
    raise NoCredentials("the child's socket carried no credentials with its hello")


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(sock.fileno(), ready)
    try:
        await fut
    finally:
        loop.remove_reader(sock.fileno())


class Capture:
    """Collects a pipe (stdout or stderr) up to ``cap`` bytes; past it, ``overflow`` is set."""

    def __init__(self, fd: int, *, cap: int, overflow: asyncio.Future[None],
                 tap: Callable[[bytes], None] | None = None) -> None:
        self.fd = fd
        self.cap = cap
        self.tap = tap  # sees each chunk kept (a script's lines as its progress)
        self.buf = bytearray()
        self.overflowed = False
        self.eof = asyncio.Event()
        self._overflow = overflow
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._on_readable)

    def _on_readable(self) -> bool:
        """Read what the pipe holds (one read); False when it held nothing."""
        try:
            chunk = os.read(self.fd, 256 * 1024)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self.close()
            return False
        if len(self.buf) + len(chunk) > self.cap:
            self.overflowed = True
            if not self._overflow.done():
                self._overflow.set_result(None)
            self.close()
            return False
        self.buf += chunk
        if self.tap is not None:
            self.tap(chunk)
        return True

    def drain(self) -> None:
        """Everything the pipe holds now (the writer is done: see _child_script.end)."""
        while self.fd >= 0 and self._on_readable():
            pass

    def close(self) -> None:
        if self.fd >= 0:
            asyncio.get_running_loop().remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
        self.eof.set()

    def tail(self, n: int = 4000) -> str:
        return bytes(self.buf[-n:]).decode(errors="replace")


class Conn:
    """The engine's end of a child's socket: whole frames in, bytes out.

    Reads ask the kernel for what the current frame still lacks (at most 64 KiB more), so
    what a child sends beyond the frame being read stays in the socket, not in memory; a
    frame's size is checked against its cap before its body is read.
    """

    __slots__ = ("_buf", "_loop", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._buf = bytearray()

    async def _fill(self, n: int) -> None:
        buf = self._buf
        while len(buf) < n:
            data = await self._loop.sock_recv(self._sock, min(n - len(buf), 64 * 1024))
            if not data:
                raise EOFError("peer closed the channel")
            buf += data

    async def read_frame(self, *, cap: int) -> tuple[int, Any]:
        """One frame; EOFError at the end, FrameTooLarge before reading an oversized one."""
        await self._fill(proto.HEADER_SIZE)
        size, kind = proto.parse_header(self._buf)
        if size > cap:
            raise proto.FrameTooLarge(size, cap)
        end = proto.HEADER_SIZE + size
        await self._fill(end)
        body = bytes(self._buf[proto.HEADER_SIZE:end])
        del self._buf[:end]
        if kind == proto.KIND_BYTES:
            return kind, body
        try:
            return kind, orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise proto.ProtocolError(f"malformed frame: {exc}") from exc

    async def send(self, data: bytes) -> None:
        await self._loop.sock_sendall(self._sock, data)
