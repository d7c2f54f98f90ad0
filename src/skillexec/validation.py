"""ParameterValidator: a call's parameters and a skill's output checked against JSON Schema.

The validator sits on the engine's hot path, so everything that depends only on the schema is
done once per schema and cached: the compiled jsonschema-rs validator, and a *plan* saying
where a string may be coerced to which types and where defaults go. A call then costs a size
check, a walk of only the places the plan marks, and one compiled ``is_valid``; the slower
``iter_errors`` runs only when the parameters are wrong, to report every violation at once.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jsonschema_rs
import orjson

from skillexec.errors import (
    ExecutionError,
    ManifestError,
    ParameterError,
    ResourceError,
    Violation,
)
from skillexec.skills.model import Skill

__all__ = ["ParameterValidator"]

_CACHE_SIZE = 4096
_SHOWN = 5  # violations spelled out in an error's one sentence; all of them are in details
_NO: Any = object()  # "no such value / coercion refused", distinct from a real None
_ORDER = ("null", "integer", "number", "boolean", "array", "object")  # "1" is 1 before True
_INT = re.compile(r"[-+]?\d+")
_NUM = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")  # float() alone accepts "1_0", "nan"
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_I64_MIN, _U64_MAX = -(1 << 63), (1 << 64) - 1  # what orjson can encode again downstream
_IMMUTABLE = (str, int, float, bool, type(None))
# Keywords that never reject an object: a schema made only of these needs no validation at all.
_INERT = frozenset({"title", "description", "$schema", "$comment", "examples", "default",
                    "deprecated", "readOnly", "writeOnly"})


@dataclass(eq=False, slots=True)
class _Node:
    """What to do at one place of the parameters; a graph, cyclic when the schema recurses."""

    want: tuple[str, ...] = ()  # types a string here may become, in trial order
    props: tuple[tuple[str, _Node], ...] = ()  # every declared property's node
    props_c: tuple[tuple[str, _Node], ...] = ()  # those with work when coercing
    props_f: tuple[tuple[str, _Node], ...] = ()  # those with work when only filling defaults
    declared: frozenset[str] = frozenset()
    defaults: tuple[tuple[str, Any, bool, _Node | None], ...] = ()  # name, value, mutable, node
    extra: _Node | None = None  # additionalProperties, for undeclared keys
    items: _Node | None = None
    prefix: tuple[_Node | None, ...] = ()
    coerces: bool = False  # a string here or below may be coerced
    fills: bool = False  # a default may be filled here or below
    box_c: bool = False  # with coercion on, a container here has work inside it


@dataclass(frozen=True, slots=True)
class _Compiled:
    schema: Any  # held so that the id() keying the cache cannot be reused while cached
    validator: jsonschema_rs.Validator
    plan: _Node
    trivial: bool  # accepts every object: nothing to do for parameters


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
            raise ParameterError(
                f"parameters for skill {skill.id!r} must be a JSON object, "
                f"not {type(params).__name__}", code="parameters_not_object")
        try:
            size = len(orjson.dumps(data))
        except TypeError as exc:
            raise ParameterError(f"parameters for skill {skill.id!r} are not JSON: {exc}",
                                 code="parameters_not_json") from None
        if size > self.max_param_bytes:
            raise ParameterError(
                f"parameters for skill {skill.id!r} are {size} bytes of JSON, over the "
                f"{self.max_param_bytes}-byte limit", code="parameters_too_large",
                details={"size": size, "limit": self.max_param_bytes})
        schema = skill.parameters_schema
        compiled = self._cache.get(id(schema))  # _compiled's fast path, inlined
        if compiled is None or compiled.schema is not schema:
            compiled = self._compiled(skill, schema, "parameters_schema")
        elif len(self._cache) > 1:
            try:
                self._cache.move_to_end(id(schema))
            except KeyError:  # evicted by another thread just now: still good to use
                pass
        if compiled.trivial:
            return dict(data) if data is params else data
        plan = compiled.plan
        if plan.box_c if self.coerce else plan.fills:
            data = _apply_object(plan, data, self.coerce)
        try:
            ok = compiled.validator.is_valid(data)
        except ValueError as exc:  # a value orjson encodes but JSON has no word for: datetime
            raise ParameterError(f"parameters for skill {skill.id!r} are not JSON: {exc}",
                                 code="parameters_not_json") from None
        if not ok:
            violations = _violations(compiled.validator, data, "parameters")
            raise ParameterError(
                f"invalid parameters for skill {skill.id!r}: {_summary(violations)}",
                violations=violations)
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
        if not ok:
            # The caller did nothing wrong: the skill broke its own promise.
            violations = _violations(validator, output, "output")
            raise ExecutionError(
                f"skill {skill.id!r} returned output that does not match its output_schema: "
                f"{_summary(violations)}", code="output_schema_violation",
                details={"violations": [v.to_dict() for v in violations]})

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


# -- compiling ------------------------------------------------------------------------------


def _compile(skill: Skill, schema: Any, field: str) -> _Compiled:
    if schema is None:
        schema = {}
    try:
        # offline: a manifest must not make the engine fetch URLs.
        validator = jsonschema_rs.validator_for(schema, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError,
            TypeError) as exc:
        problem = str(exc).split("\n\n", 1)[0].strip() or type(exc).__name__
        raise ManifestError(f"skill {skill.id!r} has an invalid {field}: {problem}",
                            code="invalid_schema",
                            details={"skill": skill.id, "field": field}) from None
    return _Compiled(schema=schema, validator=validator, plan=_Planner(schema).build(),
                     trivial=_is_trivial(schema))


def _is_trivial(schema: Any) -> bool:
    if schema is True:
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        if key in _INERT or (key == "type" and value in ("object", ["object"])):
            continue
        if key == "additionalProperties" and value is True:
            continue
        if key in ("properties", "required", "$defs", "definitions") and not value:
            continue
        return False
    return True


class _Planner:
    """Turns a schema into a _Node graph; one node per distinct set of subschemas."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.memo: dict[tuple[int, ...], _Node] = {}
        self.nodes: list[_Node] = []

    def build(self) -> _Node:
        top = self.node((self.root,))
        # Work flags flow up from children; cycles need a fixpoint, and flags only turn on.
        changed = True
        while changed:
            changed = False
            for n in self.nodes:
                kids = [c for _, c in n.props] + [c for c in (n.extra, n.items, *n.prefix) if c]
                coerces = bool(n.want) or any(c.coerces for c in kids)
                fills = bool(n.defaults) or any(c.fills for c in kids)
                box_c = bool(n.defaults) or any(c.coerces or c.fills for c in kids)
                if (coerces, fills, box_c) != (n.coerces, n.fills, n.box_c):
                    n.coerces, n.fills, n.box_c, changed = coerces, fills, box_c, True
        for n in self.nodes:
            n.props_c = tuple((k, c) for k, c in n.props if c.want or c.box_c)
            n.props_f = tuple((k, c) for k, c in n.props if c.fills)
        return top

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None  # remote or anchor refs: no plan there, validation still applies
        target = self.root
        for raw in ref[1:].split("/")[1:]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                return None
        return target

    def conj(self, schema: Any, seen: set[int] | None = None) -> Iterator[dict[str, Any]]:
        """The schema and those that also hold wherever it holds: its $ref and allOf."""
        seen = set() if seen is None else seen
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        yield schema
        yield from self.conj(self.resolve(schema.get("$ref")), seen)
        for sub in schema.get("allOf") or ():
            yield from self.conj(sub, seen)

    def full(self, schema: Any, seen: set[int] | None = None) -> Iterator[dict[str, Any]]:
        """conj plus every anyOf/oneOf branch: all the places a keyword may come from."""
        seen = set() if seen is None else seen
        for member in list(self.conj(schema)):
            if id(member) in seen:
                continue
            seen.add(id(member))
            yield member
            for sub in (member.get("anyOf") or []) + (member.get("oneOf") or []):
                yield from self.full(sub, seen)

    def types(self, schema: Any, depth: int = 0) -> frozenset[str] | None:
        """The JSON types a schema admits, or None when it cannot be told simply."""
        members = list(self.conj(schema))
        for member in members:
            t = member.get("type")
            if isinstance(t, str):
                return frozenset((t,))
            if isinstance(t, list):
                return frozenset(x for x in t if isinstance(x, str))
        branches = [b for m in members for b in (m.get("anyOf") or []) + (m.get("oneOf") or [])]
        if not branches or depth > 8:
            return None
        out: set[str] = set()
        for branch in branches:
            t = self.types(branch, depth + 1)
            if t is None:
                return None
            out |= t
        return frozenset(out)

    def node(self, sources: tuple[Any, ...]) -> _Node:
        key = tuple(map(id, sources))
        if key in self.memo:
            return self.memo[key]
        n = self.memo[key] = _Node()
        self.nodes.append(n)
        found: set[str] = set()
        for source in sources:
            t = self.types(source)
            if t is None:  # no safe guess: leave strings alone here
                found = {"string"}
                break
            found |= t
        if "string" not in found:
            n.want = tuple(t for t in _ORDER if t in found)
        flat = [m for s in sources for m in self.full(s)]
        props: dict[str, list[Any]] = {}
        items: list[Any] = []
        prefix: list[list[Any]] = []
        extra: list[Any] = []
        for m in flat:
            for name, sub in (m.get("properties") or {}).items():
                props.setdefault(name, []).append(sub)
            if isinstance(m.get("items"), dict):
                items.append(m["items"])
            for i, sub in enumerate(m.get("prefixItems") or ()):
                while len(prefix) <= i:
                    prefix.append([])
                prefix[i].append(sub)
            if isinstance(m.get("additionalProperties"), dict) and "patternProperties" not in m:
                extra.append(m["additionalProperties"])
        n.props = tuple((name, self.node(tuple(subs))) for name, subs in props.items())
        n.declared = frozenset(props)
        by_name = dict(n.props)
        defaults = []
        for name, subs in props.items():
            value = next((m["default"] for s in subs for m in self.conj(s) if "default" in m),
                         _NO)
            if value is not _NO:
                defaults.append((name, value, not isinstance(value, _IMMUTABLE), by_name[name]))
        n.defaults = tuple(defaults)
        n.items = self.node(tuple(items)) if items else None
        n.prefix = tuple(self.node(tuple(p)) if p else None for p in prefix)
        n.extra = self.node(tuple(extra)) if extra else None
        return n


