"""The inline runner: skills run in the engine's own process.

Async skills run on the event loop; sync ones in a bounded thread pool. For first-party,
trusted code only: a thread cannot be killed, so a sync skill past its deadline is reported
as timed out and asked to stop through ``context.cancelled``, but keeps its thread until it
returns.
"""

from __future__ import annotations

import asyncio
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

    async def prepare(self, skill: Skill) -> None:
        self._invoker(skill)

    def _invoker(self, skill: Skill) -> Invoker:
        inv = self._invokers.get(skill.key)
        if inv is None or skill.entry.func is not None:
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
                async with asyncio.timeout(timeout_s) as scope:
                    try:
                        value = await inv.call(attempt.input_data, ctx)
                    except TimeoutError:
                        if scope.expired():
                            raise _Deadline from None
                        raise
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

    async def evict(self, skill: Skill) -> None:
        self._invokers.pop(skill.key, None)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Deadline(Exception):
    pass


def _call_measured(call: Any, data: dict[str, Any], ctx: Any) -> tuple[Any, float]:
    t0 = time.thread_time()
    value = call(data, ctx)
    return value, time.thread_time() - t0


def _metrics(started: float, cpu_s: float | None) -> dict[str, float | int | None]:
    # An async skill shares the loop's thread with everything else, so its CPU time cannot
    # be told apart: it is left unknown rather than guessed.
    return {"wall_ms": (time.perf_counter() - started) * 1000.0,
            "cpu_ms": cpu_s * 1000.0 if cpu_s is not None else None}
