"""stdin for the stdio transport, read by the event loop rather than by a worker thread.

The SDK's ``stdio_server`` reads stdin with a blocking ``readline`` in a thread; a
cancellation (SIGTERM, Ctrl-C) then waits for that read to return, i.e. for the client's
next line: a ``skillexec mcp`` whose stdin stayed open ignored both. Here the loop watches a
private duplicate of fd 0 (fd 0 itself points at the null device meanwhile, as the SDK
does: a skill's child reads EOF, never the protocol), so cancelling the reader is
immediate."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import selectors
from collections.abc import AsyncIterator

__all__ = ["stdin_lines"]

_CHUNK = 1 << 16


async def _lines(reader: asyncio.StreamReader) -> AsyncIterator[str]:
    # Chunks split at newlines (not readline: a call's base64 files make lines of
    # megabytes, past any StreamReader limit). Decoded as the SDK does.
    pending = b""
    while chunk := await reader.read(_CHUNK):
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield (line + b"\n").decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")


def _watchable(fd: int) -> bool:
    # The loop's own check admits any character device, then fails later, in a callback,
    # on one epoll refuses (the null device): ask a selector first.
    try:
        with selectors.DefaultSelector() as probe:
            probe.register(fd, selectors.EVENT_READ)
    except (OSError, ValueError):
        return False
    return True


@contextlib.asynccontextmanager
async def stdin_lines() -> AsyncIterator[AsyncIterator[str] | None]:
    """The lines of stdin, cancellable; None where the loop cannot watch it (a regular file
    or the null device: reading those never blocks, the SDK's own reader does)."""
    loop = asyncio.get_running_loop()
    try:
        private = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError:
        yield None
        return
    if not _watchable(private):
        os.close(private)
        yield None
        return
    was_blocking = os.get_blocking(private)
    reader = asyncio.StreamReader()
    pipe = os.fdopen(private, "rb", buffering=0, closefd=False)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe)
    except (OSError, ValueError):
        os.set_blocking(private, was_blocking)
        os.close(private)
        yield None
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        yield _lines(reader)
    finally:
        transport.close()
        # O_NONBLOCK belongs to the open file, shared with whoever else holds it (the
        # terminal of the shell that started us): leave it as it was found.
        os.set_blocking(private, was_blocking)
        os.dup2(private, 0)
        os.close(private)
