"""The coercion plan of a parameters schema: where a string may become which types, and
where defaults go, as a graph of nodes built once per schema (``Planner``), then applied to
each call's parameters (``apply_object``), visiting only the places that have work.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["Node", "Planner", "apply_object"]

_I64_MIN, _U64_MAX = -(1 << 63), (1 << 64) - 1  # what orjson can encode again downstream

_NO: Any = object()  # "no value here / coercion refused", distinct from a real None
_ORDER = ("null", "integer", "number", "boolean", "array", "object")  # "1" is 1 before True
_INT = re.compile(r"[-+]?\d+")
_NUM = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")  # float() alone takes "1_0", "nan"
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_IMMUTABLE = (str, int, float, bool, type(None))


@dataclass(eq=False, slots=True)
class Node:
    """What to do at one place of the parameters; a graph, cyclic when the schema recurses."""

    want: tuple[str, ...] = ()  # types a string here may become, in trial order
    props: tuple[tuple[str, Node], ...] = ()  # every declared property's node
    props_c: tuple[tuple[str, Node], ...] = ()  # those with work when coercing
    props_f: tuple[tuple[str, Node], ...] = ()  # those with work when only filling defaults
    declared: frozenset[str] = frozenset()
    defaults: tuple[tuple[str, Any, bool, Node], ...] = ()  # name, value, mutable, its node
    extra: Node | None = None  # additionalProperties, for undeclared keys
    items: Node | None = None
    prefix: tuple[Node | None, ...] = ()
    coerces: bool = False  # a string here or below may be coerced
    fills: bool = False  # a default may be filled here or below
    box_c: bool = False  # with coercion on, a container here has work inside it


class Planner:
    """Turns a schema into a Node graph: one node per distinct set of subschemas."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.memo: dict[tuple[int, ...], Node] = {}

    def build(self) -> Node:
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

    def node(self, sources: tuple[Any, ...]) -> Node:
        sources = tuple({id(s): s for s in sources}.values())  # one key per set of schemas
        key = tuple(map(id, sources))
        if key in self.memo:
            return self.memo[key]
        n = self.memo[key] = Node()
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


def _apply(node: Node, value: Any, coerce: bool) -> Any:
    kind = type(value)
    if kind is str:
        return _coerce(node, value) if coerce and node.want else value
    if (kind is dict or kind is list) and (node.box_c if coerce else node.fills):
        return apply_object(node, value, coerce) if kind is dict else _apply_array(
            node, value, coerce)
    return value


def apply_object(node: Node, value: dict[str, Any], coerce: bool) -> dict[str, Any]:
    out: dict[str, Any] | None = None
    for name, child in node.props_c if coerce else node.props_f:
        v = value.get(name, _NO)
        kind = type(v)
        if kind is str:  # _apply, inlined: most properties are scalars with nothing to do
            if not (coerce and child.want):
                continue
            nv = _coerce(child, v)
        elif (kind is dict or kind is list) and (child.box_c if coerce else child.fills):
            nv = apply_object(child, v, coerce) if kind is dict else _apply_array(
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


def _apply_array(node: Node, value: list[Any], coerce: bool) -> list[Any]:
    out: list[Any] | None = None
    for i, v in enumerate(value):
        child = _item(node, i)
        if (child is not None and (child.coerces if coerce else child.fills)
                and (nv := _apply(child, v, coerce)) is not v):
            out = list(value) if out is None else out
            out[i] = nv
    return value if out is None else out


def _item(node: Node, i: int) -> Node | None:
    return node.prefix[i] if i < len(node.prefix) else node.items


def _coerce(node: Node, raw: str, *, split: bool = True) -> Any:
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
