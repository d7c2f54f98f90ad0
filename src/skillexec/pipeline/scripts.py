"""Script calls: a skill's bundled script run as a task (``engine.run_script``).

The call becomes a task of the derived skill ``<skill>:<script>`` (see
:mod:`skillexec.scripts`), through the whole pipeline like any call; a call in a session
waits for the session's earlier calls first (one at a time, in submit order). A script
submitted (``engine.submit_script``) in a session is journaled and answered with its id at
once, but held outside the queue until its turn comes: a holder coroutine lines up for the
session's turn at submit, queues the task then, and keeps the turn until the task ends. A
held task counts as busy for the engine's close (which waits for it within its grace, and
otherwise leaves it queued in the journal, as any queued task), and cancelling it ends it
at once (``AsyncExecutor.unhold``).

A script runs in the environment of the skill it belongs to (what the skill's requirements
files, manifest and scripts' PEP 723 blocks declare): provisioned at the first call of any
of its scripts or of its entry, whichever comes first, and shared by all of them. A
submitted call's is made after its id is answered (:mod:`skillexec.pipeline.provisioning`):
in a session, at its turn, before it is queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from skillexec.environments.manager import EnvironmentManager
from skillexec.environments.requirements import RequirementSet
from skillexec.errors import ParameterError, SkillExecError
from skillexec.pipeline.provisioning import Provisioning
from skillexec.pipeline.tasks import LiveTasks
from skillexec.request import CallOptions
from skillexec.runtime.runners.base import Outcome
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.scripts import SEPARATOR, ScriptCatalog, base_id, script_params
from skillexec.security.policy import PermissionPolicy
from skillexec.security.principals import Who
from skillexec.sessions import SessionStore
from skillexec.skills.model import EntryKind, Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus
from skillexec.workspace_files import WorkspaceFile

__all__ = ["ScriptCalls"]

Execute = Callable[..., Awaitable[ExecutionResult]]
Submit = Callable[..., Awaitable[str]]
Reject = Callable[[str, SkillExecError, CallOptions], Awaitable[tuple[Any, ExecutionResult]]]
Accept = Callable[[str, Mapping[str, Any], CallOptions],
                  Awaitable[tuple[ExecutionTask, ExecutionResult | None]]]
Finish = Callable[..., Awaitable[ExecutionResult]]


class ScriptCalls:
    def __init__(self, *, skills: SkillRegistry, sessions: SessionStore,
                 environments: EnvironmentManager, queue: TaskQueue, executor: AsyncExecutor,
                 tasks: LiveTasks, finish: Finish, distributed: bool = False,
                 permissions: PermissionPolicy | None = None) -> None:
        self.skills = skills
        self.permissions = permissions or PermissionPolicy()
        self.sessions = sessions
        self.environments = environments
        self.catalog = ScriptCatalog()
        skills.derive = self.derive
        self.queue, self.executor, self.tasks, self.finish = queue, executor, tasks, finish
        self.distributed = distributed
        self._holders: set[asyncio.Task[None]] = set()  # submitted scripts' session turns
        # The engine's own calls, bound once it is made (see bind).
        self._execute: Execute | None = None
        self._submit: Submit | None = None
        self._accept: Accept | None = None
        self._reject: Reject | None = None
        self._provisioning: Provisioning | None = None

    def bind(self, *, execute: Execute, submit: Submit, accept: Accept, reject: Reject,
             provisioning: Provisioning) -> None:
        self._execute, self._submit = execute, submit
        self._accept, self._reject = accept, reject
        self._provisioning = provisioning

    def derive(self, id: str, requirement: str | None) -> Skill:
        """The registry's hook: ``<skill>:<script>`` -> the derived script skill. A plugin's
        skill has a separator in its id (``<plugin>:<skill>``): the longest known one is it."""
        at = max(self._known_ids(id, id.find(SEPARATOR)), default=id.find(SEPARATOR))
        base, script = id[:at], id[at + 1:]
        derived = self.catalog.skill(self.skills.get(base, requirement), script)
        if derived.id in self.skills:  # ``./run``: another spelling of a plugin skill's id
            raise self._ambiguous(base, derived.id)
        return derived

    def _known(self, skill_id: str, target: str) -> None:
        """SkillNotFoundError naming ``skill_id`` as given: the derived id's lookup could
        only name a part of it (``itp`` of ``itp:audit:scripts/x.py``). And a refusal where
        the script's id is also a skill's: a plugin named ``x`` with a skill ``run`` would
        take the calls (files, stdin) meant for skill ``x``'s script ``run``, and the
        grants made to its id (secrets, permissions, trust), however the path is spelled
        (``./run``: ``derive`` refuses those)."""
        if skill_id not in self.skills:
            raise self.skills.not_found(skill_id)
        if target in self.skills:
            raise self._ambiguous(skill_id, target)
        # The script is the skill's: "deploy:scripts/go.py" of skill acme named plugin
        # skill acme:deploy's script (derive takes the longest known id), run under a grant
        # of acme's alone, with acme:deploy's secrets.
        if (at := next(self._known_ids(target, len(skill_id)), None)) is not None:
            raise ParameterError(
                f"script {target[len(skill_id) + 1:]!r} of skill {skill_id!r} names a "
                f"script of another skill, {target[:at]!r}: call that skill's script by "
                "its id", code="script_outside_skill",
                details={"skill_id": skill_id, "other": target[:at]})

    def _known_ids(self, id: str, after: int) -> Iterator[int]:
        """Where the skill ids known here that ``id`` starts with end, at a separator
        past ``after`` (a plugin's skill has one in its id: ``<plugin>:<skill>``)."""
        at = after
        while (at := id.find(SEPARATOR, at + 1)) > 0:
            if id[:at] in self.skills:
                yield at

    def _env_allowed(self, skill_id: str, env: Mapping[str, str] | None) -> None:
        """Refused before it is queued: a variable the operator does not let calls give
        this skill's scripts (the runner checks again: engine.execute of a script's id)."""
        if env and (refused := self.permissions.env_refused(self.skills.get(skill_id), env)):
            raise refused

    def _ambiguous(self, skill_id: str, script_id: str) -> ParameterError:
        return ParameterError(
            f"the script call {script_id!r} names a plugin's skill as well as a script of "
            f"skill {skill_id!r}: refused while both are there (the plugin's folder: "
            f"{self.skills.get(script_id).path})", code="script_ambiguous",
            details={"skill_id": skill_id, "script_id": script_id})

    def pending(self, skill: Skill) -> RequirementSet | SkillExecError | None:
        """What ``skill``'s environment still needs (a script's: its skill's), or the
        error its requirements give; None when it is ready (or none is needed)."""
        envs = self.environments
        if not envs.pending:
            return None
        if skill.entry.kind is EntryKind.SCRIPT:
            skill = self.skills.get(base_id(skill), skill.version)
        return envs.pending.get(skill.key)

    async def ready(self, skill: Skill, *, timeout: float | None = None,
                    stop: bool = False) -> Skill:
        """``skill`` with its environment ready, provisioned now at its first call (off the
        loop; ``DependencyError`` when the install fails, or when it is not done within the
        call's ``timeout``; ``stop``: a cancellation stops the install, see
        ``EnvironmentManager.ensure``). A script skill's environment is the one of the
        skill it belongs to: that skill is provisioned (and published to the registry with
        its ``env_paths``), and the script derived again from it."""
        envs = self.environments
        if skill.entry.kind is not EntryKind.SCRIPT:
            return await envs.ensure(skill, timeout=timeout, stop=stop) \
                if skill.key in envs.pending else skill
        base = self.skills.get(base_id(skill), skill.version)
        if base.key not in envs.pending:
            return skill
        return self.catalog.skill(await envs.ensure(base, timeout=timeout, stop=stop),
                                  skill.entry.attr or "")

    async def run(self, skill_id: str, script: str, *, args: Sequence[str] = (),
                  files: Mapping[str, bytes | WorkspaceFile] | None = None,
                  stdin: bytes | str | None = None, session: str | None = None,
                  timeout: float | None = None, priority: int | None = None,
                  principal: Who = None, env: Mapping[str, str] | None = None,
                  ) -> ExecutionResult:
        """Run a skill's bundled script as a task and answer its result (``engine.run_script``;
        in a session, once the session's earlier calls have ended)."""
        assert self._execute is not None and self._reject is not None  # bound by the engine
        execute = self._execute
        target, opts = _call(skill_id, script, priority, timeout, principal)
        try:
            self._known(skill_id, target)
            params = script_params(args=args, files=files, stdin=stdin, session=session,
                                   env=env)
            self._env_allowed(skill_id, env)
            if session is None:
                return await execute(target, params, **_given(opts))
            # refused (journaled) if not open, or not this principal's
            async with self.sessions.turn(session, principal=principal):
                return await execute(target, params, **_given(opts))
        except SkillExecError as exc:
            if exc.code == "engine_closed":
                raise  # the task ran and stays in the journal: not a refusal to record
            return (await self._reject(target, exc, opts))[1]

    async def submit(self, skill_id: str, script: str, *, args: Sequence[str] = (),
                     files: Mapping[str, bytes | WorkspaceFile] | None = None,
                     stdin: bytes | str | None = None, session: str | None = None,
                     timeout: float | None = None, priority: int | None = None,
                     principal: Who = None, env: Mapping[str, str] | None = None) -> str:
        """:meth:`run`'s call, answered with its task id once the journal holds it (a
        refused call's too: its task ended ``rejected`` with the reason)."""
        assert self._submit is not None and self._reject is not None  # bound by the engine
        # held: in a session, queued only at its turn (see _held)
        target, opts = _call(skill_id, script, priority, timeout, principal,
                             held=session is not None)
        try:
            self._known(skill_id, target)
            params = script_params(args=args, files=files, stdin=stdin, session=session,
                                   env=env)
            self._env_allowed(skill_id, env)
            if session is None:
                return await self._submit(target, params, **_given(opts))
            if self.distributed:
                # Held for its turn, the task waits queued in the journal: a worker's
                # reconciler would publish it out of turn, and the turn is this engine's.
                raise ParameterError(
                    "a script submitted without waiting cannot take its session's turn in "
                    "distributed mode: the turn is kept by the engine that submitted it, "
                    "and a task held for its turn waits queued in the journal, where a "
                    "worker's reconciler would publish it out of turn; call run_script "
                    "(it waits for the turn and the result), or submit it without a session",
                    code="session_submit_distributed", details={"session": session})
            # refused now (journaled) if not open, or not this principal's
            self.sessions.path(session, principal=principal)
        except SkillExecError as exc:
            return (await self._reject(target, exc, opts))[1].task_id
        return await self._held(target, params, opts, session)

    async def _held(self, target: str, params: Mapping[str, Any], opts: CallOptions,
                    session: str) -> str:
        """Accept a call in a session, held until its turn: it lines up for the turn before
        it is accepted (submit order is turn order), and is queued once the turn comes."""
        assert self._accept is not None
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[ExecutionTask | None] = loop.create_future()
        holder = loop.create_task(self._hold(session, opts, accepted))
        self._holders.add(holder)
        holder.add_done_callback(self._holders.discard)
        try:
            task, result = await self._accept(target, params, opts)
        except BaseException:
            accepted.set_result(None)
            raise
        if result is None:  # accepted (not refused): held until its turn
            self.executor.held[task.task_id] = holder
        accepted.set_result(None if result is not None else task)
        return task.task_id

    async def _hold(self, session: str, opts: CallOptions,
                    accepted: asyncio.Future[ExecutionTask | None]) -> None:
        """A submitted call's turn in its session: make its environment and queue its task
        when the turn comes, and keep the turn until the task ends. Cancelled: the task was
        cancelled while it waited (its end is written by whoever cancelled it), or the
        engine closed (it stays queued in the journal)."""
        task: ExecutionTask | None = None
        try:
            async with self.sessions.turn(session, principal=opts.principal):
                task = await accepted
                if task is None or task.task_id not in self.executor.held:
                    return  # refused at acceptance, or cancelled meanwhile
                assert self._provisioning is not None  # bound by the engine
                # A failed install refuses it (below), as its acceptance did before.
                await self._provisioning.make(task, opts.timeout)
                if self.executor.held.pop(task.task_id, None) is None:
                    return  # cancelled meanwhile
                try:
                    self.queue.push(task)
                except SkillExecError as exc:  # a full queue
                    await self.finish(task, Outcome(error=exc.info),
                                      status=TaskStatus.REJECTED)
                    return
                self.executor.dispatch()
                await self.tasks.wait(task.task_id)
        except SkillExecError as exc:  # the turn refused it (the session closed meanwhile),
            # or its environment could not be made
            task = task if task is not None else await accepted
            if task is not None and self.executor.held.pop(task.task_id, None) is not None:
                await self.finish(task, Outcome(error=exc.info), status=TaskStatus.REJECTED)

    async def close(self) -> None:
        """Stop the holders of the calls still held (their tasks stay queued in the journal,
        for the next engine to resume)."""
        if self._provisioning is not None:
            await self._provisioning.close()
        holders = list(self._holders)
        for holder in holders:
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)

    async def sweeper(self) -> None:
        """Remove expired sessions now and then, while the engine runs."""
        every_s = min(60.0, self.sessions.settings.default_ttl_s / 4)
        while True:
            await asyncio.to_thread(self.sessions.sweep)
            await asyncio.sleep(every_s)


def _call(skill_id: str, script: str, priority: int | None, timeout: float | None,
          principal: Who, *, held: bool = False) -> tuple[str, CallOptions]:
    """A script call's task: its derived skill's id, and its options (never cached)."""
    return f"{skill_id}{SEPARATOR}{script}", CallOptions(
        priority=priority, timeout=timeout, principal=principal, cache=False, held=held)


def _given(opts: CallOptions) -> dict[str, Any]:
    """``opts`` as the keywords of ``engine.execute`` and ``engine.submit``."""
    return {k: getattr(opts, k) for k in ("priority", "timeout", "principal", "cache")}
