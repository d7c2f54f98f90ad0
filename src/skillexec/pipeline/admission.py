"""Admission: whether a request may run here, and the task it becomes.

The checks are a list, run in order on the resolved skill; each raises the SkillExecError
that refuses the call (and names why). Then the request's options are resolved against the
skill's execution settings and the operator's maxima.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from skillexec.config import EngineConfig
from skillexec.errors import (
    DependencyError,
    ParameterError,
    ResourceError,
    SkillExecError,
    SkillPermissionError,
)
from skillexec.pipeline.authorization import Authorization
from skillexec.pipeline.origin import folder_of
from skillexec.reliability.handler import ErrorHandler
from skillexec.runtime.binary_inputs import BinaryFields
from skillexec.runtime.runners.base import Runner
from skillexec.security.isolation_policy import IsolationPolicy
from skillexec.security.policy import PermissionPolicy
from skillexec.security.principals import LOCAL, Principal, Who, principal_id, principal_of
from skillexec.skills.model import Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.task import ExecutionTask, Request
from skillexec.validation import ParameterValidator

__all__ = ["Admission", "Check", "deadline_s", "wait_timeout_s"]

Check = Callable[[Skill, Runner], object]  # raises to refuse; what it returns is ignored


class Admission:
    def __init__(self, *, config: EngineConfig, runners: Mapping[str, Runner],
                 policy: IsolationPolicy, permissions: PermissionPolicy,
                 skills: SkillRegistry, validator: ParameterValidator,
                 error_handler: ErrorHandler, authorization: Authorization) -> None:
        self.config = config
        self.runners = runners
        self.policy = policy
        self.validator = validator
        self.authorize = authorization.check
        self.binary = BinaryFields()
        # After the skill is found runnable and the runner its isolation needs is found.
        self.checks: list[Check] = [
            lambda skill, _: permissions.check(skill),  # a refused permission
            lambda skill, _: error_handler.refuse_if_open(skill),  # an open circuit
            _runner_accepts,  # e.g. the sandbox is not available on this machine
            lambda skill, _: skills.check_dependencies(skill)]

    def task_for(self, task_id: str, skill: Skill, params: Mapping[str, Any] | None,
                 config: Mapping[str, Any] | None, priority: int | None,
                 timeout: float | None, max_retries: int | None,
                 principal: Who, deadline: float | None) -> ExecutionTask:
        """Run every check, then the task this request becomes (parameters validated)."""
        # First: may this principal run it? (A Principal is its own: principal_of would
        # first compare it with a name, a dataclass __eq__ call.)
        who = principal if principal.__class__ is Principal else principal_of(principal)
        self._admit(who, skill)
        if fields := self.binary.of(skill):  # bytes for "format": "binary" properties
            params = self.binary.encode(params, fields)
        validated = self.validator.validate(skill, params)
        ex = self.policy.effective(skill.execution)  # clamped to the maxima
        if config is not None and not isinstance(config, Mapping):  # else a TypeError
            raise ParameterError(f"config must be a mapping of the skill's settings, not "
                                 f"{type(config).__name__}", code="invalid_config")
        cfg = {**skill.default_config, **config} if config else skill.default_config
        c = self.config
        prio = priority if priority is not None else (
            ex.priority if ex.priority is not None else c.default_priority)
        # Of the wrong type (priority="5" from Python), each was a TypeError out of execute.
        if not (_whole(prio) and 0 <= prio <= 9):
            raise ParameterError(f"priority must be a whole number from 0 to 9 (got {prio!r})",
                                 code="invalid_priority")
        timeout_s = timeout if timeout is not None else (ex.timeout_s or c.default_timeout_s)
        if not (_number(timeout_s) and 0 < timeout_s < math.inf):  # NaN fails this too
            raise ParameterError(f"timeout must be a positive number of seconds "
                                 f"(got {timeout_s!r})", code="invalid_timeout")
        retries = max_retries if max_retries is not None else (
            ex.max_retries if ex.max_retries is not None else c.default_max_retries)
        if not (_whole(retries) and retries >= 0):
            raise ParameterError(f"max_retries must be a whole number of at least 0 (got "
                                 f"{retries!r})", code="invalid_max_retries")
        # A call may tighten, never pass the operator's maxima either.
        req = Request(skill.id, skill.version, validated, dict(cfg), prio,
                      float(min(timeout_s, self.policy.max_timeout_s)),
                      min(retries, self.policy.max_retries),
                      ex.idempotent, time.time(), principal_id(principal), deadline,
                      folder_of(skill))
        return ExecutionTask(task_id, req, validated, req.timeout_s, req.max_retries,
                             skill=skill, who=who, timeout_fixed=timeout is not None,
                             retries_fixed=max_retries is not None)

    def fallback(self, task: ExecutionTask, skill: Skill) -> None:
        """Raise a SkillExecError unless ``skill`` may run as ``task``'s fallback: every
        check a call of it by the same caller passes. A manifest's ``fallback`` is a
        request, never a grant: a skill that fails on purpose must not reach one its
        caller may not run."""
        who = task.who
        if who is None:
            if task.principal is not None:  # recovered or claimed: its grants are not here
                raise SkillPermissionError(
                    f"the fallback {skill.id!r} of a task of principal {task.principal!r} "
                    "recovered from the journal is not run (its grants are not known here)",
                    code="skill_not_granted",
                    details={"principal": task.principal, "skill_id": skill.id})
            who = LOCAL
        self._admit(who, skill)

    def _admit(self, who: Principal, skill: Skill) -> None:
        """Every check a call of ``skill`` by ``who`` must pass before it is accepted."""
        self.authorize(who, skill)
        self.recheck(skill)

    def recheck(self, skill: Skill) -> None:
        """The checks of ``skill`` itself (not of its caller, whose grants were checked
        where the task was accepted), for a task read from the journal: a worker's claim,
        or a task recovered after a restart. The skill found here under that id may not be
        the one admitted there, and this node's settings are its own."""
        _runnable(skill)
        runner = self._runner(skill)
        for check in self.checks:
            check(skill, runner)

    def refused(self, task_id: str, skill_id: str, version: str | None,
                priority: int | None, principal: Who) -> ExecutionTask:
        """The task a refused request is recorded as (it ends ``rejected`` at once)."""
        prio = priority if _whole(priority) and 0 <= priority <= 9 \
            else self.config.default_priority
        # A version that is not text (version=["1"]) is the refusal's reason, not a column.
        return ExecutionTask.of(task_id, Request(
            skill_id, version if isinstance(version, str) else "", {}, {}, prio, 0.0, 0,
            False, time.time(), principal_id(principal)))

    def _runner(self, skill: Skill) -> Runner:
        isolation = self.policy.isolation(skill)  # refused here if it asks for too little
        runner = self.runners.get(isolation._value_)
        if runner is None:
            raise ResourceError(
                f"skill {skill.id!r} needs isolation {isolation.value!r}, which this engine "
                "does not provide", code="isolation_unavailable")
        return runner


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _runner_accepts(skill: Skill, runner: Runner) -> None:
    refused = runner.refusal(skill)
    if refused is not None:
        raise SkillExecError.from_info(refused)


