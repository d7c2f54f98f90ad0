"""What an engine says when it is used where it cannot serve: once it is closed."""

from __future__ import annotations

from skillexec.errors import ResourceError

__all__ = ["closed_refusal", "usable"]


def closed_refusal() -> ResourceError:
    """A closed engine is not started again behind its user's back (that reopened the
    journal and the data directory's lock and started background jobs that nothing would
    release again, and then refused every call as retryable)."""
    return ResourceError(
        "this engine is closed: its journal, lock and background jobs were released; make "
        "a new SkillExecutionEngine to run more calls", code="engine_closed", retryable=False)


def usable(closed: bool) -> None:
    """Raise unless an engine (closed or not) may serve a call."""
    if closed:
        raise closed_refusal()
