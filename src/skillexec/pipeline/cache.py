"""ResultCache: the stage that answers a call from the result cache, makes an identical
call follow one already running (single-flight), and lands the leader's result on both.
A leader that is cancelled hands the run to its first follower that is not: one caller
giving up never cancels the identical calls of others."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import orjson

from skillexec.errors import ResourceError
from skillexec.events import EventBus
from skillexec.optimization.optimizer import ExecutionOptimizer
from skillexec.optimization.singleflight import Flight
from skillexec.pipeline.recovery import cancelled_info
from skillexec.runtime.runners.base import Outcome
from skillexec.skills.model import Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["ResultCache"]

Finish = Callable[..., Awaitable[ExecutionResult]]


class ResultCache:
    def __init__(self, *, optimizer: ExecutionOptimizer, skills: SkillRegistry,
                 journal: TaskStore, events: EventBus, live: dict[str, ExecutionTask],
                 cancelling: set[str], finish: Finish) -> None:
        self.optimizer = optimizer
        self.skills = skills
        self.journal = journal
        self.events = events
        self.live = live
        self.cancelling = cancelling
        self.finish = finish
        # Runs a follower that has to lead after all (see _promote); the engine's executor,
        # bound by the engine (None in distributed mode: a worker runs the published task).
        self.rerun: Callable[[ExecutionTask], None] | None = None
        self.following: dict[str, Flight] = {}  # follower's task id -> the flight it follows

    async def shortcut(self, task: ExecutionTask, skill: Skill, key: str,
                       ) -> tuple[ExecutionTask, ExecutionResult | None] | None:
        """A cache hit (finished at once, no slot) or a follower of an identical call."""
        opt = self.optimizer
        if skill.execution.cacheable:
            hit = await opt.lookup(key, skill, self.skills.get(skill.id).version)
            if hit is not None:
                self.journal.queued(task)  # one transaction with the result below
                return task, await self.finish(
                    task, Outcome(output=orjson.loads(hit.value_json),
                                  output_json=hit.value_json), cached=True)
        flight = opt.follow(key, task)
        if flight is None:
            return None
        self.following[task.task_id] = flight
        task.status = TaskStatus.QUEUED
        task.queued_mono = time.monotonic()
        self.live[task.task_id] = task
        try:
            await self.journal.queued(task)
        except asyncio.CancelledError:
            # Its caller gave up while the row was written, which lands regardless (the
            # journal's group commit): it ends cancelled when its leader lands, never left
            # queued for the next engine to run for nobody.
            self.cancelling.add(task.task_id)
            raise
        except BaseException:
            self.live.pop(task.task_id, None)
            self.following.pop(task.task_id, None)
            with contextlib.suppress(ValueError):
                flight.followers.remove(task)
            raise
        self.events.status(task)
        return task, None

    async def land(self, flight: Flight, task: ExecutionTask, result: ExecutionResult,
                   outcome: Outcome) -> None:
        """The leader of identical calls ended: cache its result, end its followers."""
        value = outcome.output_json
        if flight.cacheable and result.status is TaskStatus.SUCCEEDED and not result.cached:
            if value is None:
                value = orjson.dumps(result.output, default=str)
            self.optimizer.keep(flight, task.request.skill_id, task.request.skill_version, value)
        if not flight.followers:
            return
        for follower in flight.followers:
            self.following.pop(follower.task_id, None)
        if result.status is TaskStatus.CANCELLED and self.rerun is not None:
            try:
                if self._promote(flight):
                    return
            except ResourceError as exc:  # a full queue: the followers are told so
                ends = [self.finish(f, Outcome(error=exc.info), status=TaskStatus.REJECTED)
                        for f in flight.followers]
                await asyncio.gather(*ends)
                return
        shared = [{"attempt": 0, "decision": "shared", "leader_task_id": task.task_id,
                   "status": result.status.value}]
        ends = []
        for follower in flight.followers:
            if follower.task_id in self.cancelling:
                ends.append(self.finish(follower, Outcome(error=cancelled_info()),
                                        status=TaskStatus.CANCELLED))
                continue
            follower.request = follower.request.at_version(result.skill_version)
            ends.append(self.finish(
                follower, Outcome(output=result.output, error=result.error,
                                  metrics={"shared": 1, "leader_wall_ms":
                                           result.metrics.get("wall_ms")},
                                  output_json=value),
                status=result.status, history=shared))
        await asyncio.gather(*ends)

    def unfollow(self, task_id: str) -> bool:
        """Take a follower out of its flight (it is being cancelled, and ends now rather
        than when its leader does). False: ``task_id`` follows no flight."""
        flight = self.following.pop(task_id, None)
        if flight is None:
            return False
        flight.followers = [f for f in flight.followers if f.task_id != task_id]
        return True

    def _promote(self, flight: Flight) -> bool:
        """The leader was cancelled (its caller gave up, or its id was cancelled), which
        its followers did not ask for: the first of them not cancelled itself leads now
        and runs, the others follow it. False: every follower is being cancelled."""
        assert self.rerun is not None
        heir = next((f for f in flight.followers if f.task_id not in self.cancelling), None)
        if heir is None:
            return False
        # No await since the flight landed: no identical call has taken its key meanwhile.
        led = self.optimizer.flights.lead(flight.key, heir.task_id,
                                          cacheable=flight.cacheable, shared=flight.shared,
                                          ttl_s=flight.ttl_s)
        led.followers = [f for f in flight.followers if f is not heir]
        for follower in led.followers:
            self.following[follower.task_id] = led
        try:
            self.rerun(heir)
        except ResourceError:
            self.optimizer.flights.land(heir.task_id)
            raise
        return True
