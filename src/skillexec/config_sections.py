"""The sections of EngineConfig's tree: the core ones (limits, isolation, permissions,
quotas, zygote, journal) as frozen pydantic models, and the subsystems' tables (monitor,
reliability, resources, pressure, cache, smart), whose settings classes live with their
subsystems and are validated here, so that an unknown key is named wherever it is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from skillexec.errors import ConfigError
from skillexec.monitoring.settings import MonitorSettings
from skillexec.optimization.settings import CacheSettings
from skillexec.reliability.settings import ReliabilitySettings
from skillexec.resources.limits import PressureSettings, ResourceLimits
from skillexec.sessions import SessionsConfig
from skillexec.skills.model import Isolation, Permission, Skill
from skillexec.smart.settings import SmartSettings

__all__ = ["SECTIONS", "TABLES", "EnvironmentsConfig", "IsolationConfig", "JournalConfig",
           "LimitsConfig", "McpConfig", "Moved", "PermissionsConfig", "QuotasConfig",
           "SessionsConfig", "SkillOverride", "ZygoteConfig", "former_monitor_env", "table"]

if TYPE_CHECKING:
    from skillexec.environments.manager import EnvironmentManager

T = TypeVar("T")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class LimitsConfig(_Section):
    """What one call or attempt may use, whatever a manifest or a call asks."""

    max_param_bytes: int = Field(default=1 << 20, ge=1,
                                 description="Largest accepted parameters (JSON).")
    max_output_bytes: int = Field(default=16 << 20, ge=1,
                                  description="Largest accepted output (JSON).")
    max_artifact_bytes: int = Field(default=100 << 20, ge=1,
                                    description="Largest single artifact.")
    default_memory_mb: int = Field(default=512, ge=16,
                                   description="Memory an isolated attempt may use.")
    max_memory_mb: int = Field(default=4096, ge=16, description="Most a manifest may ask for.")
    default_cpu_seconds: float = Field(default=60.0, gt=0,
                                       description="CPU time an attempt may use.")
    max_cpu_seconds: float = Field(default=600.0, gt=0,
                                   description="Most a manifest may ask for.")
    max_timeout_s: float = Field(default=3600.0, gt=0, description="Longest an attempt may "
                                 "run, whatever a manifest or a call asks.")
    max_retries: int = Field(default=10, ge=0, le=100, description="Most retries a manifest "
                             "or a call may ask for.")

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> LimitsConfig:
        for default, most in (("default_memory_mb", "max_memory_mb"),
                              ("default_cpu_seconds", "max_cpu_seconds")):
            if getattr(self, default) > getattr(self, most):
                raise ValueError(f"{default} ({getattr(self, default)}) is above {most} "
                                 f"({getattr(self, most)})")
        return self


class IsolationConfig(_Section):
    """Which runner a folder skill gets, and what happens where a mechanism is missing."""

    default_level: Isolation = Field(
        default=Isolation.SANDBOX,
        description="Runner for folder skills whose manifest does not say.")
    allow_weaker: bool = Field(
        default=False, description="Run a skill even where a sandbox mechanism is missing.")
    trusted_skills: frozenset[str] = Field(
        default=frozenset(), description="Folder skill ids (exact, no patterns) that may ask "
        "for weaker isolation than default_level.")

    @field_validator("trusted_skills")
    @classmethod
    def _skill_ids(cls, value: frozenset[str]) -> frozenset[str]:
        from skillexec.skills.fields import SKILL_ID
        bad = sorted(v for v in value if not SKILL_ID.match(v))
        if bad:
            raise ValueError(f"not skill ids (exact ids only, no patterns): {', '.join(bad)}")
        return value


class PermissionsConfig(_Section):
    """What a manifest's permissions may be granted (a manifest is a request, never a grant)."""

    allowed: frozenset[Permission] = Field(
        default=frozenset({Permission.FILE_READ, Permission.FILE_WRITE}),
        description="Manifest permissions granted to every skill.")
    per_skill: dict[str, frozenset[Permission]] = Field(
        default_factory=dict, description="Skill id -> further permissions granted to it.")
    file_read_paths: tuple[Path, ...] = Field(default=(), description="Readable with file_read.")
    file_write_paths: tuple[Path, ...] = Field(default=(),
                                               description="Writable with file_write.")


class QuotasConfig(_Section):
    """What one attempt may make."""

    max_workspace_bytes: int = Field(
        default=1 << 30, ge=1 << 20, description="Bytes in an attempt's workspace "
        "(RLIMIT_FSIZE per file, counted at the end).")
    max_workspace_files: int = Field(
        default=100_000, ge=1, description="Files and folders in an attempt's workspace.")
    max_artifacts: int = Field(default=1000, ge=0,
                               description="Artifacts one attempt may save.")
    max_artifacts_bytes: int = Field(
        default=256 << 20, ge=1, description="Total bytes of the artifacts one attempt "
        "may save.")
    max_message_bytes: int = Field(
        default=64 << 10, ge=256, description="A progress or log message past this (UTF-8) "
        "is cut, with a marker.")


