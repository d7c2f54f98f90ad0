"""CallOptions: what a caller asks of one call, beside the skill and its parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from skillexec.resources.limits import CallLimits
from skillexec.security.principals import Who

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
