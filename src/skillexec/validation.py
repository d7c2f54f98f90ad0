"""ParameterValidator: a call's parameters and a skill's output checked against JSON Schema.

The validator sits on the engine's hot path, so everything that depends only on the schema is
done once per schema and cached: the compiled jsonschema-rs validator, and a *plan* saying
where a string may be coerced to which types and where defaults go. A call then costs a size
check, a walk of only the places the plan marks, and one compiled ``is_valid``; the slower
``iter_errors`` runs only when the parameters are wrong, to report every violation at once.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson

from skillexec._coercion import Node, Planner, apply_object
from skillexec._schema_errors import pointer, summary, violations
from skillexec._schema_size import MAX_EXPANDED_SUBSCHEMAS, expanded_size
from skillexec._setting_names import where_set
from skillexec.errors import ExecutionError, ManifestError, ParameterError, ResourceError
from skillexec.skills.model import Skill
from skillexec.workspace_files import wire_bytes

__all__ = ["ParameterValidator"]

_CACHE_SIZE = 4096
_I64_MIN, _U64_MAX = -(1 << 63), (1 << 64) - 1  # what orjson can encode again downstream
# Keywords that never reject an object: a schema made only of these needs no validation at all.
_INERT = frozenset({"title", "description", "$schema", "$comment", "examples", "default",
                    "deprecated", "readOnly", "writeOnly"})


@dataclass(frozen=True, slots=True)
class _Compiled:
    schema: Any  # held so that the id() keying the cache cannot be reused while cached
    validator: jsonschema_rs.Validator
    plan: Node
    accepts: str  # "any": every object; "empty": only {} (a function without parameters)


class ParameterValidator:
    """Validates parameters (defaults, safe coercion, every violation) and outputs."""

    def __init__(self, *, coerce: bool = True, max_param_bytes: int = 1 << 20,
                 max_output_bytes: int = 16 << 20) -> None:
        self.coerce = coerce
        self.max_param_bytes = max_param_bytes
        self.max_output_bytes = max_output_bytes
        self._cache: OrderedDict[int, _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def validate(self, skill: Skill, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """A new dict of validated parameters, or ParameterError naming every violation."""
        if params is None:
            data: dict[str, Any] = {}
        elif type(params) is dict:
            data = params
        elif isinstance(params, Mapping):
            data = dict(params)
        else:
            raise ParameterError(f"parameters for skill {skill.id!r} must be a JSON object, "
                                 f"not {type(params).__name__}", code="parameters_not_object")
        try:
            raw = orjson.dumps(data)
        except TypeError as exc:
            raise _not_json(skill, exc, data) from None
        # orjson writes NaN and the infinities as null: the skill would get None, and the
        # schema's error would say "got null". Looked for only when a null was written.
        if b"null" in raw and _json_problem(data, "", 0) is not None:
            raise _not_json(skill, ValueError("not JSON"), data)
        size = len(raw)
        if size > self.max_param_bytes:
            # A script's files travel in its parameters, base64 (a 1.8 MB photo is 2.4 MB):
            # the user sent a file, and is told so, which setting bounds it, and where it
            # is set (an ordinary 1.5 MB CSV of a science skill is over the default).
            files = data.get("files") if isinstance(data, dict) else None
            # (less the padding: the size of the user's file, not of a third more of it)
            sent = sum(wire_bytes(v) for v in files.values()) if isinstance(files, dict) else 0
            what = (f"the files sent ({sent} bytes, base64 in the call's parameters)"
                    if sent > size // 2 else f"parameters for skill {skill.id!r}")
            raise ParameterError(
                f"{what} come to {size} bytes of JSON, over the {self.max_param_bytes}-byte "
                f"limit: raise limits.max_param_bytes to at least {size} "
                f"({where_set('limits', 'max_param_bytes')})", code="parameters_too_large",
                details={"size": size, "limit": self.max_param_bytes})
        compiled = self._compiled(skill, skill.parameters_schema, "parameters_schema")
        if compiled.accepts and (compiled.accepts == "any" or not data):
            return dict(data) if data is params else data
        plan = compiled.plan
        if plan.box_c if self.coerce else plan.fills:
            data = apply_object(plan, data, self.coerce)
        try:
            ok = compiled.validator.is_valid(data)
        except ValueError as exc:  # a value orjson encodes but JSON Schema cannot see: datetime
            raise _not_json(skill, exc) from None
        if not ok:
            found = violations(compiled.validator, data, "parameters", compiled.schema)
            raise ParameterError(
                f"invalid parameters for skill {skill.id!r}: {summary(found)}",
                violations=found)
        return dict(data) if data is params else data

    def validate_output(self, skill: Skill, output: Any, *, size: int | None = None) -> None:
        """Check a successful result: its encoded size, then the skill's output_schema."""
        if size is not None and size > self.max_output_bytes:
            raise ResourceError(
                f"skill {skill.id!r} returned {size} bytes of JSON output, over the "
                f"{self.max_output_bytes}-byte limit", code="output_too_large",
                details={"size": size, "limit": self.max_output_bytes})
        if skill.output_schema is None:
            return
        validator = self._compiled(skill, skill.output_schema, "output_schema").validator
        try:
            ok = validator.is_valid(output)
        except ValueError as exc:
            raise ExecutionError(f"skill {skill.id!r} returned a value that is not JSON: {exc}",
                                 code="output_not_json") from None
        if not ok:  # the caller did nothing wrong: the skill broke its own promise
            found = violations(validator, output, "output", skill.output_schema)
            raise ExecutionError(
                f"skill {skill.id!r} returned output that does not match its output_schema: "
                f"{summary(found)}", code="output_schema_violation",
                details={"violations": [v.to_dict() for v in found]})

    def _compiled(self, skill: Skill, schema: Any, field: str) -> _Compiled:
        key = id(schema)
        hit = self._cache.get(key)
        if hit is not None and hit.schema is schema:
            try:
                self._cache.move_to_end(key)
            except KeyError:  # evicted by another thread just now: still good to use
                pass
            return hit
        compiled = _compile(skill, schema, field)
        with self._lock:
            self._cache[key] = compiled
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return compiled


