"""JSON Schemas clients accept: self-contained (no ``$ref``/``$defs``: Gemini CLI and
Copilot CLI reject them), object-rooted (every era requires it of ``inputSchema``; 2025-11-25
of ``outputSchema`` too), arrays with ``items`` (VS Code rejects them without)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["WRAP_KEY", "input_schema", "output_schema", "self_contained"]

WRAP_KEY = "result"  # a non-object output is published as {"result": output}
_MAX_DEPTH = 12  # a recursive $ref is cut here (an open schema in its place)
# A $ref used more than once per level (a condition that is `all`, `any` or `not` of
# conditions) grows as branches ** depth: past this many inlined refs the rest are open
# schemas, so a tool list stays small (3 ** 12 copies took minutes and gigabytes).
_MAX_REFS = 256
_DEFS = ("$defs", "definitions")


def _pointer(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref[2:].split("/") if ref != "#" else ():
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _inline(node: Any, root: dict[str, Any], depth: int, budget: list[int]) -> Any:
    if isinstance(node, list):
        return [_inline(n, root, depth, budget) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target = _pointer(root, ref)
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if (target is None or depth >= _MAX_DEPTH or budget[0] <= 0
                or not isinstance(target, dict)):
            # Unresolvable, too deep or too many: an open schema (the engine still
            # validates calls against the manifest's own schema).
            return dict(_inline(rest, root, depth, budget))
        budget[0] -= 1
        return {**_inline(target, root, depth + 1, budget),
                **_inline(rest, root, depth, budget)}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DEFS or (key == "$ref" and isinstance(value, str)):
            continue  # inlined where used; a remote $ref is never dereferenced
        out[key] = _inline(value, root, depth, budget)
    if out.get("type") == "array" and "items" not in out and "prefixItems" not in out:
        out["items"] = {}
    return out


def self_contained(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every local ``$ref`` inlined and its ``$defs`` dropped."""
    return dict(_inline(copy.deepcopy(schema), schema, 0, [_MAX_REFS]))


def _object_rooted(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object"


def input_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """The tool's ``inputSchema``: the manifest's, self-contained, with an object root."""
    if not schema:
        return {"type": "object"}
    out = self_contained(schema)
    if "type" not in out and ("properties" in out or "required" in out):
        out["type"] = "object"
    if not _object_rooted(out):
        return {"type": "object", "description": "Parameters (the manifest's schema is not "
                "an object schema; the engine checks them against it)."}
    return out


def output_schema(schema: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """The tool's ``outputSchema`` and whether outputs are wrapped as ``{"result": ...}``
    (the manifest's schema has no object root). No schema: none published."""
    if not schema:
        return None, False
    out = self_contained(schema)
    if _object_rooted(out):
        return out, False
    return {"type": "object", "properties": {WRAP_KEY: out}, "required": [WRAP_KEY]}, True
