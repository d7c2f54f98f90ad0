"""The subsystems' tables of EngineConfig (monitor, reliability, resources, pressure, cache,
smart): their settings classes live with their subsystems (frozen dataclasses); here each is
validated as a section is, so that an unknown key is named wherever it is given, and a list
or mapping given as an environment variable is read as JSON (or comma-separated names).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidatorFunctionWrapHandler, WrapValidator

from skillexec.errors import ConfigError
from skillexec.monitoring.settings import MonitorSettings
from skillexec.optimization.settings import CacheSettings
from skillexec.reliability.settings import ReliabilitySettings
from skillexec.resources.limits import PressureSettings, ResourceLimits
from skillexec.smart.settings import SmartSettings

__all__ = ["TABLES", "former_monitor_env", "table"]

# the sub-models: a [table] in skillexec.toml, SKILLEXEC_<TABLE>__<KEY>, or SKILLEXEC_<TABLE>
TABLES: Mapping[str, type[Any]] = MappingProxyType({
    "monitor": MonitorSettings, "reliability": ReliabilitySettings,
    "resources": ResourceLimits, "pressure": PressureSettings, "cache": CacheSettings,
    "smart": SmartSettings})

# a table's keys whose values are lists or mappings: from the environment, a JSON string
# (or, for a list of names, comma-separated names)
_STRUCTURED = ("frozenset", "tuple", "Mapping", "dict", "CallLimits", "list")


def table(name: str) -> WrapValidator:
    """Validates one table: an unknown key is an error naming it and the known ones."""
    cls = TABLES[name]
    known = {f.name: str(f.type) for f in dataclasses.fields(cls)}

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(known))
            if unknown:
                raise ValueError(f"unknown setting(s) {', '.join(map(str, unknown))}; "
                                 f"known: {', '.join(sorted(known))}")
            value = {k: _decoded(v, known[k]) for k, v in value.items()}
        try:
            if name == "monitor" and isinstance(value, dict):  # rules have their own parser
                value = _with_rules(value)
            return handler(value)
        except (ConfigError, TypeError) as exc:  # a table's own checks
            raise ValueError(str(exc)) from None

    return WrapValidator(validate)


def _decoded(value: Any, annotation: str) -> Any:
    if not isinstance(value, str) or not annotation.startswith(_STRUCTURED):
        return value
    text = value.strip()
    if text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
    return [part.strip() for part in text.split(",") if part.strip()]


def _with_rules(value: dict[str, Any]) -> dict[str, Any]:
    from skillexec.monitoring.rules import AlertRule

    rules = value.get("alert_rules")
    if rules is not None and not isinstance(rules, str):
        value["alert_rules"] = tuple(
            r if isinstance(r, AlertRule) else AlertRule.from_dict(r) for r in rules)
    return value


def former_monitor_env(environ: Mapping[str, str]) -> list[str]:
    """The monitor's former variables (``SKILLEXEC_MONITOR_X``), now ``..._MONITOR__X``."""
    prefix = "SKILLEXEC_MONITOR_"
    names = {f.name.upper() for f in dataclasses.fields(MonitorSettings)}
    return sorted(k for k in environ
                  if k.upper().startswith(prefix) and k.upper()[len(prefix):] in names)


