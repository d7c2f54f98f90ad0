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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jsonschema_rs
import orjson

from skillexec._schema_errors import pointer, summary, violations
from skillexec.errors import ExecutionError, ManifestError, ParameterError, ResourceError
from skillexec.skills.model import Skill

__all__ = ["ParameterValidator"]

_CACHE_SIZE = 4096
_NO: Any = object()  # "no value here / coercion refused", distinct from a real None
_ORDER = ("null", "integer", "number", "boolean", "array", "object")  # "1" is 1 before True
_INT = re.compile(r"[-+]?\d+")
_NUM = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")  # float() alone takes "1_0", "nan"
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
    defaults: tuple[tuple[str, Any, bool, _Node], ...] = ()  # name, value, mutable, its node
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
            size = len(orjson.dumps(data))
        except TypeError as exc:
            raise _not_json(skill, exc, data) from None
        if size > self.max_param_bytes:
            raise ParameterError(
                f"parameters for skill {skill.id!r} are {size} bytes of JSON, over the "
                f"{self.max_param_bytes}-byte limit", code="parameters_too_large",
                details={"size": size, "limit": self.max_param_bytes})
        compiled = self._compiled(skill, skill.parameters_schema, "parameters_schema")
        if compiled.accepts and (compiled.accepts == "any" or not data):
            return dict(data) if data is params else data
        plan = compiled.plan
        if plan.box_c if self.coerce else plan.fills:
            data = _apply_object(plan, data, self.coerce)
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
    if isinstance(value, bool) or value is None or isinstance(value, float):
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
        plan = _Planner(schema).build()
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


