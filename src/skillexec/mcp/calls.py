"""Following one engine task for an MCP request: its progress forwarded as strictly
increasing notifications (throttled, with a heartbeat while the skill is silent), and the
request's cancellation turned into the task's (its process tree killed by the engine)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from skillexec.task import ExecutionResult

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["Report", "follow"]

Report = Callable[[float, float | None, str | None], Awaitable[None]]
_MIN_GAP_S = 0.25  # clients should rate-limit; so do we (a skill may report per row)
_NUDGE = 1e-6  # a heartbeat must still increase (the spec: progress strictly increases)


class _Progress:
    def __init__(self, report: Report) -> None:
        self.report, self.last, self.sent_at = report, 0.0, 0.0
        self.started = time.monotonic()

    async def send(self, value: float, message: str | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if value <= self.last or (not force and now - self.sent_at < _MIN_GAP_S and value < 1):
            return
        self.last, self.sent_at = value, now
        await self.report(value, 1.0, message)

    async def heartbeat(self, every_s: float) -> None:
        while True:
            await anyio.sleep(every_s)
            if time.monotonic() - self.sent_at >= every_s and self.last + _NUDGE < 1:
                await self.send(self.last + _NUDGE, "running "
                                f"({time.monotonic() - self.started:.0f} s)", force=True)


async def _forward(engine: SkillExecutionEngine, task_id: str, progress: _Progress) -> None:
    async for event in engine.events(task_id):
        if event.kind == "progress" and event.fraction is not None:
            # Room above a skill's highest report (1.0 is the result's) for news after it.
            value = min(max(float(event.fraction), 0.0), 0.999)
            if event.message and value <= progress.last < 0.999999 - _NUDGE:
                # A script's next line at the same fraction (or a next phase's lower one)
                # is news too; the spec wants the number to increase.
                value = progress.last + _NUDGE
            await progress.send(value, event.message or None)
        if event.final:
            return


async def follow(engine: SkillExecutionEngine, task_id: str, *, report: Report | None,
                 heartbeat_s: float, owns: bool = True) -> ExecutionResult:
    """The task's result; cancelled with the request when the client cancels it. ``owns``
    False: the request only waits for a task started by another (``skill_result``), and
    its end (a wait that ran out, a client that stopped waiting) leaves the task running."""
    try:
        if report is None:
            return await engine.wait(task_id)
        progress = _Progress(report)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_forward, engine, task_id, progress)
            tg.start_soon(progress.heartbeat, heartbeat_s)
            result = await engine.wait(task_id)
            tg.cancel_scope.cancel()
        if result.ok:
            await progress.send(1.0, None, force=True)
        return result
    except anyio.get_cancelled_exc_class():
        if owns:
            with anyio.CancelScope(shield=True):
                await engine.cancel(task_id)
        raise
