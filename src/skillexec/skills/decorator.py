"""``@skill``: a Python function as a skill, its parameters schema taken from its type hints.

The function stays what it was (callable as before); the :class:`Skill` rides along on its
``__skill__`` attribute, and the engine calls it with the validated parameters as keyword
arguments, plus ``context`` when it declares a parameter of that name.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

import pydantic
from pydantic import Field

from skillexec.errors import ManifestError
from skillexec.skills.fields import SKILL_ID, parse_execution, parse_permissions
from skillexec.skills.model import Entry, EntryKind, Isolation, Permission, Skill
from skillexec.skills.schema import normalize_parameters_schema
from skillexec.skills.semver import parse_version

__all__ = ["skill", "skill_of"]

F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT = "context"


@overload
def skill(id: F, /) -> F: ...


@overload
def skill(
    id: str | None = None,
    *,
    version: str = "1.0.0",
    timeout: float | None = None,
    description: str | None = None,
    isolation: Isolation | str | None = None,
    max_retries: int | None = None,
    priority: int | None = None,
    cacheable: bool = False,
    idempotent: bool = False,
    permissions: Iterable[Permission | str] = (),
    tags: Iterable[str] = (),
    output_schema: dict[str, Any] | None = None,
) -> Callable[[F], F]: ...


def skill(
    id: str | Callable[..., Any] | None = None,
    *,
    version: str = "1.0.0",
    timeout: float | None = None,
    description: str | None = None,
    isolation: Isolation | str | None = None,
    max_retries: int | None = None,
    priority: int | None = None,
    cacheable: bool = False,
    idempotent: bool = False,
    permissions: Iterable[Permission | str] = (),
    tags: Iterable[str] = (),
    output_schema: dict[str, Any] | None = None,
) -> Any:
    """Make a function a skill: ``@skill`` or ``@skill(id="add", version="1.0.0", timeout=5)``.

    Raises ManifestError (at decoration time) for an invalid id, version or setting, and for
    a parameter named ``parameters`` or ``config`` (reserved by the entry contract).
    """

    def decorate(fn: F) -> F:
        ident = id if isinstance(id, str) else fn.__name__.replace("_", "-")
        where = f"@skill {getattr(fn, '__qualname__', ident)!r}"
        if not SKILL_ID.match(ident):
            raise ManifestError(f"{where}: {ident!r} is not a valid skill id (letters, "
                                "digits, '-', '_' and '.')", details={"field": "id"})
        try:
            parse_version(version)
        except ValueError as exc:
            raise ManifestError(f"{where}: version: {exc}", details={"field": "version"}) from None
        execution, _ = parse_execution(
            {"timeout": timeout, "max_retries": max_retries, "priority": priority,
             "isolation": isolation or Isolation.INLINE,
             "cacheable": cacheable, "idempotent": idempotent},
            where=f"{where}: execution", strict=True,
        )
        granted, _ = parse_permissions(
            [p.value if isinstance(p, Permission) else p for p in permissions],
            where=f"{where}: permissions", strict=True,
        )
        if output_schema is not None and not isinstance(output_schema, dict):
            raise ManifestError(f"{where}: output_schema must be a JSON Schema object",
                                details={"field": "output_schema"})
        doc = inspect.getdoc(fn) or ""
        fn.__skill__ = Skill(  # type: ignore[attr-defined]
            id=ident,
            version=version.strip().lstrip("vV"),
            entry=Entry(EntryKind.CALLABLE, func=fn),
            name=ident,
            description=description if description is not None else doc,
            parameters_schema=normalize_parameters_schema(
                parameters_schema_of(fn), where=f"{where}: parameters"),
            output_schema=output_schema,
            execution=execution,
            permissions=granted,
            tags=tuple(tags),
            source="decorator",
            manifest={"module": getattr(fn, "__module__", None),
                      "qualname": getattr(fn, "__qualname__", None)},
        )
        return fn

    if callable(id) and not isinstance(id, str):
        return decorate(id)
    return decorate


def skill_of(obj: Any) -> Skill:
    """The :class:`Skill` of a ``@skill``-decorated function; TypeError for anything else."""
    found = getattr(obj, "__skill__", None)
    if isinstance(found, Skill):
        return found
    raise TypeError(f"{obj!r} is not a @skill-decorated function (decorate it with @skill)")


def parameters_schema_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """JSON Schema of ``fn``'s keyword parameters (``context`` left out), via pydantic."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # an unresolvable forward reference names its own problem
        raise ManifestError(
            f"@skill {fn.__qualname__!r}: cannot resolve the type hints: {exc}",
            details={"field": "parameters"},
        ) from exc
    fields: dict[str, Any] = {}
    extra_allowed = False
    for i, (name, param) in enumerate(signature.parameters.items()):
        if name == _CONTEXT:
            continue
        if param.kind is param.VAR_KEYWORD:
            extra_allowed = True
            continue
        if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
            raise ManifestError(
                f"@skill {fn.__qualname__!r}: parameter {name!r} cannot be passed by keyword; "
                "a skill receives its parameters as keyword arguments",
                details={"field": "parameters"},
            )
        default = ... if param.default is param.empty else param.default
        # Internal field names with the real name as alias: a parameter may be called
        # "json", "schema" or "_x" without clashing with BaseModel's own attributes.
        fields[f"p{i}"] = (hints.get(name, Any), Field(default, alias=name))
    config = pydantic.ConfigDict(extra="allow" if extra_allowed else "ignore")
    model = pydantic.create_model(f"{fn.__name__}_parameters", __config__=config, **fields)
    schema: dict[str, Any] = model.model_json_schema(by_alias=True)
    schema.pop("title", None)
    if extra_allowed:
        schema["additionalProperties"] = True
    else:
        schema.setdefault("additionalProperties", False)
    return schema
