"""Parameters schemas: Py Copilot's flat shape converted to JSON Schema 2020-12.

Py Copilot describes parameters as ``{name: {type, required, default, ...}}`` (or, in some
folders, as a list of ``{name, type, required, ...}``); validators and MCP clients want JSON
Schema. Real JSON Schema is passed through unchanged.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any

from skillexec.errors import ManifestError
from skillexec.skills.fields import brief

__all__ = ["RESERVED_PARAMETERS", "Field", "binary_fields", "normalize_parameters_schema"]

# A binary parameter (DESIGN §3.5): its name, and the file suffix its media type gives.
Field = tuple[str, str]

# The entry contract (DESIGN §3.4) puts these two beside the parameters in input_data.
RESERVED_PARAMETERS = frozenset({"parameters", "config"})

_JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
# Py Copilot manifests often name types the Python way.
_TYPE_ALIASES = {
    "str": "string", "text": "string", "int": "integer", "float": "number",
    "double": "number", "bool": "boolean", "list": "array", "tuple": "array",
    "dict": "object", "map": "object", "none": "null",
}
_ANY_TYPES = frozenset({"any", "mixed", "json", "*"})
_FLAT_ONLY_KEYS = frozenset({"required", "name", "optional"})


def normalize_parameters_schema(raw: Any, *, where: str = "parameters_schema") -> dict[str, Any]:
    """JSON Schema for a call's parameters, from either shape; raises ManifestError.

    ``where`` names the field in error messages (the loader passes ``"skill.json:
    parameters_schema"``).
    """
    if raw is None or raw == {} or raw == []:
        return {"type": "object"}
    if isinstance(raw, list):
        raw = _list_to_flat(raw, where)
    if not isinstance(raw, dict):
        raise ManifestError(
            f"{where}: must be an object (JSON Schema or parameter -> definition), "
            f"not {type(raw).__name__}",
            details={"field": where},
        )
    schema = _pass_through(raw, where) if _is_json_schema(raw) else _convert_flat(raw, where)
    _reject_reserved(schema, where)
    return schema


# Keywords that only JSON Schema uses at the top of a schema: a flat parameter list never
# has a parameter called "$ref" or "allOf" whose value is a list.
_SCHEMA_ONLY_KEYS = frozenset({"$ref", "$defs", "$id", "$anchor", "$dynamicRef", "definitions"})
_SCHEMA_COMBINATORS = frozenset({"allOf", "anyOf", "oneOf"})


def _is_json_schema(raw: dict[str, Any]) -> bool:
    if "$schema" in raw or isinstance(raw.get("type"), str | list):
        return True
    if any(k in raw for k in _SCHEMA_ONLY_KEYS) or any(
            isinstance(raw.get(k), list) for k in _SCHEMA_COMBINATORS):
        return True
    props = raw.get("properties")
    # A flat parameter that happens to be called "properties" has keyword values ("type":
    # "string"); a JSON Schema's properties map holds only schemas.
    return isinstance(props, dict) and all(isinstance(v, dict | bool) for v in props.values())


def _pass_through(schema: dict[str, Any], where: str) -> dict[str, Any]:
    kind = schema.get("type", "object")
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        raise ManifestError(
            f"{where}: the parameters of a call are an object, but the schema's type is "
            f"{brief(kind)}",
            details={"field": where},
        )
    return schema


def _list_to_flat(items: list[Any], where: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise ManifestError(
                f"{where}[{i}]: each parameter in a list needs a 'name'", details={"field": where}
            )
        if name in flat:
            raise ManifestError(f"{where}: parameter {name!r} is declared twice",
                                details={"field": where})
        flat[name] = {k: v for k, v in item.items() if k != "name"}
    return flat


def _convert_flat(flat: dict[str, Any], where: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, definition in flat.items():
        if not isinstance(name, str) or not name:
            raise ManifestError(f"{where}: parameter names must be non-empty strings",
                                details={"field": where})
        spec = _definition(name, definition, where)
        if _is_required(name, spec, where):
            required.append(name)
        prop = {k: v for k, v in spec.items() if k not in _FLAT_ONLY_KEYS}
        if "type" in prop:
            json_type = _json_type(prop["type"], f"{where}.{name}.type")
            if json_type is None:
                del prop["type"]
            else:
                prop["type"] = json_type
        if isinstance(prop.get("items"), dict | list | str):
            prop["items"] = _item_schema(prop["items"], f"{where}.{name}.items")
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _definition(name: str, definition: Any, where: str) -> dict[str, Any]:
    if isinstance(definition, str):  # shorthand: {"path": "string"}
        return {"type": definition}
    if not isinstance(definition, dict):
        raise ManifestError(
            f"{where}.{name}: a parameter is described by an object such as "
            f'{{"type": "string", "required": true}}, not {brief(definition)}',
            details={"field": f"{where}.{name}"},
        )
    return definition


def _is_required(name: str, spec: dict[str, Any], where: str) -> bool:
    required = spec.get("required", False)
    if "optional" in spec and "required" not in spec:
        required = not spec["optional"]
    if not isinstance(required, bool):
        raise ManifestError(
            f"{where}.{name}.required: must be true or false, not {brief(required)}",
            details={"field": f"{where}.{name}.required"})
    return required


def _json_type(raw: Any, where: str) -> str | list[str] | None:
    if isinstance(raw, list):
        names = [_json_type(item, where) for item in raw]
        if any(n is None for n in names):
            return None
        return [n for n in names if isinstance(n, str)]
    if not isinstance(raw, str):
        raise ManifestError(f"{where}: a type is a name such as 'string', not {brief(raw)}",
                            details={"field": where})
    lowered = raw.strip().lower()
    if lowered in _ANY_TYPES:
        return None
    name = _TYPE_ALIASES.get(lowered, lowered)
    if name not in _JSON_TYPES:
        raise ManifestError(
            f"{where}: unknown type {brief(raw)}; use one of {', '.join(sorted(_JSON_TYPES))}",
            details={"field": where},
        )
    return name


def _item_schema(items: Any, where: str) -> Any:
    if isinstance(items, str):
        json_type = _json_type(items, where)
        return {} if json_type is None else {"type": json_type}
    if isinstance(items, dict) and isinstance(items.get("type"), str):
        json_type = _json_type(items["type"], f"{where}.type")
        out = {k: v for k, v in items.items() if k != "type"}
        if json_type is not None:
            out["type"] = json_type
        return out
    return items


def _reject_reserved(schema: dict[str, Any], where: str) -> None:
    props = schema.get("properties")
    declared = set(props) if isinstance(props, dict) else set()
    required = schema.get("required")
    if isinstance(required, list):
        declared.update(r for r in required if isinstance(r, str))
    clash = sorted(declared & RESERVED_PARAMETERS)
    if clash:
        raise ManifestError(
            f"{where}: declares {' and '.join(repr(c) for c in clash)}, which the entry "
            "contract reserves (input_data['parameters'] holds all parameters and "
            "input_data['config'] the skill's config); rename the parameter",
            details={"field": where, "reserved": clash},
        )


def binary_fields(schema: Mapping[str, Any]) -> tuple[Field, ...]:
    """The top-level properties of ``schema`` that take bytes, with a file suffix."""
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return ()
    out: list[Field] = []
    for name, prop in props.items():
        if not isinstance(prop, Mapping):
            continue
        media = prop.get("contentMediaType")
        if prop.get("format") == "binary" or isinstance(media, str):
            suffix = (mimetypes.guess_extension(media) or "") if isinstance(media, str) else ""
            out.append((str(name), suffix))
    return tuple(out)