class _Planner:
    """Turns a schema into a _Node graph: one node per distinct set of subschemas."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.memo: dict[tuple[int, ...], _Node] = {}

    def build(self) -> _Node:
        top = self.node((self.root,))
        nodes = list(self.memo.values())
        changed = True  # flags flow up from children; cycles need a fixpoint (flags only rise)
        while changed:
            changed = False
            for n in nodes:
                kids = [c for _, c in n.props] + [c for c in (n.extra, n.items, *n.prefix) if c]
                flags = (bool(n.want) or any(c.coerces for c in kids),
                         bool(n.defaults) or any(c.fills for c in kids),
                         bool(n.defaults) or any(c.coerces or c.fills for c in kids))
                if flags != (n.coerces, n.fills, n.box_c):
                    (n.coerces, n.fills, n.box_c), changed = flags, True
        for n in nodes:
            n.props_c = tuple((k, c) for k, c in n.props if c.want or c.box_c)
            n.props_f = tuple((k, c) for k, c in n.props if c.fills)
        return top

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None  # remote or anchor refs: no plan there, validation still applies
        target = self.root
        for raw in ref[1:].split("/")[1:]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            elif isinstance(target, dict) and token in target:
                target = target[token]
            else:
                return None
        return target

    def members(self, schema: Any, *, branches: bool, seen: set[int] | None = None
                ) -> Iterator[dict[str, Any]]:
        """The schema and those that hold with it ($ref, allOf), and with ``branches`` every
        anyOf/oneOf alternative too: all the places a keyword for this spot may come from."""
        seen = set() if seen is None else seen
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        yield schema
        subs = [self.resolve(schema.get("$ref")), *schema.get("allOf", ())]
        if branches:
            subs += [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
        for sub in subs:
            yield from self.members(sub, branches=branches, seen=seen)

    def types(self, schema: Any, depth: int = 0) -> frozenset[str] | None:
        """The JSON types a schema admits, or None when that cannot be told simply."""
        members = list(self.members(schema, branches=False))
        for m in members:
            if isinstance(m.get("type"), str | list):
                t = m["type"]
                return frozenset([t] if isinstance(t, str) else t)
        alternatives = [b for m in members for b in (*m.get("anyOf", ()), *m.get("oneOf", ()))]
        found: set[str] = set()
        for alternative in alternatives:
            t = self.types(alternative, depth + 1) if depth < 8 else None
            if t is None:
                return None
            found |= t
        return frozenset(found) if alternatives else None

    def node(self, sources: tuple[Any, ...]) -> _Node:
        sources = tuple({id(s): s for s in sources}.values())  # one key per set of schemas
        key = tuple(map(id, sources))
        if key in self.memo:
            return self.memo[key]
        n = self.memo[key] = _Node()
        found: set[str] = set()
        for source in sources:
            found |= self.types(source) or {"string"}  # unknown: leave strings alone here
        if "string" not in found:
            n.want = tuple(t for t in _ORDER if t in found)
        props: dict[str, list[Any]] = {}
        items: list[Any] = []
        extra: list[Any] = []
        prefix: list[list[Any]] = []
        for m in (m for s in sources for m in self.members(s, branches=True)):
            for name, sub in m.get("properties", {}).items():
                props.setdefault(name, []).append(sub)
            if isinstance(m.get("items"), dict):
                items.append(m["items"])
            for i, sub in enumerate(m.get("prefixItems", ())):
                prefix += [[] for _ in range(i + 1 - len(prefix))]
                prefix[i].append(sub)
            if isinstance(m.get("additionalProperties"), dict) and "patternProperties" not in m:
                extra.append(m["additionalProperties"])
        n.props = tuple((name, self.node(tuple(subs))) for name, subs in props.items())
        n.declared = frozenset(props)
        # A default declared in an anyOf/oneOf branch is filled only when that branch is the
        # one object form (Optional[Model]); with several object forms it would be added even
        # when another form is the one that matches, breaking additionalProperties: false.
        object_forms = [b for s in sources for m in self.members(s, branches=False)
                        for b in (*m.get("anyOf", ()), *m.get("oneOf", ()))
                        if (t := self.types(b)) is None or "object" in t]
        certain = set(props) if len(object_forms) <= 1 else {
            name for s in sources for m in self.members(s, branches=False)
            for name in m.get("properties", {})}
        defaults = []
        for (name, child), subs in zip(n.props, props.values(), strict=True):
            if name not in certain:
                continue
            value = next((m["default"] for s in subs
                          for m in self.members(s, branches=False) if "default" in m), _NO)
            if value is not _NO:
                defaults.append((name, value, not isinstance(value, _IMMUTABLE), child))
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
        if kind is str:  # _apply, inlined: most properties are scalars with nothing to do
            if not (coerce and child.want):
                continue
            nv = _coerce(child, v)
        elif (kind is dict or kind is list) and (child.box_c if coerce else child.fills):
            nv = _apply_object(child, v, coerce) if kind is dict else _apply_array(
                child, v, coerce)
        else:
            continue
        if nv is not v:
            out = dict(value) if out is None else out
            out[name] = nv
    extra = node.extra
    if extra is not None and (extra.coerces if coerce else extra.fills):
        for name, v in value.items():
            if name not in node.declared and (nv := _apply(extra, v, coerce)) is not v:
                out = dict(value) if out is None else out
                out[name] = nv
    for name, default, mutable, child in node.defaults:
        if name not in value:
            out = dict(value) if out is None else out
            out[name] = _apply(child, copy.deepcopy(default) if mutable else default, coerce)
    return value if out is None else out


def _apply_array(node: _Node, value: list[Any], coerce: bool) -> list[Any]:
    out: list[Any] | None = None
    for i, v in enumerate(value):
        child = _item(node, i)
        if (child is not None and (child.coerces if coerce else child.fills)
                and (nv := _apply(child, v, coerce)) is not v):
            out = list(value) if out is None else out
            out[i] = nv
    return value if out is None else out


def _item(node: _Node, i: int) -> _Node | None:
    return node.prefix[i] if i < len(node.prefix) else node.items


def _coerce(node: _Node, raw: str, *, split: bool = True) -> Any:
    """The value a string obviously stands for, given the types wanted here; else the string."""
    text = raw.strip()
    for kind in node.want:
        if kind == "array" and not text.startswith("["):
            if not split:  # "a" -> ["a"] -> [["a"]]... forever under a recursive schema
                continue
            parts = [p.strip() for p in text.split(",")] if text else []
            return [_coerce(c, p, split=False) if (c := _item(node, i)) and c.want else p
                    for i, p in enumerate(parts)]
        value = _PARSERS[kind](text)
        if value is not _NO:
            # A parsed container still needs its own items/properties coerced and defaulted.
            return _apply(node, value, True) if kind in ("array", "object") else value
    return raw


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
    f = float(text) if _NUM.fullmatch(text) else math.nan
    return f if math.isfinite(f) else _NO


def _json_of(text: str, kind: type) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NO
    return value if type(value) is kind else _NO


_PARSERS: dict[str, Callable[[str], Any]] = {
    "null": lambda text: None if text.lower() == "null" else _NO,
    "boolean": lambda text: _BOOLS.get(text.lower(), _NO),
    "integer": _to_int,
    "number": _to_number,
    "array": lambda text: _json_of(text, list),  # "[...]"; comma lists are split in _coerce
    "object": lambda text: _json_of(text, dict) if text.startswith("{") else _NO,
}
