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
from urllib.parse import urldefrag, urljoin

__all__ = ["MAX_EXPANDED_SUBSCHEMAS", "expanded_size"]

MAX_EXPANDED_SUBSCHEMAS = 100_000
# Keywords whose values are data, not subschemas: never followed.
_DATA = frozenset({"enum", "const", "default", "examples", "title", "description",
                   "$comment", "required", "type", "pattern", "format"})
# Keywords whose values map names to subschemas.
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                        "dependentSchemas", "dependencies"})
_REFS = ("$ref", "$dynamicRef", "$recursiveRef")
# The base URI of a schema without an $id: refs relative to it resolve inside it, as the
# validator resolves them (offline, it fetches nothing).
_ROOT_URI = "https://skillexec.invalid/schema.json"


class _Index:
    """Every resource (``$id``) and anchor of a schema, by absolute URI."""

    def __init__(self, schema: Any) -> None:
        self.resources: dict[str, Any] = {}
        self.anchors: dict[str, Any] = {}
        self._seen: set[int] = set()
        self._walk(schema, _ROOT_URI)
        self.resources.setdefault(_ROOT_URI, schema)

    def _walk(self, node: Any, base: str) -> None:
        if id(node) in self._seen or not isinstance(node, dict | list):
            return
        self._seen.add(id(node))
        if isinstance(node, list):
            for item in node:
                self._walk(item, base)
            return
        if isinstance(node.get("$id"), str):
            base = urldefrag(urljoin(base, node["$id"]))[0]
            self.resources.setdefault(base, node)
        for word in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(word), str):
                self.anchors.setdefault(f"{base}#{node[word]}", node)
        for word, value in node.items():
            if word in _NAME_MAPS and isinstance(value, dict):
                for item in value.values():
                    self._walk(item, base)
            elif word not in _DATA:
                self._walk(value, base)

    def resolve(self, base: str, ref: str) -> tuple[Any, str] | None:
        """The subschema ``ref`` names from ``base``, and its base (None: not in it)."""
        uri, fragment = urldefrag(urljoin(base, ref))
        node = self.resources.get(uri)
        if node is None:
            return None
        if fragment and not fragment.startswith("/"):
            found = self.anchors.get(f"{uri}#{fragment}")
            return None if found is None else (found, uri)
        for raw in fragment[1:].split("/") if fragment else ():
            part = raw.replace("%25", "%").replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node, uri


def expanded_size(schema: Any, *, cap: int = MAX_EXPANDED_SUBSCHEMAS) -> int:
    """The subschemas of ``schema`` with every ``$ref`` it can resolve itself (``#/...``,
    an anchor, another ``$id`` of the same document) expanded in place, counted up to just
    past ``cap`` (a ``$ref`` back into a schema being expanded, a recursive schema, counts
    once: the value's own depth bounds that)."""
    index = _Index(schema)
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def many(nodes: Any, base: str) -> int:
        return sum(min(size(item, base), cap + 1) for item in nodes)

    def size(node: Any, base: str) -> int:
        if isinstance(node, list):
            return many(node, base)
        if not isinstance(node, dict):
            return 0
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            return 1
        busy.add(key)
        if isinstance(node.get("$id"), str):
            base = urldefrag(urljoin(base, node["$id"]))[0]
        total = 1
        for word, value in node.items():
            if word in _REFS and isinstance(value, str):
                target = index.resolve(base, value)
                if target is not None:
                    total += size(*target)
            elif word in _NAME_MAPS and isinstance(value, dict):
                # Keys here are names (a property may be called "default"): every value
                # is a subschema.
                total += many(value.values(), base)
            elif word not in _DATA and isinstance(value, dict | list):
                total += size(value, base)
            if total > cap:
                break
        busy.discard(key)
        sizes[key] = total = min(total, cap + 1)
        return total

    return size(schema, _ROOT_URI)
