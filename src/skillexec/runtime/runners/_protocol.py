"""Frames between the engine, a zygote and a child: length-prefixed JSON (orjson) or bytes.

A frame is a 5-byte header — payload length (big-endian u32) and a kind byte — then the
payload. Every reader checks the length against a cap *before* reading the payload, so a
hostile child cannot make the engine allocate more than the cap (the engine's reader is
``_attempt._Conn``; the child reads and writes its raw fd). Nothing is ever pickled.

The engine↔zygote control channel is a SOCK_SEQPACKET socket instead: one small JSON
message per packet, with file descriptors attached (SCM_RIGHTS) to fork requests.
"""

from __future__ import annotations

import array
import os
import socket
import struct
from typing import Any

import orjson

__all__ = [
    "HEADER_SIZE",
    "HELLO",
    "KIND_BYTES",
    "KIND_JSON",
    "FrameTooLarge",
    "ProtocolError",
    "encode_frame",
    "encode_json_body",
    "parse_header",
    "read_frame_fd",
    "recv_control",
    "recv_control_into",
    "send_control",
    "write_all",
]

KIND_JSON = 0x4A  # "J"
KIND_BYTES = 0x42  # "B"
# A child in a PID namespace sends this one byte first on its socket (see ``_channels.peer_pid``).
HELLO = b"H"
_HEADER = struct.Struct(">IB")
HEADER_SIZE = _HEADER.size
CONTROL_MAX_BYTES = 256 * 1024
# A call's request as a spare reads it (see _spare): a request the zygote would take.
SPARE_REQUEST_MAX_BYTES = CONTROL_MAX_BYTES
CONTROL_MAX_FDS = 8


class ProtocolError(Exception):
    pass


class FrameTooLarge(ProtocolError):
    def __init__(self, size: int, cap: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the cap of {cap} bytes")
        self.size = size
        self.cap = cap


def encode_frame(payload: Any, *, kind: int = KIND_JSON) -> bytes:
    body = payload if kind == KIND_BYTES else orjson.dumps(payload)
    return _HEADER.pack(len(body), kind) + body


def parse_header(data: bytes | bytearray) -> tuple[int, int]:
    """(payload size, kind) from the first HEADER_SIZE bytes of ``data``."""
    size, kind = _HEADER.unpack_from(data)
    return int(size), int(kind)


def encode_json_body(body: bytes) -> bytes:
    """A JSON frame around a payload already serialised (to check its size first)."""
    return _HEADER.pack(len(body), KIND_JSON) + body


def write_all(fd: int, data: bytes) -> None:
    """``sendall`` on a raw descriptor: the child talks over its socket's fd, not a socket
    object (creating one costs a forked child a few dozen page faults)."""
    n = os.write(fd, data)
    if n < len(data):
        view = memoryview(data)
        while n < len(data):
            n += os.write(fd, view[n:])


def _read_exact_fd(fd: int, n: int) -> bytes:
    data = os.read(fd, n)
    if len(data) == n:
        return data
    buf = bytearray(data)
    while len(buf) < n:
        if not data:
            raise EOFError("peer closed the channel")
        data = os.read(fd, min(n - len(buf), 1 << 20))
        buf += data
    return bytes(buf)


def read_frame_fd(fd: int, *, cap: int) -> tuple[int, Any]:
    """One frame from a raw descriptor (the child's end); EOFError at the end,
    FrameTooLarge before reading an oversized one."""
    size, kind = _HEADER.unpack(_read_exact_fd(fd, _HEADER.size))
    if size > cap:
        raise FrameTooLarge(size, cap)
    body = _read_exact_fd(fd, size)
    return kind, (body if kind == KIND_BYTES else orjson.loads(body))


def send_control(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None,
                 ) -> None:
    data = orjson.dumps(message)
    if len(data) > CONTROL_MAX_BYTES:
        raise FrameTooLarge(len(data), CONTROL_MAX_BYTES)
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def recv_control(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One control message and the descriptors that came with it; EOFError when closed."""
    data, fds, _flags, _addr = socket.recv_fds(sock, CONTROL_MAX_BYTES, CONTROL_MAX_FDS)
    if not data:
        for fd in fds:
            _close(fd)
        raise EOFError("control channel closed")
    msg = orjson.loads(data)
    if not isinstance(msg, dict):
        raise ProtocolError("control message is not an object")
    return msg, list(fds)


_ANCBUF = socket.CMSG_SPACE(CONTROL_MAX_FDS * 4)
_TRUNCATED = socket.MSG_TRUNC | socket.MSG_CTRUNC


def recv_control_into(sock: socket.socket, buf: bytearray, *, flags: int = 0,
                      ) -> tuple[dict[str, Any], list[int]]:
    """``recv_control`` into a buffer of CONTROL_MAX_BYTES made once (the zygote's loop):
    ``socket.recv_fds`` allocates that much per message and parses in Python, and after a
    fork every page the zygote touches is a copy-on-write fault."""
    n, ancdata, mflags, _addr = sock.recvmsg_into((buf,), _ANCBUF, flags)
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", data[:len(data) - len(data) % 4]).tolist()
    if n == 0 or mflags & _TRUNCATED:
        for fd in fds:
            _close(fd)
        if n == 0:
            raise EOFError("control channel closed")
        raise ProtocolError("control message truncated")
    msg = orjson.loads(bytes(buf[:n]))
    if not isinstance(msg, dict):
        for fd in fds:
            _close(fd)
        raise ProtocolError("control message is not an object")
    return msg, fds


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
