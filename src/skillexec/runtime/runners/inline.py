"""The inline runner: skills run in the engine's own process.

Async skills run on the event loop; sync ones in a bounded thread pool. For first-party,
trusted code only: a thread cannot be killed, so a sync skill past its deadline is reported
as timed out and asked to stop through ``context.cancelled``, but keeps its thread until it
returns.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.reliability.classify import ErrorClassifier
from skillexec.runtime.entry import Invoker, interpret_result, load_invoker
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.skills.model import Skill

__all__ = ["InlineRunner"]


class InlineRunner:
    name = "inline"

    def __init__(self, *, thread_pool_size: int = 32,
                 classifier: ErrorClassifier | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=thread_pool_size,
                                        thread_name_prefix="skillexec-inline")
        self._invokers: dict[str, Invoker] = {}
        self._classifier = classifier or ErrorClassifier()
        self._dog: _Watchdog | None = None

    def refusal(self, skill: Skill) -> ErrorInfo | None:
        return None

    async def prepare(self, skill: Skill) -> None:
        self._invoker(skill)

    def _invoker(self, skill: Skill) -> Invoker:
        inv = self._invokers.get(skill.key)
        if inv is None:
            inv = load_invoker(skill)
            self._invokers[skill.key] = inv
        return inv

    async def run(self, attempt: Attempt) -> Outcome:
        started = time.perf_counter()
        ctx = attempt.context
        timeout_s = attempt.limits.timeout_s
        cpu_s: float | None = None
        try:
            inv = self._invoker(attempt.skill)
            if inv.is_async:
                watch = self._watchdog().watch(timeout_s)
                try:
                    value = await inv.call(attempt.input_data, ctx)
                except asyncio.CancelledError:
                    if watch.expired:
                        current = asyncio.current_task()
                        if current is not None:
                            current.uncancel()
                        raise _Deadline from None
                    raise
                finally:
                    watch.task = None
            else:
                loop = asyncio.get_running_loop()
                fut = loop.run_in_executor(self._pool, _call_measured, inv.call,
                                           attempt.input_data, ctx)
                try:
                    value, cpu_s = await asyncio.wait_for(asyncio.shield(fut), timeout_s)
                except TimeoutError:
                    if not fut.done():
                        ctx.cancel()
                        raise _Deadline from None
                    raise
                except asyncio.CancelledError:
                    ctx.cancel()
                    raise
        except _Deadline:
            return Outcome(error=ErrorInfo(
                type=ErrorType.TIMEOUT, code="execution_timeout", retryable=True,
                message=f"skill {attempt.skill.id!r} did not finish within {timeout_s:g} s"),
                metrics=_metrics(started, cpu_s))
        except SkillExecError as exc:
            return Outcome(error=exc.info, metrics=_metrics(started, cpu_s),
                           traceback=traceback.format_exc())
        except Exception as exc:
            return Outcome(error=self._classifier.classify(exc), metrics=_metrics(started, cpu_s),
                           traceback=traceback.format_exc())
        output, error = interpret_result(value)
        return Outcome(output=output, error=error, metrics=_metrics(started, cpu_s))

    def _watchdog(self) -> _Watchdog:
        dog = self._dog
        if dog is None or dog.loop is not asyncio.get_running_loop():
            dog = self._dog = _Watchdog(asyncio.get_running_loop())
        return dog

    async def evict(self, skill: Skill) -> None:
        self._invokers.pop(skill.key, None)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Deadline(Exception):
    pass


class _Watch:
    __slots__ = ("deadline", "expired", "seq", "task")

    def __init__(self, deadline: float, seq: int, task: asyncio.Task[Any] | None) -> None:
        self.deadline = deadline
        self.seq = seq
        self.task = task
        self.expired = False

    def __lt__(self, other: _Watch) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class _Watchdog:
    """Deadlines of running coroutines, all served by one timer.

    ``asyncio.timeout`` arms and cancels a timer per call, which at thousands of calls a
    second is a large share of the engine's overhead. Here a call pushes its deadline on a
    heap; the one timer is re-armed only when a deadline earlier than the armed one arrives,
    and when it fires it cancels every task past its deadline (the caller turns that
    cancellation into a timeout, as ``asyncio.timeout`` does).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[_Watch] = []
        self._seq = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")

    def watch(self, timeout_s: float) -> _Watch:
        self._seq += 1
        w = _Watch(self.loop.time() + timeout_s, self._seq, asyncio.current_task())
        heapq.heappush(self._heap, w)
        if w.deadline < self._armed_at:
            self._arm(w.deadline)
        return w

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        now = self.loop.time()
        heap = self._heap
        while heap and (heap[0].deadline <= now or heap[0].task is None):
            w = heapq.heappop(heap)
            if w.task is not None:
                w.expired = True
                w.task.cancel()
        if heap:
            self._arm(heap[0].deadline)


def _call_measured(call: Any, data: dict[str, Any], ctx: Any) -> tuple[Any, float]:
    t0 = time.thread_time()
    value = call(data, ctx)
    return value, time.thread_time() - t0


def _metrics(started: float, cpu_s: float | None) -> dict[str, float | int | None]:
    # An async skill shares the loop's thread with everything else, so its CPU time cannot
    # be told apart: it is left unknown rather than guessed.
    return {"wall_ms": (time.perf_counter() - started) * 1000.0,
            "cpu_ms": cpu_s * 1000.0 if cpu_s is not None else None}
