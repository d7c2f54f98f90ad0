"""The server's own tools' arguments, read as their schemas say: a client that sends
``"ttl_s": "abc"`` is told which argument and what it must be, not Python's "could not
convert string to float" (the SDK does not check a call against the tool's schema)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

from skillexec.skills.fields import brief

__all__ = ["count", "only", "seconds", "text"]


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


def count(args: dict[str, Any], key: str, *, default: int, minimum: int = 1) -> int:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"'{key}' must be a whole number of at least {minimum}, not "
                         f"{brief(value)}")
    return value


def only(args: dict[str, Any], names: Sequence[str]) -> None:
    """Refuse a key the tool's schema does not name (``additionalProperties: false``),
    with the one likely meant: ignored, a model's ``arguments`` for ``args`` ran a script
    with none, and the call answered success."""
    unknown = [k for k in args if k not in names]
    if not unknown:
        return
    said = ", ".join(f"{k!r}{_meant(k, names)}" for k in unknown)
    raise ValueError(f"unknown argument{'s' if len(unknown) > 1 else ''} {said}; its "
                     f"arguments are {', '.join(names)}")


def _meant(key: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
