"""CallOptions: what a caller asks of one call, beside the skill and its parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from skillexec.errors import ParameterError
from skillexec.resources.limits import CallLimits
from skillexec.security.principals import Who
from skillexec.skills.fields import brief

__all__ = ["CallOptions"]


class CallOptions(NamedTuple):
    """The options of ``submit``/``execute``, built once per call (a tuple: cheap to make).

    ``None`` means "not given": the skill's execution settings, then the engine's defaults,
    decide (see :class:`skillexec.pipeline.admission.Admission`).
    """

    config: Mapping[str, Any] | None = None
    priority: int | None = None
    timeout: float | None = None
    version: str | None = None
    max_retries: int | None = None
    principal: Who = None  # a str (or None) once admitted: the journal's principal id
    cache: bool = True
    limits: CallLimits | Mapping[str, float | int | None] | None = None
    deadline: float | None = None
    waits: bool = False  # the caller waits for the end (``execute``), told nothing before
    # Accepted and journaled, but not queued: its session's turn queues it (a script
    # submitted in a session, see skillexec.pipeline.scripts).
    held: bool = False

    def own_limits(self) -> CallLimits | None:
        """The call's own limits (``ValueError``: they are not limits), once its flag is
        known to be one: ``cache="no"`` or ``cache=0.5`` would be read by its truth."""
        if self.cache.__class__ is not bool:
            raise ParameterError(f"cache must be true or false, not {brief(self.cache)}",
                                 code="invalid_cache", details={"option": "cache"})
        return None if self.limits is None else CallLimits.of(self.limits)
