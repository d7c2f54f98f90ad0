"""json-transform: filter, sort, page, project and rename the records of a JSON array.

Entry style: a class (Py Copilot's best-practice shape) whose ``execute(self, input_data,
context)`` returns a plain JSON object. The engine instantiates the class once per process.

The "expression language" is data, never code: a condition is
``{"field": "age", "op": ">=", "value": 18}``, combined with ``{"all": [...]}``,
``{"any": [...]}`` and ``{"not": {...}}``; a list of conditions means all of them. Fields are
dotted paths into nested objects (``"address.city"``, ``"tags.0"``). Nothing is evaluated.

Order of the steps: where → sort_by → offset/limit → select → rename.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_MISSING = object()


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """An ordering comparison that is simply false for values that cannot be ordered."""

    def safe(a: Any, b: Any) -> bool:
        if a is _MISSING or a is None or b is None:
            return False
        if isinstance(a, bool) != isinstance(b, bool):
            return False
        try:
            return fn(a, b)
        except TypeError:
            return False

    return safe


def _contains(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return b in a
    if isinstance(a, list):
        return b in a
    if isinstance(a, dict):
        return b in a
    return False


def _in(a: Any, b: Any) -> bool:
    return a is not _MISSING and isinstance(b, list) and a in b


def _istr(fn: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: isinstance(a, str) and isinstance(b, str) and fn(a, b)


def _between(a: Any, b: Any) -> bool:
    if not (isinstance(b, list) and len(b) == 2):
        raise ValueError("'between' needs a value of the form [low, high]")
    return _cmp(lambda x, y: y[0] <= x <= y[1])(a, b)


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a is not _MISSING and a == b,
    "!=": lambda a, b: a is _MISSING or a != b,
    ">": _cmp(lambda a, b: a > b),
    ">=": _cmp(lambda a, b: a >= b),
    "<": _cmp(lambda a, b: a < b),
    "<=": _cmp(lambda a, b: a <= b),
    "in": _in,
    "not_in": lambda a, b: not _in(a, b),
    "contains": lambda a, b: a is not _MISSING and _contains(a, b),
    "not_contains": lambda a, b: a is _MISSING or not _contains(a, b),
    "startswith": _istr(str.startswith),
    "endswith": _istr(str.endswith),
    "icontains": _istr(lambda a, b: b.casefold() in a.casefold()),
    "between": _between,
    "exists": lambda a, b: (a is not _MISSING) == (b is not False),
    "is_null": lambda a, b: (a is _MISSING or a is None) == (b is not False),
}
ALIASES = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def get_path(record: Any, path: str) -> Any:
    """``"a.b.0"`` → ``record["a"]["b"][0]``; ``_MISSING`` when any step is absent."""
    current = record
    for part in path.split("."):
        if isinstance(current, dict):
            if part not in current:
                return _MISSING
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def compile_condition(cond: Any, where: str = "where") -> Callable[[Any], bool]:
    """Turn a condition (data) into a predicate, checking its shape once, up front."""
    if isinstance(cond, list):
        parts = [compile_condition(c, f"{where}[{i}]") for i, c in enumerate(cond)]
        return lambda r: all(p(r) for p in parts)
    if not isinstance(cond, dict):
        raise ValueError(f"{where}: a condition is an object, got {type(cond).__name__}")
    if "all" in cond or "any" in cond:
        key = "all" if "all" in cond else "any"
        items = cond[key]
        if not isinstance(items, list):
            raise ValueError(f"{where}.{key}: expected a list of conditions")
        parts = [compile_condition(c, f"{where}.{key}[{i}]") for i, c in enumerate(items)]
        combine = all if key == "all" else any
        return lambda r: combine(p(r) for p in parts)
    if "not" in cond:
        inner = compile_condition(cond["not"], f"{where}.not")
        return lambda r: not inner(r)
    field = cond.get("field")
    if not isinstance(field, str) or not field:
        raise ValueError(f"{where}: a condition needs a 'field' (a dotted path)")
    op_name = str(cond.get("op", "=="))
    op_name = ALIASES.get(op_name, op_name)
    op = OPS.get(op_name)
    if op is None:
        raise ValueError(
            f"{where}: unknown op {op_name!r}; use one of {', '.join(sorted(OPS))}"
        )
    if op_name not in ("exists", "is_null") and "value" not in cond:
        raise ValueError(f"{where}: op {op_name!r} needs a 'value'")
    value = cond.get("value")
    if op_name == "between":
        _between(0, value)  # checks the shape now rather than on every record
    return lambda r: op(get_path(r, field), value)


def _sort_key(path: str) -> Callable[[Any], tuple[int, int, Any]]:
    def key(record: Any) -> tuple[int, int, Any]:
        value = get_path(record, path)
        if value is _MISSING or value is None:
            return (1, 0, 0)  # missing values go last whatever the direction
        if isinstance(value, bool):
            return (0, 0, int(value))
        if isinstance(value, int | float):
            return (0, 1, value)
        if isinstance(value, str):
            return (0, 2, value)
        return (0, 3, json.dumps(value, sort_keys=True))

    return key


def sort_records(records: list[Any], sort_by: str | list[str]) -> list[Any]:
    keys = [sort_by] if isinstance(sort_by, str) else list(sort_by)
    result = list(records)
    for spec in reversed(keys):  # stable sorts, least significant key first
        descending = spec.startswith("-")
        path = spec.lstrip("-+")
        key = _sort_key(path)
        present = [r for r in result if key(r)[0] == 0]
        absent = [r for r in result if key(r)[0] == 1]
        present.sort(key=key, reverse=descending)
        result = present + absent
    return result


class JsonTransformSkill:
    """Select, rename, filter, sort and page the records of a JSON array."""

    def execute(self, input_data: dict[str, Any], context: Any = None) -> dict[str, Any]:
        records = self._records(input_data)
        total = len(records)

        where = input_data.get("where")
        if where:
            predicate = compile_condition(where)
            records = [r for r in records if predicate(r)]
        matched = len(records)

        if input_data.get("sort_by"):
            records = sort_records(records, input_data["sort_by"])

        offset = int(input_data.get("offset") or 0)
        limit = input_data.get("limit")
        records = records[offset:] if limit is None else records[offset : offset + int(limit)]

        select = input_data.get("select")
        if select:
            records = [self._project(r, select) for r in records]

        rename = input_data.get("rename") or {}
        if rename:
            records = [
                {rename.get(k, k): v for k, v in r.items()} if isinstance(r, dict) else r
                for r in records
            ]

        if input_data.get("distinct"):
            seen: set[str] = set()
            unique = []
            for r in records:
                fingerprint = json.dumps(r, sort_keys=True, default=str)
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    unique.append(r)
            records = unique

        if context is not None:
            context.log.info("json-transform: %d of %d records matched", matched, total)
        return {"records": records, "count": len(records), "matched": matched, "total": total}

    @staticmethod
    def _records(input_data: dict[str, Any]) -> list[Any]:
        data = input_data.get("data")
        if data is None and input_data.get("json_text"):
            try:
                data = json.loads(input_data["json_text"])
            except json.JSONDecodeError as exc:
                raise ValueError(f"json_text is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            # A common wrapper: {"items": [...]} / {"data": [...]} / {"records": [...]}.
            for key in ("items", "data", "records", "results"):
                if isinstance(data.get(key), list):
                    data = data[key]
                    break
        if not isinstance(data, list):
            raise ValueError("give 'data' (a JSON array of objects) or 'json_text'")
        return data

    @staticmethod
    def _project(record: Any, select: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path in select:
            value = get_path(record, path)
            out[path] = None if value is _MISSING else value
        return out