def _not_json(skill: Skill, exc: Exception, data: Any = None) -> ParameterError:
    """Which value cannot be JSON, and where (searched only now, on the error path)."""
    found = _json_problem(data, "", 0) if data is not None else None
    if found is None:
        return ParameterError(f"parameters for skill {skill.id!r} are not JSON: {exc}",
                              code="parameters_not_json")
    where, problem = found
    said = f"{where} {problem}" if where else problem.removeprefix("are ")
    return ParameterError(f"parameters for skill {skill.id!r} are not JSON: {said}",
                          code="parameters_not_json", details={"path": where or "/"})


_JSON_DEPTH = 254  # orjson refuses deeper documents, and so do the journal and the runners


def _json_problem(value: Any, where: str, depth: int) -> tuple[str, str] | None:
    if depth > _JSON_DEPTH:
        return "", (f"are nested more than {_JSON_DEPTH} levels deep (or a value contains "
                    "itself)")
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return where, "holds text that is not valid Unicode (a lone surrogate)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (
            where, f"is {value!r}, a number JSON cannot represent")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not _I64_MIN <= value <= _U64_MAX:
            return where, "is an integer beyond the 64-bit range"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return where, f"has a key {key!r} that is not a string"
            step = key.replace("~", "~0").replace("/", "~1")
            found = _json_problem(item, f"{where}/{step}", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _json_problem(item, f"{where}/{i}", depth + 1)
            if found:
                return found
        return None
    return where, f"is a Python {type(value).__name__}, which JSON cannot represent"


# -- compiling ------------------------------------------------------------------------------


def _compile(skill: Skill, schema: Any, field: str) -> _Compiled:
    if expanded_size(schema) > MAX_EXPANDED_SUBSCHEMAS:
        raise ManifestError(
            f"skill {skill.id!r} has a {field} of more than {MAX_EXPANDED_SUBSCHEMAS} "
            "subschemas once its $refs are followed (a validator would try each of them)",
            code="invalid_schema", details={"skill": skill.id, "field": field})
    try:  # offline: a manifest must not make the engine fetch URLs
        validator = jsonschema_rs.validator_for(schema, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError,
            TypeError) as exc:
        problem = str(exc).split("\n\n", 1)[0].strip() or type(exc).__name__
        if isinstance(exc, jsonschema_rs.ValidationError) and exc.instance_path:
            problem = f"at {pointer(exc.instance_path)}: {problem}"  # where in the schema
        raise ManifestError(f"skill {skill.id!r} has an invalid {field}: {problem}",
                            code="invalid_schema",
                            details={"skill": skill.id, "field": field}) from None
    try:
        plan = Planner(schema).build()
    except RecursionError:
        raise ManifestError(f"skill {skill.id!r} has a {field} nested too deeply",
                            code="invalid_schema",
                            details={"skill": skill.id, "field": field}) from None
    return _Compiled(schema=schema, validator=validator, plan=plan, accepts=_accepts(schema))


def _accepts(schema: Any) -> str:
    """Which objects a schema accepts, when that is simple to say; else ""."""
    if schema is True:
        return "any"
    if not isinstance(schema, dict):
        return ""
    closed = False
    for key, value in schema.items():
        if key in _INERT or (key == "type" and value in ("object", ["object"])):
            continue
        if key == "additionalProperties" and isinstance(value, bool):
            closed = not value
        elif key not in ("properties", "required", "$defs", "definitions") or value:
            return ""
    return "empty" if closed else "any"
