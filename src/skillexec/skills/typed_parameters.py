"""A ``@skill`` function's parameters as pydantic sees them: the JSON Schema a call is
validated against, and the call's JSON turned into the annotated types.

The engine validates, journals and caches a call's parameters as JSON. A function that
annotates ``p: Point`` (a pydantic model, a dataclass, a TypedDict, an Enum, a date, a
UUID, a set, a tuple, a Decimal, bytes) is called with a ``Point``, not the dict: the same
pydantic model that gave the schema converts the JSON, once per attempt. A function whose
every annotation is a JSON type already (int, str, list[str], dict[str, Any], Literal of
strings, ...) needs nothing converted, and its calls pay nothing for this.
"""

from __future__ import annotations

import base64
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import annotated_types
import orjson
import pydantic
from pydantic.fields import FieldInfo

from skillexec.errors import ManifestError, ParameterError, Violation

__all__ = ["TypedParameters", "typed_parameters"]

CONTEXT = "context"  # the parameter that receives the SkillContext, not a call's value

_JSON_LEAVES: frozenset[Any] = frozenset({int, float, str, bool, type(None), None, Any, object,
                                          list, dict})
_JSON_LITERALS = (str, int, bool, type(None))
# Why pydantic could not take a parameter's type, by its error code: said for a skill's
# author, without pydantic's own advice (``arbitrary_types_allowed`` is not theirs to set).
_REASONS = {
    "typed-dict-version": "typing.TypedDict cannot be validated on Python < 3.12; import "
                          "TypedDict from typing_extensions instead",
    "schema-for-unknown-type": "pydantic cannot validate this type, so a call's JSON cannot "
                               "become one; use a JSON type, a pydantic model, a dataclass "
                               "or a TypedDict",
    "invalid-for-json-schema": "this type has no JSON Schema, so a caller cannot be told "
                               "what to send",
}


@dataclass(frozen=True, slots=True)
class TypedParameters:
    """The pydantic model of a function's parameters and how to read a call back out of it."""

    name: str  # for messages: "skill 'add'", or the function's name
    model: type[pydantic.BaseModel]
    fields: tuple[tuple[str, str], ...]  # (the model's field name, the parameter's name)
    native: bool  # every annotation a JSON type: the validated JSON is passed as it is
    schema: dict[str, Any]  # the JSON Schema of a call's parameters
    takes_bytes: frozenset[str] = frozenset()  # parameters annotated bytes (or Optional)
    binary: frozenset[str] = frozenset()  # of those, the engine hands a file's path

    def convert(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments for one call: each parameter given, as its annotated type.
        A parameter not given is left out, so the function's own default applies."""
        data = dict(params)
        for name in self.binary.intersection(data):
            # The engine wrote a binary parameter's bytes into the attempt's workspace and
            # gives the file's path (DESIGN §3.5); a parameter annotated ``bytes`` wants them.
            value = data[name]
            if isinstance(value, str) and (path := Path(value)).is_absolute() and path.is_file():
                data[name] = base64.b64encode(path.read_bytes()).decode()
        try:
            # JSON mode, as what arrives is JSON: bytes are base64 (as the schema says);
            # python mode would take "aGk=" as the bytes b"aGk=".
            raw: bytes | None = orjson.dumps(data)
        except TypeError:  # called by hand with Python objects (a model instance)
            raw = None
        try:
            made = (self.model.model_validate(data) if raw is None
                    else self.model.model_validate_json(raw))
        except pydantic.ValidationError as exc:
            raise _parameter_error(self.name, exc) from None
        out = {param: getattr(made, field) for field, param in self.fields if param in data}
        if made.__pydantic_extra__:
            out.update(made.__pydantic_extra__)
        return out


def typed_parameters(fn: Callable[..., Any], *, hints_of: Any = None,
                     where: str | None = None) -> TypedParameters:
    """The parameters of ``fn`` (``context`` left out), their types read from ``hints_of``
    (default ``fn``: a bound method's or a partial's are its function's). Raises
    ManifestError naming the function and the parameter pydantic cannot take."""
    name = getattr(fn, "__qualname__", None) or getattr(hints_of, "__qualname__", repr(fn))
    where = where or f"@skill {name!r}"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{where}: cannot read its signature: {exc}",
                            details={"field": "parameters"}) from None
    try:
        hints = typing.get_type_hints(hints_of if hints_of is not None else fn,
                                      include_extras=True)
    except Exception as exc:  # an unresolvable forward reference names its own problem
        raise ManifestError(f"{where}: cannot resolve the type hints: {exc}",
                            details={"field": "parameters"}) from exc
    fields: dict[str, Any] = {}
    names: list[tuple[str, str]] = []
    extra_allowed = False
    native = True
    takes_bytes: set[str] = set()
    for i, (pname, param) in enumerate(signature.parameters.items()):
        if pname == CONTEXT:
            continue
        if param.kind is param.VAR_KEYWORD:
            extra_allowed = True
            continue
        if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
            raise ManifestError(
                f"{where}: parameter {pname!r} cannot be passed by keyword; a skill receives "
                "its parameters as keyword arguments", details={"field": "parameters"})
        hint = hints.get(pname, Any)
        native = native and _json_native(hint)
        if _bytes_in(hint):
            takes_bytes.add(pname)
        default = ... if param.default is param.empty else param.default
        # Internal field names with the real name as alias: a parameter may be called
        # "json", "schema" or "_x" without clashing with BaseModel's own attributes.
        fields[f"p{i}"] = (hint, pydantic.Field(default, alias=pname))
        names.append((f"p{i}", pname))
    config = pydantic.ConfigDict(extra="allow" if extra_allowed else "ignore",
                                 val_json_bytes="base64")
    model_name = f"{getattr(fn, '__name__', 'skill')}_parameters"
    try:
        model = pydantic.create_model(model_name, __config__=config, **fields)
        schema: dict[str, Any] = model.model_json_schema(by_alias=True)
    except Exception as exc:
        raise _unsupported(where, fields, names, config, exc) from exc
    schema.pop("title", None)
    if extra_allowed:
        schema["additionalProperties"] = True
    else:
        schema.setdefault("additionalProperties", False)
    return TypedParameters(repr(name), model, tuple(names), native, schema,
                           frozenset(takes_bytes))


