"""The entry contract (DESIGN §3.4): find a skill's callable, call it, read its answer.

Shared by every runner that runs Python skills, in the engine's process or in a child.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from skillexec.environments.modules import missing_module_message, module_key, package_for
from skillexec.errors import (
    DependencyError,
    ErrorInfo,
    ErrorSeverity,
    ErrorType,
    ExecutionError,
    ParameterError,
)
from skillexec.skills.model import EntryKind, Skill

__all__ = ["Invoker", "build_input", "interpret_result", "load_invoker"]

_ENVELOPE_MARKERS = frozenset({"result", "error", "message"})
_import_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Invoker:
    """A ready-to-call entry: ``call(input_data, context)`` returns a value or an awaitable."""

    call: Callable[[dict[str, Any], Any], Any]
    is_async: bool


def build_input(params: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """``input_data``: each parameter at the top level, plus ``parameters`` and ``config``.

    Made afresh for each attempt, from the call's parameters as given: what a skill changes
    in them (an in-process one holds the very objects) neither reaches its caller's objects
    nor carries over to a retry, which is the same call again (as the journal, recovery and
    ``tasks replay`` have it)."""
    params = _fresh(params)
    data = dict(params)
    data["parameters"] = params
    data["config"] = _fresh(config)
    return data


# Values a skill cannot change in place: shared as they are. Anything else (a list, a dict)
# sends the object through a copy.
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def _fresh(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` the skill may change at will: a shallow one when every value is
    immutable (the common case, a few type checks), else a deep one."""
    if not obj:
        return {}
    for value in obj.values():
        if type(value) not in _IMMUTABLE:
            break
    else:
        return dict(obj)
    try:
        # Parameters were encoded once to be validated: a round trip is the cheapest deep
        # copy, and gives what the journal holds (what a retry after a restart gets).
        fresh: dict[str, Any] = orjson.loads(orjson.dumps(obj))
    except (TypeError, orjson.JSONEncodeError):  # a config the caller built with others
        fresh = copy.deepcopy(obj)
    return fresh


def load_invoker(skill: Skill) -> Invoker:
    """Import the skill's entry and return how to call it; raises DependencyError if absent."""
    entry = skill.entry
    if entry.kind is EntryKind.CALLABLE and entry.func is not None:
        return _decorated_invoker(entry.func)
    if entry.kind is EntryKind.PYTHON and entry.file is not None:
        module = _import_file(skill, entry.file)
        return _module_invoker(skill, module, entry.attr)
    if entry.kind is EntryKind.NONE:
        raise DependencyError(
            f"skill {skill.id!r} has no executable entry"
            + (f": {entry.reason}" if entry.reason else ""),
            code="no_entry_point",
        )
    raise DependencyError(f"skill {skill.id!r}: entry of kind {entry.kind.value!r} "
                          "cannot be called in-process", code="no_entry_point")


