"""EngineConfig: every engine setting in one immutable tree.

The top level holds the settings of the call pipeline itself, flat (``max_concurrency``);
everything else is a typed section: the core ones (``config.limits.max_memory_mb``,
``config.isolation.trusted_skills``, ``config.quotas``, ``config.zygote``, ``config.journal``,
``config.permissions``) and the subsystems' (``config.monitor.max_skills``,
``config.cache.default_ttl_s``, ...). One loader reads, in order of precedence: keyword
options, a ``skillexec.toml`` (in the working directory, or the file named by
``SKILLEXEC_CONFIG``; a section is a ``[table]``), then the environment, in one scheme:
``SKILLEXEC_<SETTING>`` for the top level, ``SKILLEXEC_<SECTION>__<KEY>`` for a key of a
section (``SKILLEXEC_MONITOR__LOG_LEVEL=DEBUG``) or ``SKILLEXEC_<SECTION>`` for a whole
section as JSON. An unknown key, at any level, is an error that names it.

The flat names of earlier releases (``default_memory_mb``, ``zygote_idle_s``, ``journal =
false``, ``SKILLEXEC_TRUSTED_SKILLS``...) are still read, from every source, and put in their
section; ``config.<old name>`` still reads the value (see ``FORMER_NAMES``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from skillexec._config_errors import config_error
from skillexec._config_former import FormerEnv, Placed, placed
from skillexec._config_storage import StorageViews
from skillexec.config_sections import (
    SECTIONS,
    TABLES,
    AccessConfig,
    AuditConfig,
    DistributedConfig,
    EnvironmentsConfig,
    IsolationConfig,
    JournalConfig,
    LimitsConfig,
    McpConfig,
    Moved,
    PermissionsConfig,
    QuotasConfig,
    SecurityConfig,
    ServiceConfig,
    SessionsConfig,
    SkillOverride,
    ZygoteConfig,
    former_monitor_env,
    table,
)
from skillexec.config_urls import broker_url as checked_broker_url
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
    from skillexec.sessions import SessionStore

__all__ = ["FORMER_NAMES", "SECTIONS", "TABLES", "EngineConfig", "load_config"]


class EngineConfig(StorageViews, BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SKILLEXEC_", env_nested_delimiter="__", frozen=True, extra="forbid",
        validate_default=True, ignored_types=(Moved,))

    # Every default is given as ``default=``: a type checker without pydantic's plugin reads
    # the fields through dataclass_transform, which sees only that keyword; with a positional
    # default, ``EngineConfig(max_concurrency=3)`` was an error under ``mypy --strict``.

    # where things are
    skills_dir: Path | None = Field(
        default=None, description="Folder of skill folders to load at start.")
    data_dir: Path = Field(
        default=Path(".skillexec"), description="Journal and artifacts live here.")
    work_dir: Path | None = Field(
        default=None, description="Calls' workspaces and sessions' folders; default: a folder "
        "of the user's own under /var/tmp, one per data dir, with no project above it.")

    # scheduling
    max_concurrency: int = Field(
        default=1000, ge=1, description="Tasks running at once, all runners.")
    max_queue_size: int = Field(
        default=100_000, ge=1, description="Queued tasks before submit refuses.")
    queue_aging_s: float = Field(
        default=10.0, gt=0,
        description="A waiting task gains one priority level per this many seconds.")
    default_priority: int = Field(default=5, ge=0, le=9)
    default_timeout_s: float = Field(
        default=60.0, gt=0, description="When neither call nor skill say.")
    default_max_retries: int = Field(
        default=2, ge=0, le=100, description="Retries of retryable errors.")
    retry_base_delay_s: float = Field(default=0.05, ge=0, description="First retry's backoff.")
    retry_max_delay_s: float = Field(default=5.0, ge=0, description="Backoff cap.")
    thread_pool_size: int = Field(
        default=32, ge=1, description="Threads for synchronous inline skills.")

    # timeouts (core): timeout_s is per attempt; this bounds a call over all its attempts
    default_deadline_s: float | None = Field(
        default=None, gt=0, description="Time a call may take over all attempts (None: no limit).")

    # calls
    coerce_parameters: bool = Field(default=True, description="'3'->3, 'true'->true, 'a,b'->[..].")
    keep_workdirs: bool = Field(
        default=False, description="Keep each attempt's folder for debugging.")
    strict_manifests: bool = Field(
        default=False, description="SKILL.md per the spec, no extra keys.")
    recover: bool = Field(default=True, description="At start, resume or close the tasks a "
                          "stopped engine left unfinished (the CLI's one-shot commands do not).")
    interrupt_grace_s: float = Field(default=2.0, ge=0, description="On Ctrl-C/SIGTERM, how long "
                                     "running calls may finish before they are cancelled.")

    # core sections
    limits: LimitsConfig = Field(default_factory=LimitsConfig,
                                 description="What one call or attempt may use.")
    isolation: IsolationConfig = Field(default_factory=IsolationConfig,
                                       description="Runner levels and trusted skills.")
    permissions: PermissionsConfig = Field(default_factory=PermissionsConfig,
                                           description="What manifests may be granted.")
    quotas: QuotasConfig = Field(default_factory=QuotasConfig,
                                 description="What one attempt may make.")
    zygote: ZygoteConfig = Field(default_factory=ZygoteConfig,
                                 description="Warm parent processes.")
    journal: JournalConfig = Field(default_factory=JournalConfig,
                                   description="The journal: SQLite, or PostgreSQL.")
    environments: EnvironmentsConfig = Field(
        default_factory=EnvironmentsConfig, description="Skill environments' installs.")
    skills: dict[str, SkillOverride] = Field(
        default_factory=dict, description="[skills.<id>]: per-skill overrides (entry).")
    access: AccessConfig = Field(default_factory=AccessConfig,
                                 description="Permission ceilings per role.")
    audit: AuditConfig = Field(default_factory=AuditConfig,
                               description="The audit log and its checkpoints.")
    security: SecurityConfig = Field(default_factory=SecurityConfig,
                                     description="Encryption at rest, redaction, retention.")
    sessions: SessionsConfig = Field(default_factory=SessionsConfig,
                                     description="Script sessions' TTL and quotas.")
    broker_url: str | None = Field(
        default=None, pattern=r"^(redis|rediss|amqp|amqps)://",
        description="Distributed mode: the Celery broker (redis://, amqp://); None: embedded.")
    distributed: DistributedConfig = Field(default_factory=DistributedConfig,
                                           description="Claims, leases, workers.")
    service: ServiceConfig = Field(default_factory=ServiceConfig,
                                   description="The HTTP service (skillexec serve).")
    mcp: McpConfig = Field(default_factory=McpConfig, description="The MCP server.")

    # subsystems' sections (README: "Configuration" lists their keys)
    monitor: Annotated[MonitorSettings, table("monitor")] = Field(
        default_factory=MonitorSettings, description="ExecutionMonitor: statistics, events, "
        "logs, tracing, alerts.")
    reliability: Annotated[ReliabilitySettings, table("reliability")] = Field(
        default_factory=ReliabilitySettings, description="Circuit breakers, retry budget, "
        "backoff, dead letters.")
    resources: Annotated[ResourceLimits, table("resources")] = Field(
        default_factory=ResourceLimits, description="Concurrency, rates, queue capacity, call "
        "limits.")
    pressure: Annotated[PressureSettings, table("pressure")] = Field(
        default_factory=PressureSettings, description="Admission under system pressure.")
    cache: Annotated[CacheSettings, table("cache")] = Field(
        default_factory=CacheSettings, description="Result cache and single-flight.")
    smart: Annotated[SmartSettings, table("smart")] = Field(
        default_factory=SmartSettings, description="Prediction and adaptive optimization.")

    # the flat names of earlier releases, read through (FORMER_NAMES maps them)
    max_param_bytes = Moved[int]("limits")
    max_output_bytes = Moved[int]("limits")
    max_artifact_bytes = Moved[int]("limits")
    default_memory_mb = Moved[int]("limits")
    max_memory_mb = Moved[int]("limits")
    default_cpu_seconds = Moved[float]("limits")
    max_cpu_seconds = Moved[float]("limits")
    max_timeout_s = Moved[float]("limits")
    max_retries = Moved[int]("limits")
    default_isolation = Moved[Isolation]("isolation", "default_level")
    allow_weaker_isolation = Moved[bool]("isolation", "allow_weaker")
    trusted_skills = Moved[frozenset[str]]("isolation")
    permissions_allowed = Moved[frozenset[Permission]]("permissions", "allowed")
    permissions_per_skill = Moved[dict[str, frozenset[Permission]]]("permissions", "per_skill")
    file_read_paths = Moved[tuple[Path, ...]]("permissions")
    file_write_paths = Moved[tuple[Path, ...]]("permissions")
    max_workspace_bytes = Moved[int]("quotas")
    max_workspace_files = Moved[int]("quotas")
    max_artifacts = Moved[int]("quotas")
    max_artifacts_bytes = Moved[int]("quotas")
    max_message_bytes = Moved[int]("quotas")
    zygote_idle_s = Moved[float]("zygote", "idle_s")
    zygote_max_attempts = Moved[int]("zygote", "max_attempts")
    zygote_import_timeout_s = Moved[float]("zygote", "import_timeout_s")
    zygote_memory_mb = Moved[int]("zygote", "memory_mb")
    journal_synchronous = Moved[Literal["normal", "full"]]("journal", "synchronous")
    journal_max_batch = Moved[int]("journal", "max_batch")
    journal_url = Moved[str | None]("journal", "url")  # also SKILLEXEC_JOURNAL_URL

    @model_validator(mode="before")
    @classmethod
    def _former_names(cls, data: Any) -> Any:
        legacy = former_monitor_env(os.environ)
        if legacy:  # read no more: say so rather than silently ignore an operator's setting
            raise ValueError("no longer read: " + ", ".join(
                f"{k} (now {k[:len('SKILLEXEC_MONITOR')]}__{k[len('SKILLEXEC_MONITOR_'):]})"
                for k in legacy))
        return _placed(data) if isinstance(data, Mapping) else data

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> EngineConfig:
        for default, most in (("default_timeout_s", "max_timeout_s"),
                              ("default_max_retries", "max_retries")):
            if getattr(self, default) > getattr(self.limits, most):
                raise ValueError(f"{default} ({getattr(self, default)}) is above {most} "
                                 f"({getattr(self.limits, most)}) (limits.{most})")
        return self

    def digest(self) -> str:
        """SHA-256 of every setting (as JSON): the audit's note of which configuration ran,
        so that a change shows without the values (which may hold secrets)."""
        import hashlib
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    def with_(self, **changes: Any) -> Self:
        """A copy with ``changes`` (any name, former flat ones too), validated like input;
        unlike ``model_copy(update=...)``, which checks nothing."""
        data: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return type(self).model_validate(data)

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        """pydantic's copy; an update that names a former flat setting is placed in its
        section and validated (``with_``), rather than set where nothing reads it."""
        if update and any(k in FORMER_NAMES or k == "journal" for k in update):
            return self.with_(**update)
        return super().model_copy(update=update, deep=deep)

    def settings_of(self, name: str) -> Any:
        """A section: the same as ``getattr(config, name)`` (kept for callers that name it)."""
        if name not in TABLES and name not in SECTIONS:
            raise KeyError(f"no settings section {name!r}; sections: "
                           f"{', '.join([*SECTIONS, *TABLES])}")
        return getattr(self, name)

    _broker = field_validator("broker_url", mode="before")(checked_broker_url)

    @field_validator("skills_dir", "data_dir", "work_dir", mode="before")
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
        # Former flat names are put in their sections source by source, so that precedence
        # holds between a former name in one source and the current one in another.
        return tuple(Placed(settings_cls, source, _placed) for source in (
            init_settings, TomlConfigSettingsSource(settings_cls, toml_file), env_settings,
            FormerEnv(settings_cls, FORMER_NAMES)))

    def isolation_settings(self) -> IsolationSettings:
        """What the process and sandbox runners are told."""
        from skillexec.runtime.runners.settings import IsolationSettings
        from skillexec.security.policy import PermissionPolicy

        p, lim, q, z = self.permissions, self.limits, self.quotas, self.zygote
        policy = PermissionPolicy(
            allowed=p.allowed, per_skill=MappingProxyType(dict(p.per_skill)),
            file_read_paths=tuple(path.resolve() for path in p.file_read_paths),
            file_write_paths=tuple(path.resolve() for path in p.file_write_paths),
            script_env=MappingProxyType({k: frozenset(v) for k, v in p.script_env.items()}))
        return IsolationSettings(
            default_memory_mb=lim.default_memory_mb, max_memory_mb=lim.max_memory_mb,
            default_cpu_seconds=lim.default_cpu_seconds, max_cpu_seconds=lim.max_cpu_seconds,
            zygote_idle_s=z.idle_s, zygote_max_attempts=z.max_attempts,
            zygote_import_timeout_s=z.import_timeout_s, zygote_memory_mb=z.memory_mb,
            zygote_spare=z.spare, zygote_preload=z.preload, max_open_files=lim.max_open_files,
            max_output_bytes=lim.max_output_bytes, max_stdout_bytes=lim.max_stream_bytes,
            max_artifact_bytes=min(lim.max_artifact_bytes, q.max_artifacts_bytes),
            # RLIMIT_FSIZE: 256 MiB, or just past a smaller workspace quota, so that one file
            # stopped by it is counted over the quota (the quota's error, not the skill's EFBIG).
            max_file_size_mb=min(256, (q.max_workspace_bytes >> 20) + 1),
            allow_weaker_isolation=self.isolation.allow_weaker, permission_policy=policy,
            work_root=self.work_root, data_dir=self.data_dir.resolve())

    def isolation_policy(self) -> IsolationPolicy:
        """Which isolation level a skill runs at, and its execution settings clamped."""
        from skillexec.security.isolation_policy import IsolationPolicy

        lim = self.limits
        return IsolationPolicy(
            default_isolation=self.isolation.default_level,
            trusted_skills=self.isolation.trusted_skills,
            max_timeout_s=lim.max_timeout_s, max_retries=lim.max_retries,
            default_memory_mb=lim.default_memory_mb, max_memory_mb=lim.max_memory_mb,
            default_cpu_seconds=lim.default_cpu_seconds, max_cpu_seconds=lim.max_cpu_seconds)

    def session_store(self) -> SessionStore:
        """The script sessions of this data directory (DESIGN §3.5)."""
        from skillexec.sessions import SessionStore

        return SessionStore(root=self.work_root / ".sessions",
                            records=self.data_dir / "sessions", settings=self.sessions)

    def attempt_quotas(self) -> AttemptQuotas:
        from skillexec.runtime.environment import AttemptQuotas

        q = self.quotas
        return AttemptQuotas(
            max_workspace_bytes=q.max_workspace_bytes,
            max_workspace_files=q.max_workspace_files, max_artifacts=q.max_artifacts,
            max_artifacts_bytes=q.max_artifacts_bytes, max_message_bytes=q.max_message_bytes)

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def work_root(self) -> Path:
        # Absolute: it becomes a script's HOME and TMPDIR (--data-dir data gave them
        # "data/work/...", which the script then resolved inside its own workspace).
        if self.work_dir is not None:
            return self.work_dir.resolve()
        from skillexec.runtime.work_root import default_work_root

        return default_work_root(self.data_dir)


# former flat name -> (section, key); `journal` was the flag, now `journal.enabled`
FORMER_NAMES: Mapping[str, tuple[str, str]] = MappingProxyType({
    name: (v.section, v.key) for name, v in vars(EngineConfig).items() if isinstance(v, Moved)})

_FORMERLY: dict[tuple[str, ...], str] = {
    (section, key): old for old, (section, key) in FORMER_NAMES.items()}
_FORMERLY[("journal", "enabled")] = "journal"
del _FORMERLY[("journal", "url")]  # journal_url: the name the distributed docs use


def _placed(data: Mapping[str, Any]) -> dict[str, Any]:
    return placed(data, former=FORMER_NAMES, sections=SECTIONS)


def load_config(**options: Any) -> EngineConfig:
    """Build an EngineConfig; a bad setting is a ConfigError that names it."""
    options = {k: v for k, v in options.items() if v is not None}
    if os.environ.get("SKILLEXEC_CONFIG") and not Path(os.environ["SKILLEXEC_CONFIG"]).is_file():
        raise ConfigError(f"SKILLEXEC_CONFIG names {os.environ['SKILLEXEC_CONFIG']!r}, "
                          "which is not a file")
    try:
        return EngineConfig(**options)
    except (ValueError, OSError) as exc:  # ValidationError too; a malformed skillexec.toml
        raise config_error(exc, formerly=_FORMERLY) from None
