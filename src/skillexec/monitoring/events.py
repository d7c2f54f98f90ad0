"""Task events, as :mod:`skillexec.events` defines them (kept here for existing imports)."""

from skillexec.events import EventBus, EventLog, TaskEvent, TaskState

__all__ = ["EventBus", "EventLog", "TaskEvent", "TaskState"]