class ZygoteConfig(_Section):
    """The warm parent process each isolated skill is forked from."""

    idle_s: float = Field(default=300.0, gt=0, description="Idle warm parents are stopped.")
    max_attempts: int = Field(default=1000, ge=1,
                              description="A warm parent is recycled after.")
    import_timeout_s: float = Field(
        default=30.0, gt=0,
        description="A skill whose import takes longer fails (that skill only).")
    memory_mb: int = Field(default=2048, ge=64, description="A warm parent's own memory.")


class JournalConfig(_Section):
    """The journal of every task: the embedded SQLite file, or a shared PostgreSQL."""

    url: str | None = Field(
        default=None,
        description="Unset: the embedded SQLite file; postgresql://user@host/db: a journal "
                    "shared by every node; sqlite:///path: a SQLite file elsewhere.")
    pool_size: int = Field(default=4, ge=1, le=100,
                           description="PostgreSQL: connections for reads, at most.")
    connect_timeout_s: float = Field(default=10.0, gt=0,
                                     description="PostgreSQL: a connection attempt gives up.")

    enabled: bool = Field(default=True,
                          description="Record every task in the journal (off: benchmarks only).")
    synchronous: Literal["normal", "full"] = Field(
        default="normal",
        description="SQLite synchronous: normal survives kill -9, full power loss.")
    max_batch: int = Field(default=2000, ge=1,
                           description="Records per group commit at most.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from skillexec.storage.url import check
        return check(value)

    def __bool__(self) -> bool:
        # `if config.journal:` meant "journal on" when it was a flat bool: it still does
        return self.enabled


class EnvironmentsConfig(_Section):
    """How skill environments are installed (DESIGN §3.6): ``<data_dir>/envs``."""

    installer: Literal["auto", "uv", "pip"] = Field(
        default="auto", description="auto: uv where it is installed, else pip.")
    index_url: str | None = Field(default=None, description="Package index (None: the "
                                  "installer's own default or its environment variables).")
    find_links: tuple[str, ...] = Field(default=(), description="Folders or pages of wheels "
                                        "to install from as well.")
    no_index: bool = Field(default=False, description="Only find_links, never an index.")
    offline: bool = Field(default=False, description="uv: install from its cache only.")
    install_timeout_s: float = Field(default=600.0, gt=0,
                                     description="One environment's install at most.")

    def manager(self, data_dir: Path, *, publish: Callable[[Skill], None] | None = None,
                ) -> EnvironmentManager:
        """The environments under ``<data_dir>/envs``, installed as this section says."""
        from skillexec.environments.installer import InstallSettings
        from skillexec.environments.manager import EnvironmentManager
        return EnvironmentManager(Path(data_dir) / "envs", publish=publish,
                                  settings=InstallSettings(
            installer=self.installer, index_url=self.index_url, find_links=self.find_links,
            no_index=self.no_index, offline=self.offline, timeout_s=self.install_timeout_s))


class McpConfig(_Section):
    """What the MCP server publishes and how it answers."""

    include: tuple[str, ...] = Field(default=(), description="Skill id globs published as "
                                     "tools (empty: every skill).")
    exclude: tuple[str, ...] = Field(default=(), description="Skill id globs never published.")
    tool_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,16}$",
                             description="Put before every skill's tool name.")
    search_threshold: int = Field(default=64, ge=1, description="More skills than this: a "
                                  "search_skills tool is listed too.")
    max_text_chars: int = Field(default=20_000, ge=200, description="A result's text "
                                "rendering is cut past this (with a note).")
    inline_image_max_bytes: int = Field(default=256 << 10, ge=0, description="Image "
                                        "artifacts up to this size also go inline.")
    heartbeat_s: float = Field(default=10.0, gt=0, description="A progress notification at "
                               "least this often while a call with a progress token runs.")


class SkillOverride(_Section):
    """``[skills.<id>]``: what the operator says of one skill without editing its folder."""

    entry: str | None = Field(default=None, description="The entry, as 'file.py:function' or "
                              "'file.py:Class.method' (the class made without arguments, "
                              "the method called with the parameters).")


SECTIONS: Mapping[str, type[BaseModel]] = MappingProxyType({
    "limits": LimitsConfig, "isolation": IsolationConfig, "permissions": PermissionsConfig,
    "quotas": QuotasConfig, "zygote": ZygoteConfig, "journal": JournalConfig,
    "environments": EnvironmentsConfig, "sessions": SessionsConfig,
    "mcp": McpConfig})


class Moved(Generic[T]):
    """A flat setting of earlier releases, now a key of a section: reading
    ``config.<old>`` reads ``config.<section>.<key>``, and the old name is accepted as input
    (keyword, skillexec.toml, environment) and put in its place."""

    def __init__(self, section: str, key: str = "") -> None:
        self.section = section
        self.key = key

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = self.key or name

    @overload
    def __get__(self, obj: None, owner: type) -> Moved[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.section), self.key)


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


