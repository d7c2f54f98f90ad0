"""MonitorSettings: what the monitor does, frozen, with defaults that suit production."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from skillexec.errors import ConfigError
from skillexec.monitoring.rules import AlertRule, default_rules

__all__ = ["MonitorSettings"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MIN_ACCURACY = 0.004  # the sketches' finest: 7 mantissa bits, 0.39 %


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    enabled: bool = True
    # live statistics
    max_skills: int = 100  # distinct skills with their own statistics and labels; more: "other"
    max_principals: int = 1000  # distinct principals counted; more: "other"
    relative_accuracy: float = 0.01  # of the cumulative quantile sketches
    window_accuracy: float = 0.02  # of the rolling window's sketches (alerts)
    window_slot_s: float = 10.0  # the rolling window (alerts) moves by this much
    window_slots: int = 90  # ... and covers slot_s * slots (15 min)
    # events
    event_log: bool = True  # a late subscriber replays a task's events from its start
    event_log_max_per_task: int = 256  # progress reports kept per task (then the latest)
    event_log_grace_s: float = 5.0  # progress and retry times kept this long after the end
    event_log_max_ended: int = 256  # ... of at most this many ended tasks (status events are
    # rebuilt from the journal, however old the task)
    # logs
    log_format: Literal["auto", "json", "console"] = "auto"  # auto: console on a terminal
    log_level: str = "INFO"
    log_file: Path | None = None  # None: the "skillexec.tasks" stdlib logger's handlers
    sensitive_params: frozenset[str] = frozenset()  # parameter names kept out of logs
    # tracing
    tracing: bool = True  # OpenTelemetry spans when the [otel] extra is installed
    # system metrics
    system_metrics_ttl_s: float = 1.0  # psutil is read at most this often
    # alerts
    alerts: bool = True
    alert_rules: tuple[AlertRule, ...] = field(default_factory=default_rules)
    alert_interval_s: float = 15.0
    webhook_url: str | None = None
    webhook_retries: int = 3
    webhook_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.log_level.upper() not in logging.getLevelNamesMapping():  # else a ValueError
            # deep in logging, after the engine has started
            raise ConfigError(f"monitor setting log_level must be one of {', '.join(_LEVELS)} "
                              f"(got {self.log_level!r})")
        for name in ("relative_accuracy", "window_accuracy"):
            value = getattr(self, name)
            if not _MIN_ACCURACY <= value < 0.5:
                raise ConfigError(f"monitor setting {name} must be in [{_MIN_ACCURACY}, 0.5) "
                                  f"(got {value!r}; the sketches are no finer than 0.39 %)")
        for name in ("max_skills", "max_principals", "window_slots"):
            if not getattr(self, name) >= 1:
                raise ConfigError(f"monitor setting {name} must be at least 1 "
                                  f"(got {getattr(self, name)!r})")
        for name in ("window_slot_s", "alert_interval_s", "webhook_timeout_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"monitor setting {name} must be a positive number of "
                                  f"seconds (got {value!r})")
        for name in ("event_log_max_per_task", "event_log_max_ended", "event_log_grace_s",
                     "system_metrics_ttl_s", "webhook_retries"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"monitor setting {name} must not be negative "
                                  f"(got {getattr(self, name)!r})")

    @classmethod
    def from_config(cls, config: Any) -> MonitorSettings:
        """``config.monitor``: EngineConfig's typed sub-model (or a mapping of its keys), else
        the defaults. The environment is read by EngineConfig alone (``SKILLEXEC_MONITOR__*``)."""
        given = getattr(config, "monitor", None)
        if isinstance(given, MonitorSettings):
            return given
        if isinstance(given, Mapping):
            return cls.from_dict(dict(given))
        return cls()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorSettings:
        data = dict(data)
        if "alert_rules" in data:
            data["alert_rules"] = tuple(
                r if isinstance(r, AlertRule) else AlertRule.from_dict(r)
                for r in data["alert_rules"])
        if "sensitive_params" in data:
            data["sensitive_params"] = frozenset(data["sensitive_params"])
        if data.get("log_file") is not None:
            data["log_file"] = Path(data["log_file"])
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown monitor setting(s): {', '.join(unknown)}")
        return cls(**data)

    def with_(self, **changes: Any) -> MonitorSettings:
        return replace(self, **changes)