# -- applying a plan ------------------------------------------------------------------------
# Copy-on-write: a container is copied only when something inside it changes, so a call
# with well-typed parameters allocates nothing here.


def _apply(node: _Node, value: Any, coerce: bool) -> Any:
    kind = type(value)
    if kind is str:
        return _coerce(node, value) if coerce and node.want else value
    if (kind is dict or kind is list) and (node.box_c if coerce else node.fills):
        return _apply_object(node, value, coerce) if kind is dict else _apply_array(
            node, value, coerce)
    return value


def _apply_object(node: _Node, value: dict[str, Any], coerce: bool) -> dict[str, Any]:
    out: dict[str, Any] | None = None
    for name, child in node.props_c if coerce else node.props_f:
        v = value.get(name, _NO)
        kind = type(v)
        # The checks of _apply, inlined: most properties are scalars with nothing to do.
        if kind is str:
            if not (coerce and child.want):
                continue
            nv = _coerce(child, v)
        elif (kind is dict or kind is list) and (child.box_c if coerce else child.fills):
            nv = _apply_object(child, v, coerce) if kind is dict else _apply_array(
                child, v, coerce)
        else:
            continue
        if nv is not v:
            if out is None:
                out = dict(value)
            out[name] = nv
    extra = node.extra
    if extra is not None and (extra.coerces if coerce else extra.fills):
        for name, v in value.items():
            if name not in node.declared:
                nv = _apply(extra, v, coerce)
                if nv is not v:
                    if out is None:
                        out = dict(value)
                    out[name] = nv
    for name, default, mutable, sub in node.defaults:
        if name not in value:
            if out is None:
                out = dict(value)
            v = copy.deepcopy(default) if mutable else default
            out[name] = _apply(sub, v, coerce) if sub is not None else v
    return value if out is None else out


