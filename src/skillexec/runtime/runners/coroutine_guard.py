"""GuardedInlineRunner: the inline runner, bounded for async skills that ignore cancellation.

An async skill is a coroutine on the engine's loop, awaited in the caller's own task. One
that catches the CancelledError of its timeout (or of its caller's cancellation) and goes
on could not be stopped: it held the caller (``asyncio.wait_for`` around ``execute`` never
returned), its timeout did nothing, and ``close()`` waited for it for ever.

Here the skill's coroutine is driven step by step in the same task, as ``await`` would
(no task of its own: that cost a quarter of the no-op throughput). Nothing changes while it
does what it is told. Once it goes on after a cancellation of the task, it is given
``GRACE_S`` to end; whatever it does then, the cancellation goes on up (the InlineRunner
makes its timeout's a ``timed_out`` attempt, a caller's goes on to the caller), and if it
is still running then, it is let go of: it runs on in a task of its own, counted in
:attr:`GuardedInlineRunner.coroutines_stuck` until it ends (as a timed-out sync skill's
thread is in ``threads_stuck``), and the attempt's error says
``details.attempt_may_still_run`` (the ErrorHandler retries it only if the skill is
idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from skillexec.classification import ErrorClassifier
from skillexec.runtime.entry import Invoker
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.runtime.runners.inline import InlineRunner
from skillexec.skills.model import Skill
from skillexec.units import duration

__all__ = ["GRACE_S", "GuardedInlineRunner"]

log = logging.getLogger("skillexec.runner")

GRACE_S = 1.0  # how long a coroutine that went on after a cancellation has to end
Call = Callable[[dict[str, Any], Any], Any]


class GuardedInlineRunner(InlineRunner):
    def __init__(self, *, thread_pool_size: int = 32,
                 classifier: ErrorClassifier | None = None) -> None:
        super().__init__(thread_pool_size=thread_pool_size, classifier=classifier)
        self.coroutines_stuck = 0  # coroutines let go of that have not ended yet
        self._entries: dict[str, tuple[Invoker, Invoker]] = {}  # key -> (loaded, guarded)
        self._let_go: set[int] = set()  # id() of the contexts of attempts let go of
        self._on_their_own: set[asyncio.Task[Any]] = set()  # what drives those let go of
        self.closed = False

    def _invoker(self, skill: Skill) -> Invoker:
        # The InlineRunner asks this for each attempt's entry: an async one is guarded. Its
        # own (loaded anew when a skill is registered again under its key: another @skill
        # closure) is the one guarded, never one of an entry that was replaced.
        inv = super()._invoker(skill)
        if not inv.is_async:
            return inv
        hit = self._entries.get(skill.key)
        if hit is None or hit[0] is not inv:
            hit = self._entries[skill.key] = (
                inv, Invoker(call=self._guarded(inv.call, skill.id), is_async=True))
        return hit[1]

    def _guarded(self, call: Call, skill_id: str) -> Call:
        def guarded(data: dict[str, Any], ctx: Any) -> _Guarded:
            return _Guarded(call(data, ctx), self, ctx, skill_id)
        return guarded

    async def run(self, attempt: Attempt) -> Outcome:
        try:
            outcome = await super().run(attempt)
        finally:
            let_go = bool(self._let_go) and id(attempt.context) in self._let_go
            if let_go:
                self._let_go.discard(id(attempt.context))
        if let_go and outcome.error is not None:
            error = outcome.error
            outcome = dataclasses.replace(outcome, error=dataclasses.replace(
                error, message=f"{error.message} (it ignored its cancellation for "
                               f"{duration(GRACE_S)} more, and may still be running)",
                details={**error.details, "attempt_may_still_run": True}))
        return outcome

    def let_go(self, coro: Generator[Any, Any, Any], pending: Any, ctx: Any,
               skill: str) -> None:
        """Leave a coroutine that ignored its cancellation to run on by itself."""
        self._let_go.add(id(ctx))
        self.coroutines_stuck += 1
        log.warning("skill %r ignored its cancellation for %s: its coroutine is left "
                    "running (%d such now)", skill, duration(GRACE_S), self.coroutines_stuck)
        on_its_own = asyncio.get_running_loop().create_task(_run_on(coro, pending, self))
        self._on_their_own.add(on_its_own)
        on_its_own.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self.coroutines_stuck -= 1
        self._on_their_own.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: nobody waits for it any more

    async def close(self) -> None:
        """The engine closes: the coroutines let go of are dropped (each is closed and its
        task ends, so that asyncio.run's end does not wait for ever for one that will not
        stop), then the InlineRunner's threads are released."""
        self.closed = True
        for task in list(self._on_their_own):
            task.cancel()
        await super().close()


