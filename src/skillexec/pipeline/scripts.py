"""Script calls: a skill's bundled script run as a task (``engine.run_script``).

The call becomes a task of the derived skill ``<skill>:<script>`` (see
:mod:`skillexec.scripts`), through the whole pipeline like any call; a call in a session
waits for the session's earlier calls first (one at a time, in submit order). A script
runs in the environment of the skill it belongs to (what the skill's requirements files,
manifest and scripts' PEP 723 blocks declare): provisioned at the first call of any of
its scripts or of its entry, whichever comes first, and shared by all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from skillexec.environments.manager import EnvironmentManager
from skillexec.errors import SkillExecError
from skillexec.request import CallOptions
from skillexec.scripts import SEPARATOR, ScriptCatalog, base_id, script_params
from skillexec.security.principals import Who
from skillexec.sessions import SessionStore
from skillexec.skills.model import EntryKind, Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.task import ExecutionResult

__all__ = ["ScriptCalls"]

Execute = Callable[..., Awaitable[ExecutionResult]]
Reject = Callable[[str, SkillExecError, CallOptions], Awaitable[tuple[Any, ExecutionResult]]]


class ScriptCalls:
    def __init__(self, *, skills: SkillRegistry, sessions: SessionStore,
                 environments: EnvironmentManager) -> None:
        self.skills = skills
        self.sessions = sessions
        self.environments = environments
        self.catalog = ScriptCatalog()
        skills.derive = self.derive

    def derive(self, id: str, requirement: str | None) -> Skill:
        """The registry's hook: ``<skill>:<script>`` -> the derived script skill."""
        base, _, script = id.partition(SEPARATOR)
        return self.catalog.skill(self.skills.get(base, requirement), script)

    async def ready(self, skill: Skill) -> Skill:
        """``skill`` with its environment ready, provisioned now at its first call (off the
        loop; ``DependencyError`` when the install fails). A script skill's environment is
        the one of the skill it belongs to: that skill is provisioned (and published to the
        registry with its ``env_paths``), and the script derived again from it."""
        envs = self.environments
        if skill.entry.kind is not EntryKind.SCRIPT:
            return await envs.ensure(skill) if skill.key in envs.pending else skill
        base = self.skills.get(base_id(skill), skill.version)
        if base.key not in envs.pending:
            return skill
        return self.catalog.skill(await envs.ensure(base), skill.entry.attr or "")

    async def run(self, skill_id: str, script: str, *, execute: Execute, reject: Reject,
                  args: Sequence[str] = (), files: Mapping[str, bytes] | None = None,
                  stdin: bytes | str | None = None, session: str | None = None,
                  timeout: float | None = None, priority: int | None = None,
                  principal: Who = None) -> ExecutionResult:
        target = f"{skill_id}{SEPARATOR}{script}"
        opts = CallOptions(priority=priority, timeout=timeout, principal=principal,
                           cache=False)
        try:
            params = script_params(args=args, files=files, stdin=stdin, session=session)
            if session is None:
                return await execute(target, params, priority=priority, timeout=timeout,
                                     principal=principal, cache=False)
            # refused (journaled) if not open, or not this principal's
            async with self.sessions.turn(session, principal=principal):
                return await execute(target, params, priority=priority, timeout=timeout,
                                     principal=principal, cache=False)
        except SkillExecError as exc:
            if exc.code == "engine_closed":
                raise  # the task ran and stays in the journal: not a refusal to record
            return (await reject(target, exc, opts))[1]

    async def sweeper(self) -> None:
        """Remove expired sessions now and then, while the engine runs."""
        every_s = min(60.0, self.sessions.settings.default_ttl_s / 4)
        while True:
            await asyncio.to_thread(self.sessions.sweep)
            await asyncio.sleep(every_s)
