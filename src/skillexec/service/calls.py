"""Running a call for a request: submit as the caller's principal, wait (bounded) or not,
and turn a refusal into its HTTP error. Shared by both route families and the batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

from skillexec.errors import ErrorType, SkillExecError
from skillexec.security.principals import Principal
from skillexec.service.envelope import ApiError, error_for, not_found
from skillexec.service.state import ServiceState
from skillexec.task import ExecutionResult, TaskInfo, TaskStatus

__all__ = ["Call", "refuse_if_draining", "result_or_refusal", "submit", "task_info",
           "until_drained", "wait_for"]


class Call:
    """What a request asks to run, whichever family's body it came in."""

    __slots__ = ("config", "deadline", "max_retries", "params", "priority", "skill_id",
                 "timeout", "use_cache", "version")

    def __init__(self, skill_id: str, params: Mapping[str, Any] | None, *,
                 config: Mapping[str, Any] | None = None, priority: int | None = None,
                 timeout: float | None = None, deadline: float | None = None,
                 max_retries: int | None = None, version: str | None = None,
                 use_cache: bool = True) -> None:
        self.skill_id = skill_id
        self.params = params
        self.config = config
        self.priority = priority
        self.timeout = timeout
        self.deadline = deadline
        self.max_retries = max_retries
        self.version = version
        self.use_cache = use_cache


def refuse_if_draining(state: ServiceState) -> None:
    if state.draining.is_set():
        raise ApiError(503, "SHUTTING_DOWN", "the service is shutting down: try another "
                       "instance, or again shortly", headers=state.retry_after,
                       error_type=ErrorType.RESOURCE, retryable=True)


def may_run(principal: Principal, skill_id: str) -> None:
    if not principal.may_run(skill_id):
        raise ApiError(403, "PERMISSION_DENIED", f"this key may not run skill {skill_id!r}",
                       error_type=ErrorType.PERMISSION)


async def submit(state: ServiceState, principal: Principal, call: Call) -> str:
    """Accept the call (its task id); a refusal is still a task, ended ``rejected``."""
    refuse_if_draining(state)
    may_run(principal, call.skill_id)
    return await state.engine.submit(
        call.skill_id, call.params, config=call.config, priority=call.priority,
        timeout=call.timeout, deadline=call.deadline, max_retries=call.max_retries,
        version=call.version, principal=principal, cache=call.use_cache)


async def wait_for(state: ServiceState, task_id: str, wait_s: float,
                   ) -> ExecutionResult | None:
    """The result within ``wait_s``, else None (the task goes on). Once the service drains,
    the wait lasts only as long as the grace for requests (see ``until_drained``)."""
    if wait_s <= 0:
        return await _result(state.engine.wait(task_id, timeout=wait_s))
    return await _result(until_drained(state, task_id, state.engine.wait(
        task_id, timeout=wait_s)))


async def _result(waiting: Awaitable[ExecutionResult]) -> ExecutionResult | None:
    try:
        return await waiting
    except SkillExecError as exc:
        if exc.code == "wait_timeout":
            return None
        raise


async def until_drained(state: ServiceState, task_id: str,
                        waiting: Awaitable[ExecutionResult]) -> ExecutionResult:
    """``waiting``, unless the service starts draining (SIGTERM) and what it waits for is
    not done within the grace uvicorn gives a request: then 503 naming the task, which
    goes on (the engine's close gives it the same grace; what is left of it is in the
    journal for the next start). uvicorn would cancel the request: a bare 500."""
    wait = asyncio.ensure_future(waiting)
    drain = asyncio.ensure_future(state.draining.wait())
    try:
        await asyncio.wait((wait, drain), return_when=asyncio.FIRST_COMPLETED)
        if not wait.done():
            # uvicorn cancels requests at the grace's whole seconds (at least 1) after a
            # tenth of a second of its own: answered before that.
            grace_s = max(1, int(state.settings.shutdown_grace_s)) - 0.5
            await asyncio.wait((wait,), timeout=grace_s)
        if not wait.done():
            raise ApiError(503, "SHUTTING_DOWN", f"the service is shutting down; task "
                           f"{task_id} goes on: follow it at /api/executions/{task_id} "
                           "once the service is back", headers=state.retry_after,
                           error_type=ErrorType.RESOURCE, retryable=False,
                           details={"execution_id": task_id})
        return wait.result()
    finally:
        drain.cancel()
        wait.cancel()  # only our wait: the task goes on


def result_or_refusal(state: ServiceState, result: ExecutionResult) -> ExecutionResult:
    """A task refused before it ran is an HTTP error; one that ran (and maybe failed) is
    a result."""
    if result.status is TaskStatus.REJECTED and result.error is not None:
        raise error_for(result.error, retry_after_s=state.settings.retry_after_s)
    return result


async def task_info(state: ServiceState, principal: Principal, task_id: str) -> TaskInfo:
    """A task this principal may read; another principal's is not found, as an unknown one."""
    try:
        return await state.engine.status(task_id, principal=principal)
    except SkillExecError as exc:
        if exc.code == "task_not_found":
            raise not_found("task", task_id) from None
        raise
