"""How a JSON Schema failure is told: a Violation with a JSON pointer, a rule and a sentence."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import orjson

from skillexec.errors import Violation

__all__ = ["SHOWN", "pointer", "summary", "violations"]

SHOWN = 5  # violations spelled out in a message; all of them are in its details

_SAYS = {  # the rule broken -> what the value must be; {} is the rule's limit or options
    "type": "must be of type {}", "enum": "must be one of {}", "const": "must be {}",
    "minimum": "must be >= {}", "maximum": "must be <= {}",
    "exclusiveMinimum": "must be > {}", "exclusiveMaximum": "must be < {}",
    "pattern": "must match the pattern {}", "multipleOf": "must be a multiple of {}",
    "format": "must be a valid {}", "uniqueItems": "must not contain duplicate items",
    "anyOf": "does not match any of the allowed forms",
    "oneOf": "does not match any of the allowed forms",
    **{f"{end}{what}": f"must have at {side} {{}} {noun}"
       for end, side in (("min", "least"), ("max", "most"))
       for what, noun in (("Length", "characters"), ("Items", "items"),
                          ("Properties", "properties"))},
}


def violations(validator: jsonschema_rs.Validator, instance: Any, root: str,
                schema: Any = None) -> list[Violation]:
    found = [pair for error in validator.iter_errors(instance)
             for pair in _explain(error, root, schema)]
    # Sorted by place (indexes as numbers), so "/limit" comes before "/path" whatever order
    # the keywords were checked in.
    found.sort(key=lambda p: tuple((0, t) if isinstance(t, int) else (1, t) for t in p[0]))
    return [v for _, v in found]


def _explain(error: jsonschema_rs.ValidationError, root: str,
             schema: Any = None) -> list[tuple[list[str | int], Violation]]:
    kind, tokens, detail = error.kind.name, list(error.instance_path), error.kind.as_dict()
    path = pointer(tokens)
    if kind in ("anyOf", "oneOf") and (needs := _required_forms(schema, error)):
        text = f"{path or root} needs {needs} (got {_show(error.instance)})"
        return [(tokens, Violation(path, kind, text, error.instance))]
    if kind in ("required", "additionalProperties", "unevaluatedProperties",
                "unevaluatedItems"):  # name the missing or unexpected member itself
        out = []
        for key in [detail["property"]] if kind == "required" else detail["unexpected"]:
            sub = [*tokens, key]
            name = f"'{key}'" if not tokens else pointer(sub)
            if kind == "required":
                rule = "dependentRequired" if error.schema_path[-1:] == [
                    "dependentRequired"] else kind
                out.append((sub, Violation(pointer(sub), rule, f"{name} is required")))
            else:
                container = error.instance
                value = container[key] if isinstance(container, dict | list) else None
                out.append((sub, Violation(pointer(sub), kind, f"{name} is not allowed",
                                           value)))
        return out
    where = path or root
    if kind == "falseSchema":  # the keyword holding the `false`, or the one above it
        at = ["false", "false", *error.schema_path]
        kind = str(at[-1] if at[-1] in ("items", "additionalProperties", "contains") else at[-2])
        text = f"{where} is not allowed"
    elif kind in _SAYS and "more than one" not in error.message:
        says = _SAYS[kind]
        says = says.format(_limit(kind, detail)) if "{}" in says else says
        text = f"{where} {says} (got {_show(error.instance)})"
    else:
        text = f"{where}: {error.message}"
    return [(tokens, Violation(path, kind, text, error.instance))]


def _required_forms(schema: Any, error: jsonschema_rs.ValidationError) -> str:
    """For alternatives that differ by what they require: "'path' or 'csv_text'"."""
    node = schema
    for token in error.schema_path:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and isinstance(token, int) and token < len(node):
            node = node[token]
        else:
            return ""
    if not isinstance(node, list) or not all(
            isinstance(b, dict) and b.get("required") for b in node):
        return ""
    forms = [" and ".join(f"'{r}'" for r in b["required"]) for b in node]
    return ("one of " if error.kind.name == "anyOf" else "exactly one of ") + " or ".join(forms)


def _limit(kind: str, detail: dict[str, Any]) -> str:
    if kind == "type":
        return " or ".join(map(str, detail["types"]))
    if kind == "enum":
        options = detail["options"]
        return ", ".join(map(_show, options[:10])) + (", ..." if len(options) > 10 else "")
    value = next(iter(detail.values()), "")  # limit, expected_value, pattern, multiple_of...
    return str(value) if kind == "format" else _show(value)


def pointer(tokens: list[str | int]) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def _show(value: Any) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def summary(violations: list[Violation]) -> str:
    more = len(violations) - SHOWN
    return "; ".join(v.message for v in violations[:SHOWN]) + (
        f"; and {more} more" if more > 0 else "")
