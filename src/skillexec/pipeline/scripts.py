"""Script calls: a skill's bundled script run as a task (``engine.run_script``).

The call becomes a task of the derived skill ``<skill>:<script>`` (see
:mod:`skillexec.scripts`), through the whole pipeline like any call; a call in a session
waits for the session's earlier calls first (one at a time, in submit order).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from skillexec.errors import SkillExecError
from skillexec.request import CallOptions
from skillexec.scripts import SEPARATOR, ScriptCatalog, script_params
from skillexec.sessions import SessionStore
from skillexec.skills.model import Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.task import ExecutionResult

__all__ = ["ScriptCalls"]

Execute = Callable[..., Awaitable[ExecutionResult]]
Reject = Callable[[str, SkillExecError, CallOptions], Awaitable[tuple[Any, ExecutionResult]]]


class ScriptCalls:
    def __init__(self, *, skills: SkillRegistry, sessions: SessionStore) -> None:
        self.skills = skills
        self.sessions = sessions
        self.catalog = ScriptCatalog()
        skills.derive = self.derive

    def derive(self, id: str, requirement: str | None) -> Skill:
        """The registry's hook: ``<skill>:<script>`` -> the derived script skill."""
        base, _, script = id.partition(SEPARATOR)
        return self.catalog.skill(self.skills.get(base, requirement), script)

    async def run(self, skill_id: str, script: str, *, execute: Execute, reject: Reject,
                  args: Sequence[str] = (), files: Mapping[str, bytes] | None = None,
                  stdin: bytes | str | None = None, session: str | None = None,
                  timeout: float | None = None, priority: int | None = None,
                  principal: str | None = None) -> ExecutionResult:
        target = f"{skill_id}{SEPARATOR}{script}"
        opts = CallOptions(priority=priority, timeout=timeout, principal=principal,
                           cache=False)
        try:
            params = script_params(args=args, files=files, stdin=stdin, session=session)
            if session is not None:
                self.sessions.path(session)  # refused here (journaled) if not open
            async with self._turn(session):
                return await execute(target, params, priority=priority, timeout=timeout,
                                     principal=principal, cache=False)
        except SkillExecError as exc:
            return (await reject(target, exc, opts))[1]

    async def sweeper(self) -> None:
        """Remove expired sessions now and then, while the engine runs."""
        every_s = min(60.0, self.sessions.settings.default_ttl_s / 4)
        while True:
            await asyncio.to_thread(self.sessions.sweep)
            await asyncio.sleep(every_s)

    @contextlib.asynccontextmanager
    async def _turn(self, session: str | None) -> AsyncIterator[Path | None]:
        if session is None:
            yield None
        else:
            async with self.sessions.turn(session) as path:
                yield path