class _Guarded:
    """``await`` of a skill's coroutine, step by step in the awaiting task."""

    __slots__ = ("ctx", "it", "runner", "skill_id")

    def __init__(self, awaitable: Awaitable[Any], runner: GuardedInlineRunner, ctx: Any,
                 skill_id: str) -> None:
        self.it = awaitable.__await__()
        self.runner = runner
        self.ctx = ctx
        self.skill_id = skill_id

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self.it
        me = asyncio.current_task()
        base = me.cancelling() if me is not None else 0  # cancellations asked before it
        value: Any = None
        error: BaseException | None = None
        until: float | None = None  # once it went on after a cancellation: when it is let go
        while True:
            try:
                yielded = it.send(value) if error is None else it.throw(error)
            except StopIteration as stop:
                if until is not None and _still(me, base):  # it went on after the
                    raise asyncio.CancelledError from None  # cancellation, then returned
                return stop.value
            except asyncio.CancelledError:
                raise
            except BaseException:
                # Its own error, even after a cancellation: the cancellation may be its own
                # code's (a TaskGroup cancels its task when a child fails, and Python 3.11's
                # does not take that back when it was already exiting: the ExceptionGroup
                # it raises is the skill's failure, not a cancellation of the call).
                raise
            value = error = None
            if until is not None and not _still(me, base):
                until = None  # an asyncio.timeout of its own took the cancellation back
            if until is None:
                try:
                    value = yield yielded
                except asyncio.CancelledError as exc:
                    error = exc
                    if me is not None and me.cancelling() > base:  # the task's: not only
                        until = asyncio.get_running_loop().time() + GRACE_S  # a future's
                except BaseException as exc:
                    error = exc
                continue
            # It went on after the task was cancelled: it has until ``until`` to end.
            error = yield from _gated(yielded, until)
            if error is None and asyncio.get_running_loop().time() >= until and not (
                    asyncio.isfuture(yielded) and yielded.done()):
                self.runner.let_go(it, yielded, self.ctx, self.skill_id)
                raise asyncio.CancelledError


def _still(me: asyncio.Task[Any] | None, base: int) -> bool:
    """Whether the task is still being cancelled (its cancellation not taken back)."""
    return me is None or me.cancelling() > base


def _gated(waiting: Any, until: float) -> Generator[Any, Any, BaseException | None]:
    """Wait for what the coroutine waits for (a future, or the loop's next turn), but not
    past ``until``; the CancelledError if the task is cancelled once more meanwhile."""
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    left = until - loop.time()
    if left <= 0:
        return None
    timer = loop.call_later(left, _open, gate)
    opener = _opener(gate)
    if asyncio.isfuture(waiting):
        waiting.add_done_callback(opener)
    else:  # a bare yield: resumed at the loop's next turn
        loop.call_soon(_open, gate)
    try:
        yield from gate.__await__()
    except asyncio.CancelledError as again:
        if asyncio.isfuture(waiting):
            waiting.cancel()  # as the task's cancel() does to what it waits on
        return again
    finally:
        timer.cancel()
        if asyncio.isfuture(waiting):
            waiting.remove_done_callback(opener)
    return None


def _open(gate: asyncio.Future[None]) -> None:
    if not gate.done():
        gate.set_result(None)


def _opener(gate: asyncio.Future[None]) -> Callable[[Any], None]:
    return lambda _: _open(gate)


async def _run_on(it: Generator[Any, Any, Any], waiting: Any,
                  runner: GuardedInlineRunner) -> Any:
    return await _Resumed(it, waiting, runner)


class _Resumed:
    """A coroutine let go of, driven on by a task of its own, from where it waits (it gets
    one more cancellation first: it may yet give in)."""

    __slots__ = ("it", "runner", "waiting")

    def __init__(self, it: Generator[Any, Any, Any], waiting: Any,
                 runner: GuardedInlineRunner) -> None:
        self.it = it
        self.waiting = waiting
        self.runner = runner

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self.it
        if asyncio.isfuture(self.waiting):
            self.waiting.cancel()
        value: Any = None
        error: BaseException | None = asyncio.CancelledError()
        while True:
            try:
                yielded = it.send(value) if error is None else it.throw(error)
            except StopIteration as stop:
                return stop.value
            value = error = None
            try:
                value = yield yielded
            except asyncio.CancelledError:
                if self.runner.closed:  # dropped: it is not driven any further
                    with contextlib.suppress(RuntimeError):  # "ignored GeneratorExit"
                        it.close()
                    raise
                error = asyncio.CancelledError()
            except BaseException as exc:
                error = exc
