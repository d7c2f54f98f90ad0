"""Prediction: what a call will cost and whether it will fail, learned online from history.

Each skill has cells: one for all its calls, and one per *parameter class* — the values of
its enum-like parameters (schema ``enum``, ``const`` or ``boolean``), e.g. ``format=pdf``.
A cell is an exponentially-forgetting least-squares fit of duration on payload size (the
JSON size of the parameters), so a skill whose cost grows with its input is predicted from
the input, plus a forgetting failure rate. Everything is O(1) per call and bounded: a cell
is a dozen floats, and a skill keeps at most ``max_keys`` classes (least recently used go).

Quantiles assume residuals are roughly normal around the fit; the p95/p99 are therefore
estimates meant for choosing timeouts with a margin, not guarantees.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from skillexec.forecast import Features, Prediction
from skillexec.skills.model import Skill

# The values live in skillexec.forecast (a task carries them; smart depends on task, not
# the reverse); they are re-exported here, where they are made.
__all__ = ["Features", "Prediction", "Predictor", "features_of"]

_Z95 = 1.645
_Z99 = 2.326
_PRIOR_FAIL = 0.05  # a skill we know nothing of fails this often...
_PRIOR_WEIGHT = 2.0  # ...worth this many calls of evidence
_MIN_CLASS_WEIGHT = 5.0  # a parameter class is used once it has this much evidence
_tuple_new = tuple.__new__


class _Cell:
    """Forgetting sums for y = a + b·x (x: payload KiB, y: ms) and a failure rate."""

    __slots__ = ("fails", "n", "sx", "sxx", "sxy", "sy", "syy", "total")

    def __init__(self) -> None:
        self.n = self.sx = self.sxx = self.sy = self.sxy = self.syy = 0.0
        self.fails = self.total = 0.0

    def add(self, x: float, y: float | None, failed: bool, decay: float) -> None:
        self.fails = self.fails * decay + failed
        self.total = self.total * decay + 1.0
        if y is None:
            return
        self.n = self.n * decay + 1.0
        self.sx = self.sx * decay + x
        self.sxx = self.sxx * decay + x * x
        self.sy = self.sy * decay + y
        self.sxy = self.sxy * decay + x * y
        self.syy = self.syy * decay + y * y

    def mean(self) -> float:
        return self.sy / self.n

    def fit(self, x: float) -> tuple[float, float]:
        """(expected y at x, residual standard deviation)."""
        n = self.n
        mx, my = self.sx / n, self.sy / n
        vxx = self.sxx / n - mx * mx
        # A slope only where sizes really vary (relative to their scale); else the mean.
        b = (self.sxy / n - mx * my) / vxx if vxx > 1e-9 * (1.0 + mx * mx) else 0.0
        a = my - b * mx
        vyy = self.syy / n - my * my
        resid = max(0.0, vyy - b * b * vxx)
        return max(0.0, a + b * x), math.sqrt(resid)

    def p_fail(self) -> float:
        return (self.fails + _PRIOR_FAIL * _PRIOR_WEIGHT) / (self.total + _PRIOR_WEIGHT)


class _SkillModel:
    __slots__ = ("all", "classes")

    def __init__(self) -> None:
        self.all = _Cell()
        self.classes: OrderedDict[str, _Cell] = OrderedDict()


class Predictor:
    """Online per-skill models of duration and failure. Not thread-safe (the loop's)."""

    def __init__(self, *, half_life_calls: int = 500, max_keys: int = 64,
                 max_skills: int = 10_000) -> None:
        self._decay = 0.5 ** (1.0 / half_life_calls)
        self._max_keys = max_keys
        self._max_skills = max_skills
        self._skills: OrderedDict[str, _SkillModel] = OrderedDict()

    def predict(self, skill_id: str, features: Features) -> Prediction | None:
        model = self._skills.get(skill_id)
        if model is None or model.all.n <= 0:
            return None
        cell, basis = model.all, "skill"
        if features.key:
            c = model.classes.get(features.key)
            if c is not None and c.n >= _MIN_CLASS_WEIGHT:
                cell, basis = c, "class"
        expected, sd = cell.fit(features.payload_bytes / 1024.0)
        # tuple.__new__ directly: a named tuple's own __new__ is a Python call, per call.
        return _tuple_new(Prediction, (expected, expected + _Z95 * sd, expected + _Z99 * sd,
                                       cell.p_fail(), cell.total, basis, model.all.mean()))

    def observe(self, skill_id: str, features: Features, duration_ms: float | None,
                failed: bool) -> None:
        skills = self._skills
        model = skills.get(skill_id)
        if model is None:
            model = skills[skill_id] = _SkillModel()
            if len(skills) > self._max_skills:
                skills.popitem(last=False)
        x = features.payload_bytes / 1024.0
        d = self._decay
        model.all.add(x, duration_ms, failed, d)
        if features.key:
            classes = model.classes
            cell = classes.get(features.key)
            if cell is None:
                cell = classes[features.key] = _Cell()
                if len(classes) > self._max_keys:
                    classes.popitem(last=False)
            else:
                classes.move_to_end(features.key)
            cell.add(x, duration_ms, failed, d)

    def __len__(self) -> int:
        return len(self._skills)


_ENUM_LIKE: dict[int, tuple[Skill, tuple[str, ...]]] = {}


def _enum_like(skill: Skill) -> tuple[str, ...]:
    # Keyed by identity (a Skill is immutable), holding the skill so its id stays unique.
    hit = _ENUM_LIKE.get(id(skill))
    if hit is not None and hit[0] is skill:
        return hit[1]
    props = (skill.parameters_schema or {}).get("properties") or {}
    names = tuple(sorted(
        name for name, spec in props.items() if isinstance(spec, Mapping) and (
            "enum" in spec or "const" in spec or spec.get("type") == "boolean")))
    if len(_ENUM_LIKE) > 10_000:
        _ENUM_LIKE.clear()
    _ENUM_LIKE[id(skill)] = (skill, names)
    return names


def features_of(skill: Skill, params: Mapping[str, Any]) -> Features:
    """The features of one call: its payload size and its parameter class."""
    try:
        size = len(orjson.dumps(params))
    except TypeError:
        size = 0
    names = _enum_like(skill)
    if not names:
        return _tuple_new(Features, (size, ""))  # the common case
    key = "&".join(f"{n}={params.get(n)!s:.40}" for n in names)
    return _tuple_new(Features, (size, key))