def _apply_array(node: _Node, value: list[Any], coerce: bool) -> list[Any]:
    out: list[Any] | None = None
    prefix = node.prefix
    for i, v in enumerate(value):
        child: _Node | None = prefix[i] if i < len(prefix) else node.items
        if child is None or not (child.coerces if coerce else child.fills):
            continue
        nv = _apply(child, v, coerce)
        if nv is not v:
            if out is None:
                out = list(value)
            out[i] = nv
    return value if out is None else out


def _coerce(node: _Node, raw: str) -> Any:
    """The value a string obviously stands for, given the types wanted here; else the string."""
    text = raw.strip()
    for kind in node.want:
        value = _PARSERS[kind](text)
        if value is not _NO:
            # A parsed container still needs its own items/properties coerced and defaulted.
            return _apply(node, value, True) if kind in ("array", "object") else value
    return raw


def _to_null(text: str) -> Any:
    return None if text.lower() == "null" else _NO


def _to_bool(text: str) -> Any:
    return _BOOLS.get(text.lower(), _NO)


def _to_int(text: str) -> Any:
    if _INT.fullmatch(text):
        n = int(text) if len(text) <= 21 else _NO  # int() of a huge string is slow: refuse
    elif _NUM.fullmatch(text):
        d = Decimal(text)  # exact, so "3.0" -> 3 but "1e-400" is no integer
        n = int(d) if d == d.to_integral_value() and d.adjusted() < 20 else _NO
    else:
        return _NO
    return n if n is not _NO and _I64_MIN <= n <= _U64_MAX else _NO


