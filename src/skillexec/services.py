"""Services: the narrow surface an engine hands its components, instead of itself.

Middleware gets it in ``on_start``; the monitor, the SmartExecutor and the alert manager
are built from it. Everything here is either a component with its own public API (the
journal, the event bus, the skill registry, ...) or a small function the engine answers
(live tasks, queue depth, runner policy, spawn), so a component can never reach the
engine's internals, and the engine can change them without breaking a component.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from skillexec.artifacts import ArtifactManager
    from skillexec.events import EventBus
    from skillexec.resources.manager import ResourceManager
    from skillexec.skills.model import Skill
    from skillexec.skills.registry import SkillRegistry
    from skillexec.storage.store import TaskStore
    from skillexec.task import ExecutionTask
    from skillexec.validation import ParameterValidator

__all__ = ["Hooks", "Services"]


class Hooks(Protocol):
    """The engine's middleware (:class:`skillexec.middleware.HookIndex`), changeable at run
    time. Typed by shape: the middleware module depends on this one, not the reverse."""

    def add(self, middleware: Any) -> None: ...

    def remove(self, middleware: Any) -> bool: ...

    def replace(self, old: Any, new: Any) -> None: ...

    def __contains__(self, middleware: object) -> bool: ...


@dataclass(frozen=True, slots=True, eq=False)
class Services:
    data_dir: Path
    journal: TaskStore
    """The task journal. Its write contract: :mod:`skillexec.storage.journal`."""
    events: EventBus
    skills: SkillRegistry
    validator: ParameterValidator
    resources: ResourceManager
    artifacts: ArtifactManager
    hooks: Hooks
    """The engine's middleware: add, replace or remove at run time."""
    isolation_of: Callable[[Skill], str]
    """The runner a call of this skill uses unless an advisor chooses another."""
    runner_allows: Callable[[str, Skill], bool]
    """Whether this engine's runner (by name) exists and will run this skill here."""
    live_task: Callable[[str], ExecutionTask | None]
    live_tasks: Callable[[], Iterable[ExecutionTask]]
    queue_depth: Callable[[], dict[int, int]]
    """Queued tasks per priority, now."""
    running: Callable[[], int]
    """Attempts holding a slot, now."""
    breakers: Callable[[], dict[str, dict[str, Any]]]
    """This engine's circuit breakers, per skill, as they are now."""
    threads_stuck: Callable[[], int]
    """Worker threads of the inline runner that outlived their call's timeout."""
    coroutines_stuck: Callable[[], int]
    """Async skills' coroutines let go of after their call ended that still run."""
    spawn: Callable[[Coroutine[Any, Any, Any]], None]
    """Run a coroutine in the background; the engine cancels it at close."""
    journal_event: Callable[[str, dict[str, Any]], None]
    """Record an engine event (fire-and-forget: a failed write is logged, never raised)."""
