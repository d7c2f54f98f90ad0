"""Replay of dead letters: a client of the engine, not a part of it.

:func:`replay` submits the stored request of tasks that exhausted recovery again (a new
task each, the same parameters, config, priority, timeout and retries). It claims each task
first and journals a ``replayed`` event linking the old and the new task as soon as the new
one is accepted (:mod:`skillexec.replay_claim`), so that neither a later ``--all-failed``
(:mod:`skillexec.reliability.deadletter`) nor one running at the same moment replays the
same dead letter twice.

A task that has not ended is replayed only where it is a leftover of a stopped process
(``engine.recovery.left``: this engine found it unfinished at start, alone on the data
folder): one that an engine still runs, in this process or another, would run twice at once.

A task runs again only from the folder it ran from: where its id names another folder here
(a second folder claiming the id, run by its path), the replay is refused, naming both
(:mod:`skillexec.pipeline.origin`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from skillexec import replay_claim
from skillexec.errors import SkillExecError
from skillexec.pipeline.origin import FolderCheck
from skillexec.pipeline.recovery import Recovery
from skillexec.skills.registry import SkillRegistry
from skillexec.storage.store import StoredTask, TaskStore
from skillexec.task import ExecutionResult, Request, TaskStatus

__all__ = ["Engine", "ReplayOutcome", "replay"]


class Engine(Protocol):
    """What replay needs of an engine (a SkillExecutionEngine is one)."""

    @property
    def journal(self) -> TaskStore: ...

    @property
    def skills(self) -> SkillRegistry: ...

    @property
    def folders(self) -> FolderCheck: ...

    @property
    def recovery(self) -> Recovery: ...

    async def submit(self, skill_id: str, params: dict[str, Any] | None = None, *,
                     config: dict[str, Any] | None = ..., priority: int | None = ...,
                     timeout: float | None = ..., version: str | None = ...,
                     max_retries: int | None = ...,
                     principal: str | None = ..., cache: bool = ...,
                     deadline: float | None = ...) -> str: ...

    async def wait(self, task_id: str, timeout: float | None = None) -> ExecutionResult: ...


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    original_task_id: str
    new_task_id: str | None
    result: ExecutionResult | None
    error: str | None = None  # why it could not be replayed at all

    def to_dict(self) -> dict[str, Any]:
        return {"original_task_id": self.original_task_id, "new_task_id": self.new_task_id,
                "result": self.result.to_dict() if self.result else None,
                "error": self.error}


async def replay(engine: Engine, task_ids: list[str], *, wait: bool = True,
                 again: bool = True) -> list[ReplayOutcome]:
    """Submit each task's stored request again; wait for the new tasks' results.

    Each task is claimed first (:mod:`skillexec.replay_claim`): a task another replay runs
    at the same moment is not run again here. ``again``: a task replayed before runs again
    once that replay ended (a task named by its id); False (``--all-failed``, which runs each
    dead letter once): one that another replay ran meanwhile is not.
    """
    store = engine.journal
    unique = list(dict.fromkeys(task_ids))
    stored = dict(zip(unique, await asyncio.gather(*(store.get_request(t) for t in unique)),
                      strict=True))
    refused = {t: why for t, st in stored.items() if (why := _refusal(engine, t, st))}
    claims = await replay_claim.claim(store, [t for t in unique if t not in refused],
                                      again=again)
    refused.update(claims.refused)

    started: set[str] = set()  # claims whose submission began: theirs to end

    async def one(task_id: str) -> ReplayOutcome:
        st = stored[task_id]
        if task_id in refused or st is None:
            return ReplayOutcome(task_id, None, None, refused.get(task_id))
        token = claims.tokens[task_id]
        started.add(task_id)
        try:
            r = st.request
            version = _version(engine, task_id, r)
            new_id = await engine.submit(r.skill_id, r.params, config=r.config,
                                         priority=r.priority, timeout=r.timeout_s or None,
                                         version=version, max_retries=r.max_retries,
                                         principal=r.principal, deadline=r.deadline_s,
                                         cache=False)
        except SkillExecError as exc:
            await replay_claim.drop(store, task_id, token)
            return ReplayOutcome(task_id, None, None, str(exc))
        # Journaled before the wait: another replay started meanwhile (or after a Ctrl-C
        # here) sees that it was replayed, not a dead letter still to run.
        await asyncio.shield(replay_claim.close(store, task_id, token, new_id))
        result = await engine.wait(new_id) if wait else None
        return ReplayOutcome(task_id, new_id, result)

    try:
        outcomes = await asyncio.gather(*(one(t) for t in unique))
    except BaseException:
        # Interrupted (Ctrl-C, a cancelled caller): the claims of tasks not yet submitted
        # are let go, or the next replay would skip them for OPEN_S as if another ran them.
        # One whose submission began keeps its claim: it may have been accepted.
        left = [t for t in claims.tokens if t not in started]
        await asyncio.shield(asyncio.gather(
            *(replay_claim.drop(store, t, claims.tokens[t]) for t in left),
            return_exceptions=True))
        raise
    done = dict(zip(unique, outcomes, strict=True))
    return [done[t] for t in task_ids]


def _refusal(engine: Engine, task_id: str, st: StoredTask | None) -> str | None:
    """Why this task is not run again at all (None: it may be)."""
    if st is None:
        return f"no task with id {task_id!r}"
    if st.status is TaskStatus.REJECTED:
        # A refusal is journaled without its parameters and config (they may be what
        # was wrong): submitting its row would run a call nobody made.
        return ("it was rejected before it ran, and a refused call's "
                "parameters are not kept: make the call again")
    if not st.status.terminal and task_id not in engine.recovery.left:
        # Not a stopped process's leftover: an engine (this one, another process on the
        # data folder, a node of the shared journal) may still run it.
        return (f"it has not ended ({st.status.value}) and an engine may still be running "
                f"it, here or in another process on this journal: cancel it first "
                f"(skillexec tasks cancel {task_id}) or wait for it to end")
    return None


def _version(engine: Engine, task_id: str, r: Request) -> str | None:
    """The version to submit: None (the latest, as a replay runs) where the id's latest is
    in the folder the task ran from; else the task's own version, if that one is; else
    the refusal (SkillExecError) naming both folders."""
    skills = engine.skills
    try:
        latest = skills.get(r.skill_id)
    except SkillExecError:
        return None  # submit refuses it, and says why
    refused = engine.folders.refusal(task_id, r, latest)
    if refused is None:
        return None
    try:
        own = skills.get(r.skill_id, r.skill_version)
    except SkillExecError:
        raise refused from None
    if own is latest or engine.folders.refusal(task_id, r, own) is not None:
        raise refused
    return r.skill_version