def _runnable(skill: Skill) -> None:
    if not skill.runnable:
        # What it offers instead (the HTTP execute route said nothing of its scripts).
        scripts = (f"; it offers {len(skill.scripts)} bundled script"
                   f"{'s' if len(skill.scripts) != 1 else ''} ({', '.join(skill.scripts[:3])}"
                   f"{', ...' if len(skill.scripts) > 3 else ''}): run one as a script "
                   "(run_script, skillexec script, POST /api/skills/{id}/scripts, MCP "
                   "run_skill_script)" if skill.scripts else "")
        raise DependencyError(
            f"skill {skill.id!r} has no executable entry: {skill.entry.reason or 'none'}"
            + scripts, code="no_entry_point",
            details={"scripts": list(skill.scripts[:20])} if skill.scripts else None)


def wait_timeout_s(value: float | None, *, name: str = "timeout") -> float | None:
    """How long to wait for a task's end: None (no limit) or seconds, 0 or more."""
    if value is not None and not (_number(value) and value >= 0):  # NaN fails this too
        raise ParameterError(f"{name} must be a number of seconds, 0 or more (got "
                             f"{value!r})", code=f"invalid_{name}")
    return value


def deadline_s(given: float | None, default: float | None) -> float:
    value = given if given is not None else default
    if value is None or not 0 < value < math.inf:  # NaN fails this too
        raise ParameterError(f"deadline must be a positive number of seconds (got {value})",
                             code="invalid_deadline")
    return float(value)
