"""``@skill``: a Python function as a skill, its parameters schema taken from its type hints.

The function stays what it was (callable as before); the :class:`Skill` rides along on its
``__skill__`` attribute, and the engine calls it with the validated parameters, converted
to their annotated types, as keyword arguments, plus ``context`` when it declares a
parameter of that name. A bound method, a ``functools.partial`` or a callable instance is
returned wrapped in a function that calls it (they cannot all carry an attribute).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from skillexec.errors import ManifestError
from skillexec.skills.fields import SKILL_ID, parse_execution, parse_permissions
from skillexec.skills.model import Entry, EntryKind, Isolation, Permission, Skill
from skillexec.skills.schema import binary_fields, normalize_parameters_schema
from skillexec.skills.semver import parse_version
from skillexec.skills.typed_parameters import TypedParameters, typed_parameters

__all__ = ["parameters_converter", "skill", "skill_of"]

F = TypeVar("F", bound=Callable[..., Any])

# Each decorated function's parameters model, for the engine to convert its calls' JSON
# with; weak, so that a closure made per user or session goes when its user does.
_TYPED: weakref.WeakKeyDictionary[Callable[..., Any], TypedParameters] = (
    weakref.WeakKeyDictionary())


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

    Takes a function, a bound method, a ``functools.partial`` or a callable instance (the
    last three are returned wrapped in a function that calls them). Raises ManifestError (at
    decoration time) for an invalid id, version or setting, for ``isolation`` other than
    inline (a function in memory cannot run in a child), for a parameter whose type pydantic
    cannot take (naming it), and for one named ``parameters`` or ``config`` (reserved by the
    entry contract).
    """

    def decorate(obj: F) -> F:
        fn, hints_of = _as_function(obj)
        ident = id if isinstance(id, str) else fn.__name__.replace("_", "-")
        where = f"@skill {fn.__qualname__!r}"
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
        if (level := execution.isolation) is not None and level is not Isolation.INLINE:
            # Only a skill folder's file can be imported in a child; a function in memory
            # (a closure, a method of a live object) cannot. Said now, not at every call.
            raise ManifestError(
                f"{where}: isolation {level.value!r} cannot be given to a "
                "decorated function, which runs in the engine's process (inline); put it in "
                "a skill folder (skill.json or SKILL.md naming its file) to run it isolated",
                details={"field": "isolation"})
        granted, _ = parse_permissions(
            [p.value if isinstance(p, Permission) else p for p in permissions],
            where=f"{where}: permissions", strict=True,
        )
        if output_schema is not None and not isinstance(output_schema, dict):
            raise ManifestError(f"{where}: output_schema must be a JSON Schema object",
                                details={"field": "output_schema"})
        typed = typed_parameters(fn, hints_of=hints_of, where=where)
        schema = normalize_parameters_schema(typed.schema, where=f"{where}: parameters")
        # A parameter annotated bytes arrives as the path of the file the engine wrote its
        # bytes to (DESIGN §3.5): the conversion reads them back. One annotated str keeps
        # the path.
        binary = typed.takes_bytes.intersection(name for name, _ in binary_fields(schema))
        _TYPED[fn] = dataclasses.replace(typed, name=f"skill {ident!r}", binary=binary)
        doc = inspect.getdoc(fn) or ""
        fn.__skill__ = Skill(  # type: ignore[attr-defined]
            id=ident,
            version=version.strip().lstrip("vV"),
            entry=Entry(EntryKind.CALLABLE, func=fn),
            name=ident,
            description=description if description is not None else doc,
            parameters_schema=schema,
            output_schema=output_schema,
            execution=execution,
            permissions=granted,
            tags=tuple(tags),
            source="decorator",
            manifest={"module": getattr(fn, "__module__", None),
                      "qualname": getattr(fn, "__qualname__", None)},
        )
        return typing.cast(F, fn)

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
    return typed_parameters(fn).schema


def parameters_converter(fn: Callable[..., Any]) -> Callable[[dict[str, Any]], dict[str, Any]] \
        | None:
    """How the engine turns a call's validated JSON into ``fn``'s keyword arguments (a
    pydantic model from ``{"x": 1}``, a date from ``"2024-01-02"``, ...); None when every
    annotation is a JSON type already, or ``fn`` was never decorated and pydantic cannot
    read it (it is then called with the JSON as it is, as before)."""
    try:
        typed = _TYPED.get(fn)
        if typed is None:  # a Skill made by hand around a function
            typed = _TYPED[fn] = typed_parameters(fn)
    except (ManifestError, TypeError):  # TypeError: no weak reference to it (a builtin)
        return None
    return None if typed.native else typed.convert


def _as_function(obj: Any) -> tuple[Callable[..., Any], Any]:
    """``obj`` as a function that can carry ``__skill__``, and what its type hints are read
    from. A function is itself; a bound method (``toolkit.search``: its ``self`` bound), a
    ``functools.partial`` and an instance with ``__call__`` are wrapped in one that calls
    them, with their signature."""
    if inspect.isfunction(obj):
        return obj, obj
    if inspect.isclass(obj) or not callable(obj):
        raise ManifestError(
            f"@skill {getattr(obj, '__qualname__', repr(obj))!r}: a skill is a function, a "
            f"bound method, a functools.partial or an instance with __call__, not "
            f"{'a class' if inspect.isclass(obj) else type(obj).__name__}",
            details={"field": "entry"})
    inner = obj
    while isinstance(inner, functools.partial):
        inner = inner.func
    if inspect.ismethod(inner):
        hints_of: Any = inner.__func__
    elif inspect.isfunction(inner) or inspect.isbuiltin(inner):
        hints_of = inner
    else:
        hints_of = type(inner).__call__
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"@skill {repr(obj)!r}: cannot read its signature: {exc}",
                            details={"field": "parameters"}) from None
    name = getattr(inner, "__name__", None) or type(inner).__name__
    is_async = inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(hints_of)
    if is_async:
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            return await obj(*args, **kwargs)
        fn: Callable[..., Any] = call_async
    else:
        def call(*args: Any, **kwargs: Any) -> Any:
            return obj(*args, **kwargs)
        fn = call
    fn.__name__ = name
    fn.__qualname__ = getattr(inner, "__qualname__", None) or type(inner).__qualname__
    fn.__module__ = getattr(hints_of, "__module__", None) or fn.__module__
    fn.__doc__ = inspect.getdoc(hints_of) if isinstance(obj, functools.partial) \
        else inspect.getdoc(obj)
    fn.__wrapped__ = obj  # type: ignore[attr-defined]
    fn.__signature__ = signature  # type: ignore[attr-defined]
    return fn, hints_of
