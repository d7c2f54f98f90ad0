"""ParameterValidator per-call cost (issue: the ParameterValidator; budget: DESIGN §8).

Run:  .venv/bin/python bench/bench_validation.py [--calls 200000]

Prints microseconds per validate() call, best of five runs, for:
  1. a no-op schema ({"type": "object"}) with empty parameters
  2. a 6-property schema with already well-typed parameters (defaults filled for two)
  3. the same schema with every value a string to coerce (what the CLI sends)
  4. the same schema with coercion switched off and well-typed parameters
  5. the error path: three violations, reported at once
and, for scale, a bare orjson.dumps of the 6-property parameters (the size check alone).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import orjson

from skillexec.errors import ParameterError
from skillexec.skills.model import Entry, EntryKind, Skill
from skillexec.validation import ParameterValidator

SIX = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "limit": {"type": "integer", "minimum": 1, "default": 100},
        "ratio": {"type": "number", "exclusiveMinimum": 0},
        "header": {"type": "boolean", "default": True},
        "columns": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["fast", "exact"]},
    },
    "required": ["path"],
    "additionalProperties": False,
}
TYPED = {"path": "data.csv", "ratio": 0.5, "columns": ["a", "b"], "mode": "fast"}
STRINGS = {"path": "data.csv", "limit": "10", "ratio": "0.5", "header": "no",
           "columns": "a, b", "mode": "fast"}
BAD = {"limit": 0, "ratio": "x", "mode": "slow"}


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    calls = parser.parse_args().calls
    entry = Entry(kind=EntryKind.NONE)
    noop = Skill(id="noop", version="1.0.0", entry=entry)
    six = Skill(id="six", version="1.0.0", entry=entry, parameters_schema=SIX)
    on, off = ParameterValidator(), ParameterValidator(coerce=False)
    assert on.validate(six, STRINGS) == on.validate(six, {**TYPED, "limit": 10,
                                                          "header": False})

    def bad() -> None:
        try:
            on.validate(six, BAD)
        except ParameterError:
            pass

    rows = [
        ("no-op schema, {}", lambda: on.validate(noop, {})),
        ("6 properties, typed", lambda: on.validate(six, TYPED)),
        ("6 properties, all strings coerced", lambda: on.validate(six, STRINGS)),
        ("6 properties, typed, coerce off", lambda: off.validate(six, TYPED)),
        ("6 properties, 3 violations (error path)", bad),
        ("orjson.dumps of the 6 parameters alone", lambda: orjson.dumps(STRINGS)),
    ]
    for label, fn in rows:
        n = calls // 10 if fn is bad else calls
        print(f"{label:<42} {per_call_us(fn, n):7.2f} us/call")


if __name__ == "__main__":
    main()