def _to_number(text: str) -> Any:
    if _INT.fullmatch(text):
        return _to_int(text)  # "3" stays the integer 3, as JSON would read it
    if not _NUM.fullmatch(text):
        return _NO
    f = float(text)
    return f if math.isfinite(f) else _NO


def _to_array(text: str) -> Any:
    if text.startswith("["):
        return _json_of(text, list)
    return [part.strip() for part in text.split(",")] if text else []


def _to_object(text: str) -> Any:
    return _json_of(text, dict) if text.startswith("{") else _NO


def _json_of(text: str, kind: type) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NO
    return value if type(value) is kind else _NO


_PARSERS = {"null": _to_null, "boolean": _to_bool, "integer": _to_int, "number": _to_number,
            "array": _to_array, "object": _to_object}


# -- reporting ------------------------------------------------------------------------------


def _violations(validator: jsonschema_rs.Validator, instance: Any, root: str) -> list[Violation]:
    found: list[tuple[tuple[tuple[int, Any], ...], Violation]] = []
    for error in validator.iter_errors(instance):
        for tokens, violation in _explain(error, root):
            found.append((tuple((0, t) if isinstance(t, int) else (1, t) for t in tokens),
                          violation))
    # Sorted by place, so "/limit" comes before "/path" whatever order the keywords ran in.
    found.sort(key=lambda pair: pair[0])
    return [v for _, v in found]


def _explain(error: jsonschema_rs.ValidationError,
             root: str) -> list[tuple[list[str | int], Violation]]:
    kind = error.kind.name
    tokens = list(error.instance_path)
    path = _pointer(tokens)
    where = path or root
    detail = error.kind.as_dict()
    if kind == "required":
        name = str(detail["property"])
        rule = "dependentRequired" if error.schema_path[-1:] == ["dependentRequired"] else kind
        sub = [*tokens, name]
        text = f"'{name}' is required" if not tokens else f"{_pointer(sub)} is required"
        return [(sub, Violation(_pointer(sub), rule, text, None))]
    if kind in ("additionalProperties", "unevaluatedProperties", "unevaluatedItems"):
        out: list[tuple[list[str | int], Violation]] = []
        container = error.instance
        for key in detail["unexpected"]:
            sub = [*tokens, key]
            text = f"'{key}' is not allowed" if not tokens else f"{_pointer(sub)} is not allowed"
            value = container[key] if isinstance(container, dict | list) else None
            out.append((sub, Violation(_pointer(sub), kind, text, value)))
        return out
    got = f" (got {_show(error.instance)})"
    limit = detail.get("limit")
    if kind == "falseSchema":
        last = error.schema_path[-1] if error.schema_path else ""
        parent = error.schema_path[-2] if len(error.schema_path) > 1 else "false"
        kind = str(last if last in ("items", "additionalProperties", "contains") else parent)
        text = f"{where} is not allowed"
    elif kind == "type":
        text = f"{where} must be of type {' or '.join(map(str, detail['types']))}{got}"
    elif kind in _COMPARE:
        text = f"{where} must be {_COMPARE[kind]} {_show(limit)}{got}"
    elif kind in _COUNTS:
        side, noun = _COUNTS[kind]
        text = f"{where} must have at {side} {limit} {noun}{got}"
    elif kind == "enum":
        options = detail["options"]
        shown = ", ".join(_show(o) for o in options[:10]) + (", ..." if len(options) > 10 else "")
        text = f"{where} must be one of {shown}{got}"
    elif kind == "const":
        text = f"{where} must be {_show(detail['expected_value'])}{got}"
    elif kind == "pattern":
        text = f"{where} must match the pattern {_show(detail['pattern'])}{got}"
    elif kind == "multipleOf":
        text = f"{where} must be a multiple of {_show(detail['multiple_of'])}{got}"
    elif kind == "format":
        text = f"{where} must be a valid {detail['format']}{got}"
    elif kind == "uniqueItems":
        text = f"{where} must not contain duplicate items"
    elif kind in ("anyOf", "oneOf") and "more than one" not in error.message:
        text = f"{where} does not match any of the allowed forms{got}"
    else:
        text = f"{where}: {error.message}"
    return [(tokens, Violation(path, kind, text, error.instance))]


_COMPARE = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_COUNTS = {"minLength": ("least", "characters"), "maxLength": ("most", "characters"),
           "minItems": ("least", "items"), "maxItems": ("most", "items"),
           "minProperties": ("least", "properties"), "maxProperties": ("most", "properties")}


def _pointer(tokens: list[str | int]) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def _show(value: Any) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _summary(violations: list[Violation]) -> str:
    text = "; ".join(v.message for v in violations[:_SHOWN])
    if len(violations) > _SHOWN:
        text += f"; and {len(violations) - _SHOWN} more"
    return text
