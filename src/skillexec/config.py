"""EngineConfig: every engine setting in one immutable tree.

The top level holds the core settings, flat (``max_concurrency``); each subsystem has a typed
sub-model (``config.monitor.max_skills``, ``config.cache.default_ttl_s``, ...). One loader reads,
in order of precedence: keyword options, a ``skillexec.toml`` (in the working directory, or the
file named by ``SKILLEXEC_CONFIG``; a subsystem is a ``[table]``), then the environment, in one
scheme: ``SKILLEXEC_<SETTING>`` for the top level, ``SKILLEXEC_<TABLE>__<KEY>`` for a key of a
table (``SKILLEXEC_MONITOR__LOG_LEVEL=DEBUG``) or ``SKILLEXEC_<TABLE>`` for the whole table as
JSON. An unknown key, at any level, is an error that names it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from skillexec.errors import ConfigError
from skillexec.monitoring.settings import MonitorSettings
from skillexec.optimization.settings import CacheSettings
from skillexec.reliability.settings import ReliabilitySettings
from skillexec.resources.limits import PressureSettings, ResourceLimits
from skillexec.skills.model import Isolation, Permission
from skillexec.smart.settings import SmartSettings

if TYPE_CHECKING:
    from skillexec.runtime.environment import AttemptQuotas
    from skillexec.runtime.runners.settings import IsolationSettings
    from skillexec.security.isolation_policy import IsolationPolicy

__all__ = ["TABLES", "EngineConfig", "load_config"]

# the sub-models: a [table] in skillexec.toml, SKILLEXEC_<TABLE>__<KEY>, or SKILLEXEC_<TABLE>
TABLES: Mapping[str, type[Any]] = MappingProxyType({
    "monitor": MonitorSettings, "reliability": ReliabilitySettings,
    "resources": ResourceLimits, "pressure": PressureSettings, "cache": CacheSettings,
    "smart": SmartSettings})

# a table's keys whose values are lists or mappings: from the environment, a JSON string
# (or, for a list of names, comma-separated names)
_STRUCTURED = ("frozenset", "tuple", "Mapping", "dict", "CallLimits", "list")


def _table(name: str) -> WrapValidator:
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


def _legacy_monitor_env(environ: Mapping[str, str]) -> list[str]:
    """The monitor's former variables (``SKILLEXEC_MONITOR_X``), now ``..._MONITOR__X``."""
    prefix = "SKILLEXEC_MONITOR_"
    names = {f.name.upper() for f in dataclasses.fields(MonitorSettings)}
    return sorted(k for k in environ
                  if k.upper().startswith(prefix) and k.upper()[len(prefix):] in names)


class EngineConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SKILLEXEC_", env_nested_delimiter="__", frozen=True, extra="forbid",
        validate_default=True)

    # where things are
    skills_dir: Path | None = Field(None, description="Folder of skill folders to load at start.")
    data_dir: Path = Field(Path(".skillexec"), description="Journal and artifacts live here.")

    # scheduling
    max_concurrency: int = Field(1000, ge=1, description="Tasks running at once, all runners.")
    max_queue_size: int = Field(100_000, ge=1, description="Queued tasks before submit refuses.")
    queue_aging_s: float = Field(
        10.0, gt=0, description="A waiting task gains one priority level per this many seconds."
    )
    default_priority: int = Field(5, ge=0, le=9)
    default_timeout_s: float = Field(60.0, gt=0, description="When neither call nor skill say.")
    default_max_retries: int = Field(2, ge=0, le=100, description="Retries of retryable errors.")
    retry_base_delay_s: float = Field(0.05, ge=0, description="First retry's backoff.")
    retry_max_delay_s: float = Field(5.0, ge=0, description="Backoff cap.")
    thread_pool_size: int = Field(32, ge=1, description="Threads for synchronous inline skills.")

    # timeouts (core): timeout_s is per attempt; this bounds a call over all its attempts
    default_deadline_s: float | None = Field(
        None, gt=0, description="Time a call may take over all attempts (None: no limit).")

    # validation and limits
    coerce_parameters: bool = Field(True, description="'3'->3, 'true'->true, 'a,b'->[..].")
    max_param_bytes: int = Field(1 << 20, ge=1, description="Largest accepted parameters (JSON).")
    max_output_bytes: int = Field(16 << 20, ge=1, description="Largest accepted output (JSON).")
    max_artifact_bytes: int = Field(100 << 20, ge=1, description="Largest single artifact.")

    # runtime
    keep_workdirs: bool = Field(False, description="Keep each attempt's folder for debugging.")
    strict_manifests: bool = Field(False, description="SKILL.md per the spec, no extra keys.")

    # isolation and permissions
    default_isolation: Isolation = Field(
        Isolation.SANDBOX, description="Runner for folder skills whose manifest does not say."
    )
    allow_weaker_isolation: bool = Field(
        False, description="Run a skill even where a sandbox mechanism is missing here.")
    permissions_allowed: frozenset[Permission] = Field(
        frozenset({Permission.FILE_READ, Permission.FILE_WRITE}),
        description="Manifest permissions granted to every skill.")
    permissions_per_skill: dict[str, frozenset[Permission]] = Field(
        default_factory=dict, description="Skill id -> further permissions granted to it.")
    file_read_paths: tuple[Path, ...] = Field((), description="Readable with file_read.")
    file_write_paths: tuple[Path, ...] = Field((), description="Writable with file_write.")
    default_memory_mb: int = Field(512, ge=16, description="Memory an isolated attempt may use.")
    max_memory_mb: int = Field(4096, ge=16, description="Most a manifest may ask for.")
    default_cpu_seconds: float = Field(60.0, gt=0, description="CPU time an attempt may use.")
    max_cpu_seconds: float = Field(600.0, gt=0, description="Most a manifest may ask for.")
    trusted_skills: frozenset[str] = Field(
        frozenset(), description="Folder skill ids (exact, no patterns) that may ask for "
        "weaker isolation than default_isolation.")
    max_timeout_s: float = Field(3600.0, gt=0, description="Longest an attempt may run, "
                                 "whatever a manifest or a call asks.")
    max_retries: int = Field(10, ge=0, le=100, description="Most retries a manifest or a "
                             "call may ask for.")

    # quotas: what one attempt may make
    max_workspace_bytes: int = Field(1 << 30, ge=1 << 20, description="Bytes in an attempt's "
                                     "workspace (RLIMIT_FSIZE per file, counted at the end).")
    max_workspace_files: int = Field(100_000, ge=1, description="Files and folders in an "
                                     "attempt's workspace.")
    max_artifacts: int = Field(1000, ge=0, description="Artifacts one attempt may save.")
    max_artifacts_bytes: int = Field(256 << 20, ge=1, description="Total bytes of the "
                                     "artifacts one attempt may save.")
    max_message_bytes: int = Field(64 << 10, ge=256, description="A progress or log message "
                                   "past this (UTF-8) is cut, with a marker.")
    zygote_idle_s: float = Field(300.0, gt=0, description="Idle warm parents are stopped.")
    zygote_max_attempts: int = Field(1000, ge=1, description="A warm parent is recycled after.")
    zygote_import_timeout_s: float = Field(
        30.0, gt=0, description="A skill whose import takes longer fails (that skill only).")
    zygote_memory_mb: int = Field(2048, ge=64, description="A warm parent's own memory.")

    # journal
    journal: bool = Field(True, description="Record every task in SQLite (off: benchmarks only).")
    journal_synchronous: Literal["normal", "full"] = Field(
        "normal", description="SQLite synchronous: normal survives kill -9, full power loss."
    )
    journal_max_batch: int = Field(2000, ge=1, description="Records per group commit at most.")
    recover: bool = Field(True, description="At start, resume or close the tasks a stopped "
                          "engine left unfinished (the CLI's one-shot commands do not).")
    interrupt_grace_s: float = Field(2.0, ge=0, description="On Ctrl-C/SIGTERM, how long "
                                     "running calls may finish before they are cancelled.")

    # subsystems: typed sub-models (README: "Configuration" lists their keys)
    monitor: Annotated[MonitorSettings, _table("monitor")] = Field(
        default_factory=MonitorSettings, description="ExecutionMonitor: statistics, events, "
        "logs, tracing, alerts.")
    reliability: Annotated[ReliabilitySettings, _table("reliability")] = Field(
        default_factory=ReliabilitySettings, description="Circuit breakers, retry budget, "
        "backoff, dead letters.")
    resources: Annotated[ResourceLimits, _table("resources")] = Field(
        default_factory=ResourceLimits, description="Concurrency, rates, queue capacity, call "
        "limits.")
    pressure: Annotated[PressureSettings, _table("pressure")] = Field(
        default_factory=PressureSettings, description="Admission under system pressure.")
    cache: Annotated[CacheSettings, _table("cache")] = Field(
        default_factory=CacheSettings, description="Result cache and single-flight.")
    smart: Annotated[SmartSettings, _table("smart")] = Field(
        default_factory=SmartSettings, description="Prediction and adaptive optimization.")

    @field_validator("trusted_skills")
    @classmethod
    def _skill_ids(cls, value: frozenset[str]) -> frozenset[str]:
        from skillexec.skills.fields import SKILL_ID
        bad = sorted(v for v in value if not SKILL_ID.match(v))
        if bad:
            raise ValueError(f"not skill ids (exact ids only, no patterns): {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> EngineConfig:
        for default, most in (("default_timeout_s", "max_timeout_s"),
                              ("default_max_retries", "max_retries"),
                              ("default_memory_mb", "max_memory_mb"),
                              ("default_cpu_seconds", "max_cpu_seconds")):
            if getattr(self, default) > getattr(self, most):
                raise ValueError(f"{default} ({getattr(self, default)}) is above {most} "
                                 f"({getattr(self, most)})")
        return self

    @model_validator(mode="before")
    @classmethod
    def _no_legacy_env(cls, data: Any) -> Any:
        legacy = _legacy_monitor_env(os.environ)
        if legacy:  # read no more: say so rather than silently ignore an operator's setting
            raise ValueError("no longer read: " + ", ".join(
                f"{k} (now {k[:len('SKILLEXEC_MONITOR')]}__{k[len('SKILLEXEC_MONITOR_'):]})"
                for k in legacy))
        return data

    def settings_of(self, name: str) -> Any:
        """A subsystem's settings: the same as ``getattr(config, name)`` (kept for callers
        that name the table)."""
        if name not in TABLES:
            raise KeyError(f"no settings table {name!r}; tables: {', '.join(TABLES)}")
        return getattr(self, name)

    @field_validator("skills_dir", "data_dir", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return Path(value).expanduser()
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("SKILLEXEC_CONFIG", "skillexec.toml"))
        return (init_settings, TomlConfigSettingsSource(settings_cls, toml_file), env_settings)

    def isolation_settings(self) -> IsolationSettings:
        """What the process and sandbox runners are told."""
        from skillexec.runtime.runners.settings import IsolationSettings
        from skillexec.security.policy import PermissionPolicy

        policy = PermissionPolicy(
            allowed=self.permissions_allowed,
            per_skill=MappingProxyType(dict(self.permissions_per_skill)),
            file_read_paths=tuple(p.resolve() for p in self.file_read_paths),
            file_write_paths=tuple(p.resolve() for p in self.file_write_paths))
        return IsolationSettings(
            default_memory_mb=self.default_memory_mb, max_memory_mb=self.max_memory_mb,
            default_cpu_seconds=self.default_cpu_seconds, max_cpu_seconds=self.max_cpu_seconds,
            zygote_idle_s=self.zygote_idle_s, zygote_max_attempts=self.zygote_max_attempts,
            zygote_import_timeout_s=self.zygote_import_timeout_s,
            zygote_memory_mb=self.zygote_memory_mb,
            max_output_bytes=self.max_output_bytes,
            max_artifact_bytes=min(self.max_artifact_bytes, self.max_artifacts_bytes),
            # RLIMIT_FSIZE: 256 MiB, or just past a smaller workspace quota, so that one file
            # stopped by it is counted over the quota (the quota's error, not the skill's EFBIG).
            max_file_size_mb=min(256, (self.max_workspace_bytes >> 20) + 1),
            allow_weaker_isolation=self.allow_weaker_isolation, permission_policy=policy,
            work_root=self.work_root.resolve())

    def isolation_policy(self) -> IsolationPolicy:
        """Which isolation level a skill runs at, and its execution settings clamped."""
        from skillexec.security.isolation_policy import IsolationPolicy

        return IsolationPolicy(
            default_isolation=self.default_isolation, trusted_skills=self.trusted_skills,
            max_timeout_s=self.max_timeout_s, max_retries=self.max_retries,
            default_memory_mb=self.default_memory_mb, max_memory_mb=self.max_memory_mb,
            default_cpu_seconds=self.default_cpu_seconds, max_cpu_seconds=self.max_cpu_seconds)

    def attempt_quotas(self) -> AttemptQuotas:
        from skillexec.runtime.environment import AttemptQuotas

        return AttemptQuotas(
            max_workspace_bytes=self.max_workspace_bytes,
            max_workspace_files=self.max_workspace_files, max_artifacts=self.max_artifacts,
            max_artifacts_bytes=self.max_artifacts_bytes,
            max_message_bytes=self.max_message_bytes)

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.db"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def work_root(self) -> Path:
        return self.data_dir / "work"


def load_config(**options: Any) -> EngineConfig:
    """Build an EngineConfig; a bad setting is a ConfigError that names it."""
    options = {k: v for k, v in options.items() if v is not None}
    if os.environ.get("SKILLEXEC_CONFIG") and not Path(os.environ["SKILLEXEC_CONFIG"]).is_file():
        raise ConfigError(f"SKILLEXEC_CONFIG names {os.environ['SKILLEXEC_CONFIG']!r}, "
                          "which is not a file")
    try:
        return EngineConfig(**options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if err["loc"]:
                where = ".".join(str(p) for p in err["loc"])
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{where}: {msg} (got {err.get('input')!r})")
            else:  # a check across settings: its message names the setting
                problems.append(str(err["msg"]).removeprefix("Value error, "))
        raise ConfigError("invalid setting " + "; ".join(problems),
                          details={"errors": problems}) from None
    except (ValueError, OSError) as exc:  # a malformed skillexec.toml
        raise ConfigError(f"cannot read the configuration: {exc}") from None
