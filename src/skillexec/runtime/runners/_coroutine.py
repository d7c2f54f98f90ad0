"""run_coroutine: how a child (and, once, its zygote) runs an async skill's coroutine.

Imported by every zygote before it confines itself (a zygote cannot count on reading
skillexec's files afterwards), hence asyncio imported inside: a sync skill's zygote, and
so each of its forks, does not carry it.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

__all__ = ["run_coroutine"]


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` less what a child of one call does without: a copy of the context
    and the look at SIGINT's handler (the zygote reset it, so asyncio.run installs none,
    but asking through signal's wrappers copies pages), ~0.4 ms of a fresh child's CPU.
    The ending is asyncio.run's: tasks left running are cancelled and awaited, async
    generators and the default executor shut down, the loop closed."""
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: AbstractEventLoop) -> None:
    import asyncio

    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler({
                "message": "unhandled exception during asyncio.run() shutdown",
                "exception": task.exception(), "task": task})
