"""What an engine says when it is used where it cannot serve: once it is closed, or from an
event loop other than the one it was started on."""

from __future__ import annotations

import asyncio

from skillexec.errors import ResourceError

__all__ = ["closed_refusal", "other_loop_error", "usable"]


def closed_refusal() -> ResourceError:
    """A closed engine is not started again behind its user's back (that reopened the
    journal and the data directory's lock and started background jobs that nothing would
    release again, and then refused every call as retryable)."""
    return ResourceError(
        "this engine is closed: its journal, lock and background jobs were released; make "
        "a new SkillExecutionEngine to run more calls", code="engine_closed", retryable=False)


def other_loop_error(loop: asyncio.AbstractEventLoop) -> RuntimeError:
    state = "now closed" if loop.is_closed() else "still running"
    return RuntimeError(
        f"this engine was started on another event loop ({state}) and serves only that "
        "one: make and start an engine in each event loop (each asyncio.run) that uses one")


def usable(closed: bool, loop: asyncio.AbstractEventLoop | None) -> None:
    """Raise unless an engine (closed or not, started on ``loop`` or not yet) may serve a
    call from the running loop."""
    if closed:
        raise closed_refusal()
    if loop is not None and asyncio.get_running_loop() is not loop:
        raise other_loop_error(loop)
