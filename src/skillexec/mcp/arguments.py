"""The server's own tools' arguments, read as their schemas say: a client that sends
``"ttl_s": "abc"`` is told which argument and what it must be, not Python's "could not
convert string to float" (the SDK does not check a call against the tool's schema)."""

from __future__ import annotations

import math
from typing import Any

from skillexec.skills.fields import brief

__all__ = ["count", "seconds", "text"]


def text(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{key}' must be a non-empty string")
    return value


def seconds(args: dict[str, Any], key: str) -> float | None:
    """A number of seconds, or None when not given (0 and below are the engine's to refuse,
    with its own words)."""
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"'{key}' must be a number of seconds, not {brief(value)}")
    return float(value)


def count(args: dict[str, Any], key: str, *, default: int) -> int:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"'{key}' must be a whole number of at least 1, not {brief(value)}")
    return value
