"""``/api/executions...``: list (cursor pages; ``fields=summary`` leaves the results out),
read, cancel, read the attempts, and follow a task's events (server-sent events, resumable
with ``Last-Event-ID``)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from skillexec.events import TaskEvent
from skillexec.security.principals import Principal
from skillexec.service.auth import caller
from skillexec.service.calls import task_info
from skillexec.service.envelope import COMMON_ERRORS, ERROR, ApiError, Envelope, ok
from skillexec.service.models import AttemptModel, ExecutionList, ExecutionModel
from skillexec.service.state import ServiceState
from skillexec.service.streams import (
    Key,
    Subscription,
    event_id,
    event_payload,
    parse_event_id,
)
from skillexec.storage.summary import TaskSummary
from skillexec.task import TaskStatus

__all__ = ["follow", "router"]

router = APIRouter(prefix="/api/executions", tags=["executions"])

E = ERROR
AUTH_ERRORS = COMMON_ERRORS  # 400, 401, 403, 422, 429
TaskId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$",
                             description="A task id.")]
_CURSOR = r"^[0-9a-f]{24}$"
Fields = Literal["all", "summary"]


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


@router.get("", operation_id="list_executions", response_model=Envelope[ExecutionList],
            responses=AUTH_ERRORS)
async def list_executions(
    request: Request, principal: Annotated[Principal, Depends(caller)],
    status: TaskStatus | None = None,
    skill_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=_CURSOR, description="next_cursor of the "
                                        "previous page.")] = None,
    fields: Annotated[Fields, Query(description="all: each task with its result; summary: "
                                    "without it (no output, no artifacts), with its wall_ms, "
                                    "its error's code and message (cut to 300 characters) "
                                    "and its number of artifacts.")] = "all",
) -> Response:
    """Tasks, newest first, that this key may read (a runner: its own). A viewer sees
    every task's state without its result. ``fields=summary`` (what the dashboard asks
    for) leaves every result out: a list of large results was megabytes a page. It reads
    the journal's summaries, not the results (decoding them cost the server 0.3 s of CPU
    per refresh of the dashboard with results of 15 MB)."""
    state = _state(request)
    until = None
    if cursor is not None:
        until = (int(cursor[:14], 16) + 1.5) / 1e6  # the cursor's microsecond, included
    items: list[dict[str, Any]] = []
    want = limit + 1
    # Whose tasks the journal is asked for: all (read_any; a viewer sees every task's
    # state), else the caller's own, selected there rather than filtered here.
    only = None if principal.can("read_any") or principal.can("reports") else principal.id
    journal = state.engine.journal
    listed = journal.list_summaries if fields == "summary" else journal.list_tasks
    while True:
        batch = await listed(status=status, skill_id=skill_id, limit=want + 64, until=until,
                             principal=only)
        for entry in batch:
            info = entry.info if isinstance(entry, TaskSummary) else entry
            if cursor is not None and info.task_id >= cursor:
                continue
            readable = principal.may_read_task(info.principal)
            if isinstance(entry, TaskSummary):
                if not (readable or principal.can("reports")):
                    continue
                items.append(summary(entry, readable=readable))
            elif readable:
                items.append(info.to_dict())
            elif principal.can("reports"):
                # A viewer (the dashboard) sees every task's state, not what it computed.
                items.append({**info.to_dict(), "result": None})
            else:
                continue
            if len(items) == want:
                break
        if len(items) == want or len(batch) < want + 64:
            break
        until = (int(batch[-1].task_id[:14], 16) + 1.5) / 1e6
        cursor = batch[-1].task_id
    more = len(items) > limit
    items = items[:limit]
    return ok({"items": items, "next_cursor": items[-1]["task_id"] if more else None},
              request.state.request_id)


def summary(entry: TaskSummary, *, readable: bool) -> dict[str, Any]:
    """A task without its result (``fields=summary``): its state, and of its result (where
    the caller may read it) only the wall time, the error's gist and the artifacts' count."""
    info = entry.info
    result = entry.result if readable else None
    return {"task_id": info.task_id, "skill_id": info.skill_id,
            "skill_version": info.skill_version, "status": info.status.value,
            "priority": info.priority, "attempts": info.attempts,
            "created_at": info.created_at, "started_at": info.started_at,
            "finished_at": info.finished_at, "principal": info.principal or "local",
            "wall_ms": result.wall_ms if result is not None else None,
            "error": None if result is None or result.error_code is None else {
                "code": result.error_code, "message": result.error_message},
            "artifacts": result.artifacts if result is not None else 0}


@router.get("/{task_id}", operation_id="get_execution", response_model=Envelope[ExecutionModel],
            responses={**AUTH_ERRORS, 404: E})
async def get_execution(request: Request, task_id: TaskId,
                        principal: Annotated[Principal, Depends(caller)]) -> Response:
    """A task: its status, and its result once it has ended."""
    info = await task_info(_state(request), principal, task_id)
    return ok(info.to_dict(), request.state.request_id)


@router.delete("/{task_id}", operation_id="cancel_execution",
               response_model=Envelope[ExecutionModel],
               responses={**AUTH_ERRORS, 404: E, 409: E})
async def cancel_execution(request: Request, task_id: TaskId,
                           principal: Annotated[Principal, Depends(caller)]) -> Response:
    """Cancel a queued or running task (409 when it had already ended)."""
    state = _state(request)
    await task_info(state, principal, task_id)  # 404 for what it may not read
    cancelled = await state.engine.cancel(task_id, principal=principal)
    if not cancelled:
        raise ApiError(409, "ALREADY_FINISHED", f"task {task_id} had already ended")
    with contextlib.suppress(Exception):
        await state.engine.wait(task_id, timeout=5.0)  # its end journaled
    info = await task_info(state, principal, task_id)
    return ok(info.to_dict(), request.state.request_id, message="cancelled")


@router.get("/{task_id}/attempts", operation_id="execution_attempts",
            response_model=Envelope[list[AttemptModel]], responses={**AUTH_ERRORS, 404: E})
async def execution_attempts(request: Request, task_id: TaskId,
                             principal: Annotated[Principal, Depends(caller)]) -> Response:
    """Each attempt of a task, oldest first: its metrics, its error and the decision taken
    after it (retry, done, ...); empty before its first attempt ended."""
    state = _state(request)
    await task_info(state, principal, task_id)  # 404 for what it may not read
    history = await state.engine.history(task_id, principal=principal)
    return ok(history, request.state.request_id)


async def follow(state: ServiceState, principal: Principal, task_id: str,
                 after: str | None) -> Subscription:
    """A subscription to a task's events after ``after`` (an event id)."""
    return Subscription(state.engine.events(task_id, principal=principal),
                        size=state.settings.subscriber_buffer, after=parse_event_id(after))