def _unsupported(where: str, fields: dict[str, Any], names: list[tuple[str, str]],
                 config: pydantic.ConfigDict, exc: Exception) -> ManifestError:
    """The ManifestError for a model pydantic refused, naming the parameter at fault."""
    for field, pname in names:
        try:
            one = pydantic.create_model("one", __config__=config, **{field: fields[field]})
            one.model_json_schema(by_alias=True)
        except Exception as one_exc:
            hint = fields[field][0]
            shown = getattr(hint, "__qualname__", None) or repr(hint)
            reason = _REASONS.get(getattr(one_exc, "code", None) or "") or _first_line(one_exc)
            return ManifestError(f"{where}: parameter {pname!r} ({shown}): {reason}",
                                 details={"field": "parameters", "parameter": pname})
    return ManifestError(f"{where}: its parameters have no JSON Schema: {_first_line(exc)}",
                         details={"field": "parameters"})


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _json_native(hint: Any) -> bool:
    """Whether a value the JSON Schema accepted is already of this type (an int where a
    float is wanted counts: Python's numeric tower takes it)."""
    try:
        if hint in _JSON_LEAVES:
            return True
    except TypeError:  # an unhashable annotation: look at its parts
        pass
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        # Field(...) and annotated_types constraints only check; a validator may change
        # the value (AfterValidator(str.lower)), so one means converting.
        return _json_native(args[0]) and all(
            isinstance(m, FieldInfo | annotated_types.BaseMetadata) for m in args[1:])
    if origin is Literal:
        return all(type(a) in _JSON_LITERALS for a in args)
    if origin is Union or origin is types.UnionType or origin is list:
        return all(_json_native(a) for a in args)
    if origin is dict:
        return args[0] is str and _json_native(args[1])
    return False


def _bytes_in(hint: Any) -> bool:
    """Whether a parameter's annotation is bytes, possibly Annotated or in a Union."""
    if hint is bytes or hint is bytearray:
        return True
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _bytes_in(typing.get_args(hint)[0])
    return (origin is Union or origin is types.UnionType) and any(
        _bytes_in(a) for a in typing.get_args(hint))


def _parameter_error(name: str, exc: pydantic.ValidationError) -> ParameterError:
    errors = exc.errors(include_url=False)
    found = [Violation(path="/" + "/".join(str(p) for p in e["loc"]), rule=e["type"],
                       message=e["msg"],
                       value=e["input"] if isinstance(e["input"], _JSON_LITERALS) else None)
             for e in errors]
    first = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return ParameterError(
        f"the parameters of {name} do not convert to its type hints: {first.path}: "
        f"{first.message}{more}", violations=found)
