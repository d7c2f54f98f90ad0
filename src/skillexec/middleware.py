"""Middleware: typed hooks over the pipeline, for cross-cutting concerns, and their index.

Subclass :class:`Middleware` and override only the hooks you need; the pipeline calls a hook
only on middleware that overrides it, so an unused hook costs nothing on the hot path.
A hook may be ``async def`` (the pipeline awaits it) or a plain ``def`` that returns None: a
hook that never waits for anything (the monitor's, called for every task) is then a plain
call, without a coroutine made and driven per call.

A middleware may refuse a task in ``on_submit`` by raising a SkillExecError. Any other
exception from a hook is isolated: logged, counted in :attr:`HookIndex.failures`, and the
call goes on as if the hook had not been there.

A middleware is given the engine's :class:`~skillexec.services.Services` by ``on_start``
(when added to a started engine, or when the engine starts) and ``on_close`` at close.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Iterator
from typing import TYPE_CHECKING

from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult, ExecutionTask

if TYPE_CHECKING:
    from skillexec.services import Services

__all__ = ["HookIndex", "Middleware"]

log = logging.getLogger("skillexec.middleware")

_HOOKS = ("on_submit", "before_attempt", "after_attempt", "on_finish")


class Middleware:
    def on_start(self, services: Services) -> Awaitable[None] | None:
        """The engine started (or this middleware was added to a running engine)."""
        return None

    def on_close(self) -> Awaitable[None] | None:
        """The engine is closing: release what ``on_start`` took."""
        return None

    def on_submit(self, task: ExecutionTask, skill: Skill) -> Awaitable[None] | None:
        """A task was accepted and is about to be queued."""
        return None

    def before_attempt(self, task: ExecutionTask, attempt: Attempt) -> Awaitable[None] | None:
        """An attempt is about to run."""
        return None

    def after_attempt(self, task: ExecutionTask, attempt: Attempt,
                      outcome: Outcome) -> Awaitable[None] | None:
        """An attempt ended (before retries are decided)."""
        return None

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> Awaitable[None] | None:
        """The task reached its terminal state (and the journal has it)."""
        return None

    @classmethod
    def overrides(cls, hook: str) -> bool:
        return getattr(cls, hook) is not getattr(Middleware, hook)


class HookIndex:
    """The middleware of one engine, in order, and per hook the ones that override it.

    The per-hook tuples are rebuilt on every change (rare), so the pipeline reads a tuple
    per call and never asks whether a middleware cares.
    """

    def __init__(self, middleware: Iterable[Middleware] = ()) -> None:
        self._all: list[Middleware] = list(middleware)
        self._services: Services | None = None  # while the engine runs
        self.failures: dict[str, int] = {}  # "<middleware class>.<hook>" -> count
        self.on_submit: tuple[Middleware, ...] = ()
        self.before_attempt: tuple[Middleware, ...] = ()
        self.after_attempt: tuple[Middleware, ...] = ()
        self.on_finish: tuple[Middleware, ...] = ()
        self._reindex()

    def __iter__(self) -> Iterator[Middleware]:
        return iter(tuple(self._all))

    def __contains__(self, middleware: object) -> bool:
        return middleware in self._all

    def __len__(self) -> int:
        return len(self._all)

    def add(self, middleware: Middleware) -> None:
        """Add a middleware; to a running engine too: its ``on_start`` runs at once (an
        async one in the background, on the engine's loop)."""
        self._all.append(middleware)
        self._reindex()
        self._now(middleware, "on_start")

    def remove(self, middleware: Middleware) -> bool:
        """Take a middleware out (its ``on_close`` runs if the engine runs); False if it was
        not in."""
        if middleware not in self._all:
            return False
        self._all.remove(middleware)
        self._reindex()
        self._now(middleware, "on_close")
        return True

    def replace(self, old: Middleware, new: Middleware) -> None:
        """Put ``new`` in ``old``'s place (the order of hooks is kept)."""
        self._all[self._all.index(old)] = new
        self._reindex()
        self._now(old, "on_close")
        self._now(new, "on_start")

    def _now(self, mw: Middleware, hook: str) -> None:
        services = self._services
        if services is None:  # not running: start() and close() will call it
            return
        pending = self._call(mw, hook, services) if hook == "on_start" else self._call(mw, hook)
        if pending is not None:
            services.spawn(self._settle(mw, hook, pending))

    async def start(self, services: Services) -> None:
        """The engine started: give every middleware its services."""
        self._services = services
        for mw in tuple(self._all):
            if (pending := self._call(mw, "on_start", services)) is not None:
                await self._settle(mw, "on_start", pending)

    async def close(self) -> None:
        """The engine is closing: every middleware's ``on_close``."""
        self._services = None
        for mw in tuple(self._all):
            if (pending := self._call(mw, "on_close")) is not None:
                await self._settle(mw, "on_close", pending)

    def _call(self, mw: Middleware, hook: str, *args: object) -> Awaitable[None] | None:
        try:
            result: Awaitable[None] | None = getattr(mw, hook)(*args)
        except Exception:
            self.failed(mw, hook)
            return None
        return result

    async def _settle(self, mw: Middleware, hook: str, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            self.failed(mw, hook)

    def failed(self, middleware: Middleware, hook: str) -> None:
        """A hook raised: log it with its traceback (call from an ``except``) and count it."""
        key = f"{type(middleware).__name__}.{hook}"
        self.failures[key] = self.failures.get(key, 0) + 1
        log.exception("middleware %r failed in %s; the call goes on without it",
                      middleware, hook)

    def _reindex(self) -> None:
        for hook in _HOOKS:
            setattr(self, hook, tuple(m for m in self._all if type(m).overrides(hook)))
