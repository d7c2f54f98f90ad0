"""Durations as a person reads them: ``250 ms``, ``1.5 s``, ``2 min``, ``1 h``.

Every message, report and chart label that shows a time goes through :func:`duration`, so
a timeout reads ``1 s`` (not ``0.923676 s``) and an hour ``1 h`` (not ``3.6e+03 s``).
"""

from __future__ import annotations

import math

__all__ = ["duration", "duration_ms", "number"]

# (unit, seconds in it), largest first; a value is shown in the largest unit it reaches.
_UNITS = (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3),
          ("µs", 1e-6))


def duration(seconds: float | None) -> str:
    """``seconds`` with three significant digits at most, in the unit that reads best."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if math.isinf(seconds):
        return "∞" if seconds > 0 else "-∞"
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds == 0:
        return "0 s"
    for unit, size in _UNITS:
        text = _number(seconds / size)
        # Largest unit first, judged after rounding: 0.9996 s reads "1 s", not "1000 ms".
        if float(text) >= 1.0 or unit == "µs":
            return f"{text} {unit}"
    return f"{_number(seconds)} s"  # pragma: no cover - the loop always returns


def duration_ms(ms: float | None) -> str:
    """A duration given in milliseconds (the unit metrics are kept in)."""
    return duration(None if ms is None else ms / 1000.0)


def number(value: float | None) -> str:
    """A count or measure without an exponent: ``12,345``, ``3.6``, ``0.25``."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value < 0:
        return "-" + number(-value)
    if value >= 1000 or float(value).is_integer():
        return f"{round(value):,}"
    if value < 0.01:
        return f"{value:.2g}" if value >= 1e-4 else "0"
    return _number(value)


def _number(value: float) -> str:
    """Three significant digits at most, no exponent, no trailing zeros."""
    if value >= 100:
        return str(round(value))
    digits = 1 if value >= 10 else 2
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"