@router.get(
    "/{task_id}/events", operation_id="execution_events",
    response_class=EventSourceResponse,
    responses={200: {"description": "Server-sent events: `event:` status | progress, `id:` "
                     "the event's place (send it back as Last-Event-ID to resume), `data:` "
                     "the event as JSON; the stream ends after the terminal status.",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               **AUTH_ERRORS, 404: E})
async def execution_events(
    request: Request, task_id: TaskId, principal: Annotated[Principal, Depends(caller)],
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
    last_id: Annotated[str | None, Query(alias="last_event_id", max_length=100,
                                         description="Last-Event-ID, for clients that "
                                         "cannot send the header.")] = None,
) -> EventSourceResponse:
    """Follow a task: its events so far, then live ones, until its terminal status. A key
    holds at most ``service.max_streams_per_key`` streams and WebSockets open (429)."""
    state = _state(request)
    await task_info(state, principal, task_id)  # 404 before any stream begins
    slot = state.streams.take(principal)  # 429 before it begins, too
    try:
        sub = await follow(state, principal, task_id, last_event_id or last_id)
    except BaseException:
        slot.release()
        raise

    async def stream() -> AsyncIterator[ServerSentEvent]:
        draining = asyncio.ensure_future(state.draining.wait())
        nxt: asyncio.Future[tuple[Key, TaskEvent]] | None = None
        try:
            while True:
                nxt = asyncio.ensure_future(sub.__anext__())
                await asyncio.wait((nxt, draining), return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    yield ServerSentEvent(event="shutdown", data='{"reason":"draining"}')
                    return
                try:
                    key, event = nxt.result()
                except StopAsyncIteration:
                    return
                yield ServerSentEvent(
                    id=event_id(key), event=event.kind,
                    data=orjson.dumps(event_payload(event, key), default=str).decode())
        finally:
            slot.release()
            draining.cancel()
            if nxt is not None:
                if nxt.done():
                    nxt.exception()  # retrieved: the end of the stream is no error
                else:
                    nxt.cancel()
            await sub.close()

    events = stream()
    # A stream whose client left before its first event never runs its finally.
    weakref.finalize(events, slot.release)
    return EventSourceResponse(events, ping=state.settings.sse_ping_s,
                               headers={"X-Accel-Buffering": "no"})
