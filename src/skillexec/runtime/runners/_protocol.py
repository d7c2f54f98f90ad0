"""Frames between the engine, a zygote and a child: length-prefixed JSON (orjson) or bytes.

A frame is a 5-byte header — payload length (big-endian u32) and a kind byte — then the
payload. Every reader checks the length against a cap *before* reading the payload, so a
hostile child cannot make the engine allocate more than the cap. Nothing is ever pickled.

The engine↔zygote control channel is a SOCK_SEQPACKET socket instead: one small JSON
message per packet, with file descriptors attached (SCM_RIGHTS) to fork requests.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "KIND_BYTES",
    "KIND_JSON",
    "FrameTooLarge",
    "ProtocolError",
    "encode_frame",
    "encode_json_body",
    "read_frame_async",
    "read_frame_sync",
    "recv_control",
    "send_control",
    "write_frame_sync",
]

KIND_JSON = 0x4A  # "J"
KIND_BYTES = 0x42  # "B"
_HEADER = struct.Struct(">IB")
CONTROL_MAX_BYTES = 256 * 1024
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


def encode_json_body(body: bytes) -> bytes:
    """A JSON frame around a payload already serialised (to check its size first)."""
    return _HEADER.pack(len(body), KIND_JSON) + body


def write_frame_sync(sock: socket.socket, payload: Any, *, kind: int = KIND_JSON) -> None:
    sock.sendall(encode_frame(payload, kind=kind))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("peer closed the channel")
        buf += chunk
    return bytes(buf)


def read_frame_sync(sock: socket.socket, *, cap: int) -> tuple[int, Any]:
    size, kind = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if size > cap:
        raise FrameTooLarge(size, cap)
    body = _recv_exact(sock, size)
    return kind, (body if kind == KIND_BYTES else orjson.loads(body))


async def read_frame_async(reader: asyncio.StreamReader, *, cap: int) -> tuple[int, Any]:
    """One frame; EOFError at the end, FrameTooLarge before reading an oversized one."""
    import asyncio

    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        raise EOFError("peer closed the channel") from exc
    size, kind = _HEADER.unpack(header)
    if size > cap:
        raise FrameTooLarge(size, cap)
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise EOFError("peer closed the channel mid-frame") from exc
    if kind == KIND_BYTES:
        return kind, body
    try:
        return kind, orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed frame: {exc}") from exc


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


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
