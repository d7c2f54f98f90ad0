"""The inline runner: skills run in the engine's own process.

Async skills run on the event loop; sync ones in a bounded thread pool. For first-party,
trusted code only: a thread cannot be killed, so a sync skill past its deadline is reported
as timed out and asked to stop through ``context.cancelled``, but keeps its thread until it
returns. Such an attempt may still be running: its error says so
(``details.attempt_may_still_run``) and the ErrorHandler does not retry it unless the skill
is idempotent. Its thread counts as stuck (:attr:`InlineRunner.threads_stuck`) until it
returns; while every thread of the pool is stuck, sync calls are refused at once
(``inline_threads_exhausted``) instead of waiting out their timeout in the pool's queue.
A cancelled coroutine has unwound when its ``await`` returns: an async attempt is over.
Whatever the skill raises is the attempt's failure, a BaseException too (``sys.exit()``,
KeyboardInterrupt, a CancelledError its task was not asked for): only a cancellation of the
task itself goes on up.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from skillexec.classification import ErrorClassifier
from skillexec.environments.modules import name_the_package
from skillexec.errors import ErrorInfo, ErrorType, ResourceError, utf8_text
from skillexec.runtime.entry import Invoker, interpret_result, load_invoker
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.runtime.runners.inline_watchdog import Watchdog
from skillexec.skills.model import Entry, Skill
from skillexec.units import duration

__all__ = ["InlineRunner"]


class InlineRunner:
    name = "inline"

    def __init__(self, *, thread_pool_size: int = 32,
                 classifier: ErrorClassifier | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=thread_pool_size,
                                        thread_name_prefix="skillexec-inline")
        self.thread_pool_size = thread_pool_size
        # Threads still running an attempt that already timed out (they cannot be stopped).
        self.threads_stuck = 0
        self._invokers: dict[str, tuple[Entry, Invoker]] = {}
        self._classifier = classifier or ErrorClassifier()
        self._dog: Watchdog | None = None

    def refusal(self, skill: Skill) -> ErrorInfo | None:
        return None

    async def prepare(self, skill: Skill) -> None:
        self._invoker(skill)

    def _invoker(self, skill: Skill) -> Invoker:
        hit = self._invokers.get(skill.key)
        if hit is None or (hit[0] is not skill.entry and hit[0] != skill.entry):
            # A skill registered again under its id and version (another @skill closure,
            # another entry) runs as registered now, not as first loaded.
            hit = self._invokers[skill.key] = (skill.entry, load_invoker(skill))
        return hit[1]

    async def run(self, attempt: Attempt) -> Outcome:
        started = time.perf_counter()
        ctx = attempt.context
        timeout_s = attempt.limits.timeout_s
        cpu_s: float | None = None
        still_running = False
        try:
            inv = self._invoker(attempt.skill)
            if inv.is_async:
                dog = self._watchdog()
                watch = dog.watch(timeout_s)
                try:
                    value = await inv.call(attempt.input_data, ctx)
                except asyncio.CancelledError as exc:
                    if watch.expired:
                        current = asyncio.current_task()
                        if current is not None:
                            current.uncancel()
                        raise _Deadline from None
                    if _asked_to_cancel():
                        raise
                    # Nobody cancelled this task: a CancelledError the skill let out (an
                    # ``await`` of a task of its own it had cancelled) is its failure.
                    raise _Escaped(exc) from None
                except Exception:
                    raise
                except BaseException as exc:
                    # sys.exit(), KeyboardInterrupt, GeneratorExit, a BaseException of its
                    # own: the skill's failure, not the host's; left to rise, it ended the
                    # caller's task (or the app) with the attempt never finished.
                    raise _Escaped(exc) from None
                finally:
                    dog.ended(watch)
            else:
                if self.threads_stuck >= self.thread_pool_size:
                    raise ResourceError(
                        f"all {self.thread_pool_size} inline threads are still running "
                        "attempts that timed out; no thread is left for this call",
                        code="inline_threads_exhausted", retryable=True,
                        details={"threads_stuck": self.threads_stuck})
                cf = self._pool.submit(_call_measured, inv.call, attempt.input_data, ctx)
                fut = asyncio.wrap_future(cf)
                try:
                    value, cpu_s = await asyncio.wait_for(asyncio.shield(fut), timeout_s)
                except TimeoutError:
                    if not fut.done():
                        ctx.cancel()
                        # Never started (queued behind busy threads), or just returned:
                        # over for sure. Otherwise its thread runs on.
                        if not cf.cancel() and not cf.done():
                            still_running = True
                            self._stuck(cf)
                        raise _Deadline from None
                    raise
                except asyncio.CancelledError:
                    ctx.cancel()
                    if not cf.cancel() and not cf.done():
                        self._stuck(cf)
                    if _asked_to_cancel():
                        raise
                    # The thread's future itself was cancelled (the pool shut down under
                    # it), not this task: the attempt did not run.
                    raise ResourceError(
                        "the attempt did not run: the engine's inline threads were shut "
                        "down (the engine is closing)", code="engine_closing",
                        retryable=True) from None
        except _Deadline:
            message = f"skill {attempt.skill.id!r} did not finish within {duration(timeout_s)}"
            details: dict[str, Any] = {}
            if still_running:
                message += " (its thread cannot be stopped and may still be running)"
                details["attempt_may_still_run"] = True
            return Outcome(error=ErrorInfo(
                type=ErrorType.TIMEOUT, code="execution_timeout", retryable=True,
                message=message, details=details), metrics=_metrics(started, cpu_s))
        except _Escaped as wrapped:
            raised = wrapped.exc
            return Outcome(error=self._classified(raised, attempt.skill),
                           metrics=_metrics(started, cpu_s),
                           traceback=utf8_text("".join(traceback.format_exception(raised))))
        except Exception as exc:
            return Outcome(error=self._classified(exc, attempt.skill),
                           metrics=_metrics(started, cpu_s),
                           traceback=utf8_text(traceback.format_exc()))
        output, error = interpret_result(value)
        return Outcome(output=output, error=error, metrics=_metrics(started, cpu_s))

    def _classified(self, exc: BaseException, skill: Skill) -> ErrorInfo:
        try:
            info = self._classifier.classify(exc)
        except Exception as why:  # a classifier rule of a plugin's that raised
            # The skill's error is still the answer (an engine_error blamed the engine):
            # only its finer classification is lost.
            return ErrorInfo(type=ErrorType.EXECUTION, code="skill_raised",
                             message=f"{type(exc).__name__} (not classified: "
                                     f"{type(why).__name__})",
                             details={"exception": type(exc).__name__})
        if info.code == "missing_module":
            info = name_the_package(info, exc, skill_id=skill.id)
        return info

    def _stuck(self, cf: Future[Any]) -> None:
        self.threads_stuck += 1
        loop = asyncio.get_running_loop()

        def returned(_: Future[Any]) -> None:
            # Called in the pool's thread: the count is the event loop's to change.
            try:
                loop.call_soon_threadsafe(self._unstuck)
            except RuntimeError:
                pass  # the loop is closed: nobody reads the count any more

        cf.add_done_callback(returned)

    def _unstuck(self) -> None:
        self.threads_stuck -= 1

    def _watchdog(self) -> Watchdog:
        dog = self._dog
        if dog is None or dog.loop is not asyncio.get_running_loop():
            dog = self._dog = Watchdog(asyncio.get_running_loop())
        return dog

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Deadline(Exception):
    pass


class _Escaped(Exception):
    """What the skill raised that must not rise as is: a BaseException (it would end the
    caller's task, or the app), or a StopIteration out of a thread (a future cannot carry
    one: the attempt never ended and waited out its timeout)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(type(exc).__name__)
        self.exc = exc


def _asked_to_cancel() -> bool:
    """Whether the running task was cancelled (``Task.cancel()``: its caller, the engine's
    cancel or close) rather than handed a CancelledError from elsewhere."""
    current = asyncio.current_task()
    return current is None or current.cancelling() > 0


def _call_measured(call: Any, data: dict[str, Any], ctx: Any) -> tuple[Any, float]:
    t0 = time.thread_time()
    try:
        value = call(data, ctx)
    except StopIteration as exc:
        raise _Escaped(exc) from None
    except Exception:
        raise
    except BaseException as exc:  # in a thread, sys.exit() would end only the thread
        raise _Escaped(exc) from None
    return value, time.thread_time() - t0


def _metrics(started: float, cpu_s: float | None) -> dict[str, float | int | None]:
    # An async skill shares the loop's thread with everything else, so its CPU time cannot
    # be told apart: it is left unknown rather than guessed.
    return {"wall_ms": (time.perf_counter() - started) * 1000.0,
            "cpu_ms": cpu_s * 1000.0 if cpu_s is not None else None}