def interpret_result(value: Any) -> tuple[Any, ErrorInfo | None]:
    """Read a skill's return value: the Py Copilot envelope, or any JSON value as it is."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("success"), bool)
        and not _ENVELOPE_MARKERS.isdisjoint(value)
    ):
        if value["success"]:
            return (value.get("result", value.get("data")), None)
        err = value.get("error")
        message = value.get("message")
        if isinstance(err, dict):
            text = str(err.get("message") or message or "the skill reported a failure")
            code = str(err.get("code") or "skill_reported_failure")
        else:
            text = str(err or message or "the skill reported a failure")
            code = str(value.get("error_code") or "skill_reported_failure")
        details: dict[str, Any] = {}
        if isinstance(value.get("metadata"), dict):
            details["metadata"] = value["metadata"]
        for key in ("status_code", "retry_after"):
            if key in value:
                details[key] = value[key]
        return None, ErrorInfo(
            type=_envelope_type(value.get("error_type")),
            code=code,
            message=text,
            retryable=value.get("retryable") is True,
            severity=ErrorSeverity.MEDIUM,
            details=details,
        )
    return value, None


def _envelope_type(raw: Any) -> ErrorType:
    try:
        return ErrorType(raw)
    except ValueError:
        return ErrorType.EXECUTION


def _import_file(skill: Skill, file: Path) -> ModuleType:
    safe = re.sub(r"\W", "_", f"{skill.id}_{skill.version}")
    name = f"skillexec_skill_{safe}_{file.stem}"
    with _import_lock:
        cached = sys.modules.get(name)
        if cached is not None and getattr(cached, "__file__", None) == str(file):
            return cached
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise DependencyError(f"skill {skill.id!r}: cannot import {file}",
                                  code="entry_import_failed")
        module = importlib.util.module_from_spec(spec)
        # The skill's folder goes first on sys.path while it imports, so its own helper
        # modules (``from utils import x``) resolve as they do under Py Copilot.
        folder = str(file.parent)
        sys.path.insert(0, folder)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(name, None)
            if type(exc) is ModuleNotFoundError and exc.name:
                raise DependencyError(
                    missing_module_message(exc.name, skill_id=skill.id), code="missing_module",
                    details={"skill_id": skill.id, "module": module_key(exc.name),
                             "package": package_for(exc.name)}) from exc
            if isinstance(exc, ImportError | SyntaxError):
                raise DependencyError(
                    f"skill {skill.id!r}: importing {file.name} failed: "
                    f"{type(exc).__name__}: {exc}",
                    code="entry_import_failed",
                ) from exc
            if isinstance(exc, Exception):
                raise ExecutionError(
                    f"skill {skill.id!r}: importing {file.name} raised "
                    f"{type(exc).__name__}: {exc}",
                    code="entry_import_failed",
                ) from exc
            raise
        finally:
            try:
                sys.path.remove(folder)
            except ValueError:
                pass
    return module


def _module_invoker(skill: Skill, module: ModuleType, attr: str | None) -> Invoker:
    target: Any
    if attr and "." in attr:
        return _method_invoker(skill, module, attr)
    if attr:
        target = getattr(module, attr, None)
        if target is None:
            raise DependencyError(
                f"skill {skill.id!r}: {module.__file__} has no {attr!r}",
                code="no_entry_point",
            )
    else:
        target = _discover(module)
        if target is None:
            raise DependencyError(
                f"skill {skill.id!r}: {module.__file__} defines no execute() function and "
                "no class with an execute() method",
                code="no_entry_point",
            )
    if inspect.isclass(target):
        try:
            instance = target()
        except TypeError:
            # Py Copilot's skill classes sometimes take their manifest config.
            instance = target(dict(skill.default_config))  # type: ignore[call-arg]
        method = getattr(instance, "execute_async", None) or getattr(instance, "execute", None)
        if method is None:
            raise DependencyError(
                f"skill {skill.id!r}: class {target.__name__} has no execute() method",
                code="no_entry_point",
            )
        target = method
    elif inspect.isfunction(target) and target.__name__ == "execute":
        target = getattr(module, "execute_async", None) or target
    if not callable(target):
        raise DependencyError(f"skill {skill.id!r}: entry {attr!r} is not callable",
                              code="no_entry_point")
    return Invoker(call=_positional_caller(target), is_async=_is_async(target))


def _method_invoker(skill: Skill, module: ModuleType, attr: str) -> Invoker:
    """``Class.method`` (the operator's entry for a Py Copilot class): the class made once,
    without arguments; the method called with the parameters as keywords."""
    cls_name, _, method_name = attr.partition(".")
    cls = getattr(module, cls_name, None)
    if not inspect.isclass(cls):
        raise DependencyError(f"skill {skill.id!r}: {module.__file__} has no class "
                              f"{cls_name!r}", code="no_entry_point")
    try:
        instance = cls()
    except TypeError as exc:
        raise DependencyError(f"skill {skill.id!r}: class {cls_name} cannot be made without "
                              f"arguments: {exc}", code="no_entry_point") from None
    method = getattr(instance, method_name, None)
    if not callable(method):
        raise DependencyError(f"skill {skill.id!r}: class {cls_name} has no method "
                              f"{method_name!r}", code="no_entry_point")
    try:
        sig: inspect.Signature | None = inspect.signature(method)
    except (TypeError, ValueError):
        sig = None
    wants_context = sig is not None and "context" in sig.parameters

    def call(data: dict[str, Any], ctx: Any) -> Any:
        params = data["parameters"]
        kwargs = {**params, "context": ctx} if wants_context else params
        if sig is not None:
            try:  # a Py Copilot method has no schema: its signature is the check
                sig.bind(**kwargs)
            except TypeError as exc:
                raise ParameterError(f"skill {skill.id!r}: {attr}: {exc}",
                                     code="invalid_parameters") from None
        return method(**kwargs)

    return Invoker(call=call, is_async=_is_async(method))


def _discover(module: ModuleType) -> Any:
    for name in ("execute_async", "execute"):
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
    classes = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and obj.__module__ == module.__name__
        and callable(getattr(obj, "execute", None) or getattr(obj, "execute_async", None))
    ]
    classes.sort(key=lambda c: (not c.__name__.endswith("Skill"), c.__name__))
    return classes[0] if classes else None


def _positional_caller(fn: Callable[..., Any]) -> Callable[[dict[str, Any], Any], Any]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return lambda data, ctx: fn(data, ctx)
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    if "context" in sig.parameters and sig.parameters["context"].kind is not (
        inspect.Parameter.POSITIONAL_ONLY
    ):
        return lambda data, ctx: fn(data, context=ctx)
    if takes_varargs or len(positional) >= 2:
        return lambda data, ctx: fn(data, ctx)
    if len(positional) == 1:
        return lambda data, ctx: fn(data)
    return lambda data, ctx: fn()


def _decorated_invoker(fn: Callable[..., Any]) -> Invoker:
    from skillexec.skills.decorator import parameters_converter  # not for file entries

    wants_context = "context" in inspect.signature(fn).parameters
    # The journal keeps a call's JSON; the function gets its annotated types (a model, a
    # date, a set), converted at each attempt. None: every annotation is a JSON type.
    convert = parameters_converter(fn)

    def call(data: dict[str, Any], ctx: Any) -> Any:
        params = data["parameters"]
        if convert is not None:
            params = convert(params)
        if wants_context:
            return fn(**params, context=ctx)
        return fn(**params)

    return Invoker(call=call, is_async=_is_async(fn))


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an instance with an async __call__
    )

