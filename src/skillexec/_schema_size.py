"""How large a JSON Schema is once its ``$ref``s are followed: a manifest's schema is bounded.

A schema is small on disk, but ``$ref`` (or a YAML alias: one object in two places) lets
it reuse a subschema, and a chain of ``anyOf: [{$ref: next}, {$ref: next}]`` forty deep is
2**40 subschemas to a validator: one value that fails it held the engine's thread (and its
GIL: not even SIGTERM got through) for hours. The validator tries every branch, so its
work on a failing value is this expanded size; a schema over the cap is refused when it is
compiled, before any call is validated against it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_EXPANDED_SUBSCHEMAS", "expanded_size"]

MAX_EXPANDED_SUBSCHEMAS = 100_000
# Keywords whose values are data, not subschemas: never followed.
_DATA = frozenset({"enum", "const", "default", "examples", "title", "description",
                   "$comment", "required", "type", "pattern", "format"})
# Keywords whose values map names to subschemas.
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                        "dependentSchemas", "dependencies"})


def expanded_size(schema: Any, *, cap: int = MAX_EXPANDED_SUBSCHEMAS) -> int:
    """The subschemas of ``schema`` with every local ``$ref`` (``#/...``, ``#anchor``)
    expanded in place, counted up to just past ``cap`` (a ``$ref`` back into a schema being
    expanded, a recursive schema, counts once: the value's own depth bounds that)."""
    anchors: dict[str, Any] = {}
    _find_anchors(schema, anchors, set())
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(node: Any) -> int:
        if isinstance(node, list):
            return sum(min(size(item), cap + 1) for item in node) if node else 0
        if not isinstance(node, dict):
            return 0
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            return 1
        busy.add(key)
        total = 1
        for word, value in node.items():
            if word in _DATA:
                continue
            if word in ("$ref", "$dynamicRef", "$recursiveRef") and isinstance(value, str):
                target = _resolve(schema, anchors, value)
                if target is not None:
                    total += size(target)
            elif word in _NAME_MAPS and isinstance(value, dict):
                # Keys here are names (a property may be called "default"): every value
                # is a subschema.
                total += sum(min(size(item), cap + 1) for item in value.values())
            elif isinstance(value, dict | list):
                total += size(value)
            if total > cap:
                break
        busy.discard(key)
        sizes[key] = total = min(total, cap + 1)
        return total

    return size(schema)


def _find_anchors(node: Any, out: dict[str, Any], seen: set[int]) -> None:
    if id(node) in seen or not isinstance(node, dict | list):
        return
    seen.add(id(node))
    items = node.values() if isinstance(node, dict) else node
    if isinstance(node, dict):
        for word in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(word), str):
                out.setdefault(node[word], node)
    for value in items:
        _find_anchors(value, out, seen)


def _resolve(root: Any, anchors: dict[str, Any], ref: str) -> Any:
    """The subschema a local reference names (None: not local, or not found)."""
    if not ref.startswith("#"):
        return None
    fragment = ref[1:]
    if not fragment.startswith("/"):
        return root if not fragment else anchors.get(fragment)
    node = root
    for raw in fragment[1:].split("/"):
        part = raw.replace("%25", "%").replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
