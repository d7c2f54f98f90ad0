"""A successful attempt's output, as JSON: encoded once, checked, and given back as the
journal holds it.

One answer whatever path serves it (DESIGN §3.4: a JSON value is the output as is): the
caller of ``execute`` in this process, a cache hit, ``status()`` from the journal after a
restart and a child of the isolated runners (which encodes with the same options) all read
the same value. What orjson encodes natively but JSON has no type for (a datetime, a UUID,
a tuple, a dataclass, an enum, a dict with int keys, a numpy array) is given back as its
JSON form; NaN and the infinities become null, as they do in the journal. The live object
stayed the output before, while the journal kept another value (and the caller shared the
skill's own objects). An integer beyond 64 bits is refused by name: orjson cannot encode
it, and read back from JSON it would come out a float.
"""

from __future__ import annotations

import math

import orjson

from skillexec.errors import ExecutionError, SkillExecError
from skillexec.runtime.runners.base import Outcome
from skillexec.skills.model import Skill
from skillexec.validation import ParameterValidator

__all__ = ["OPTIONS", "checked_output"]

# The isolated runners' child encodes its result with these (runners._child_serve).
OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

# Outputs that are their own JSON form and cannot be changed in place: kept as they are
# (a float checked for NaN and the infinities). Anything else is read back from its JSON.
_PLAIN = frozenset({str, int, bool, type(None)})


def checked_output(validator: ParameterValidator, skill: Skill, outcome: Outcome, *,
                   decoded: bool = False) -> Outcome:
    """``outcome`` with its output encoded (``output_json``) and given back as JSON, or
    failed: not JSON, over the size cap, or against the skill's ``output_schema``.
    ``decoded``: the runner read the output from JSON itself (nobody else holds it)."""
    output = outcome.output
    try:
        encoded = orjson.dumps(output, option=OPTIONS)
    except TypeError as exc:
        return Outcome(error=ExecutionError(_not_json(skill, exc), code="output_not_json").info,
                       metrics=outcome.metrics)
    kind = type(output)
    if kind is float:
        if not math.isfinite(output):
            output = None  # what the journal holds (orjson wrote null)
    elif kind not in _PLAIN and not decoded:
        output = orjson.loads(encoded)
    try:
        validator.validate_output(skill, output, size=len(encoded))
    except SkillExecError as exc:
        return Outcome(error=exc.info, metrics=outcome.metrics)
    outcome.output = output  # this attempt's own outcome: no copy to make
    outcome.output_json = encoded
    return outcome


def _not_json(skill: Skill, exc: TypeError) -> str:
    if "64-bit" in str(exc):
        return (f"skill {skill.id!r} returned an integer beyond 64 bits, which its JSON "
                "output cannot carry (read back, it would come out a float): return it as "
                "a string")
    return f"skill {skill.id!r} returned a value that is not JSON: {exc}"
