"""The sections of EngineConfig's tree: the core ones (limits, isolation, permissions,
quotas, zygote, journal) as frozen pydantic models, and the subsystems' tables (monitor,
reliability, resources, pressure, cache, smart), whose settings classes live with their
subsystems and are validated here, so that an unknown key is named wherever it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from skillexec._config_former import Moved
from skillexec._config_tables import TABLES, former_monitor_env, table
from skillexec.config_urls import postgresql_url
from skillexec.errors import ConfigError
from skillexec.sessions import SessionsConfig
from skillexec.skills.model import Isolation, Permission, Skill

__all__ = ["SECTIONS", "TABLES", "AccessConfig", "AuditConfig", "DistributedConfig",
           "EnvironmentsConfig",
           "IsolationConfig", "JournalConfig", "LimitsConfig", "McpConfig", "Moved",
           "PermissionsConfig",
           "QuotasConfig", "SecurityConfig", "ServiceConfig", "SessionsConfig", "SkillOverride",
           "ZygoteConfig",
           "former_monitor_env", "table"]

if TYPE_CHECKING:
    from skillexec.environments.manager import EnvironmentManager

class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class LimitsConfig(_Section):
    """What one call or attempt may use, whatever a manifest or a call asks."""

    max_param_bytes: int = Field(default=1 << 20, ge=1,
                                 description="Largest accepted parameters (JSON).")
    max_output_bytes: int = Field(default=16 << 20, ge=1,
                                  description="Largest accepted output (JSON).")
    max_stream_bytes: int = Field(default=8 << 20, ge=4096,
                                  description="Most an isolated attempt may write to stdout, "
                                  "and to stderr, each: past it the attempt is stopped "
                                  "(output_too_large).")
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
    max_open_files: int = Field(default=1024, ge=16, le=1 << 20,
                                description="Files an isolated attempt may hold open at once.")

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
        from skillexec.skills.fields import SKILL_REF
        bad = sorted(v for v in value if not SKILL_REF.match(v))
        if bad:
            raise ValueError(f"not skill ids (exact ids only, no patterns): {', '.join(bad)}")
        return value


class PermissionsConfig(_Section):
    """What a manifest's permissions may be granted (a manifest is a request, never a grant)."""

    allowed: frozenset[Permission] = Field(
        default=frozenset({Permission.FILE_READ, Permission.FILE_WRITE}),
        description="Manifest permissions a skill may ask for (and gets if its manifest "
        "asks; a SKILL.md cannot ask: per_skill grants those).")
    per_skill: dict[str, frozenset[Permission]] = Field(
        default_factory=dict, description="Skill id -> further permissions granted to it.")
    file_read_paths: tuple[Path, ...] = Field(
        default=(), description="Readable by skills granted file_read (asked for by their "
        "manifest, or granted by per_skill).")
    file_write_paths: tuple[Path, ...] = Field(default=(),
                                               description="Writable with file_write.")
    script_env: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Skill id (or *) -> the environment variables a "
        "call may give that skill's scripts (run_script(env=...), skillexec script -e); none "
        "unless named here, and never one that changes what a program loads or runs.")

    @field_validator("script_env")
    @classmethod
    def _env_names(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        from skillexec.errors import ParameterError
        from skillexec.script_env import checked_env
        for skill_id, names in value.items():
            try:
                checked_env(dict.fromkeys(names, ""))
            except ParameterError as exc:
                raise ValueError(f"script_env[{skill_id!r}]: {exc.message}") from None
        return value


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
    # Made only while a warm parent has no call (see runners/_spare.py): calls one at a
    # time each skip the fork and the cgroup attach; overlapping calls fork as before.
    spare: bool = Field(default=True,
                        description="A warm parent keeps a child forked ahead of its next "
                                    "call, already in its cgroup slot.")
    preload: bool = Field(default=True,
                          description="A script skill's warm parent imports ahead what its "
                                      "scripts import at their top.")


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


class ServiceConfig(_Section):
    """The HTTP service (``skillexec serve``): limits, streams and operations."""

    max_body_bytes: int = Field(default=2 << 20, ge=1024,
                                description="Largest accepted request body (413 beyond).")
    cors_origins: tuple[str, ...] = Field(
        default=(), description="Origins a browser may call from (Py Copilot's frontend: "
        "http://localhost:5173); empty: no CORS headers.")
    metrics_auth: bool = Field(default=False, description="/metrics asks for a key "
                               "(any role but auditor) when true.")
    api_docs: bool = Field(default=False, description="Serve Swagger UI at /docs and ReDoc "
                           "at /redoc: they load their scripts from a CDN into the origin "
                           "where the dashboard keeps its key (/openapi.json is always "
                           "served).")
    allowed_hosts: tuple[str, ...] = Field(
        default=(), description="With --insecure-no-auth, host names a request may be "
        "addressed to (its Host header) besides localhost and IP addresses.")
    rate_per_s: float = Field(default=100.0, gt=0,
                              description="Requests per second per API key (token bucket).")
    rate_burst: int = Field(default=200, ge=1, description="Requests a key may make at once.")
    auth_failures_per_s: float = Field(
        default=0.5, gt=0, description="Failed key checks per second per client address "
        "(token bucket): past them 429 before any lookup, unless the key's id names a valid "
        "key.")
    auth_failures_burst: int = Field(default=30, ge=1, description="Failed key checks a "
                                     "client address may make at once.")
    auth_cache_s: float = Field(default=1.0, ge=0, description="A valid key's principal is "
                                "reused this long (0: the journal is asked every request); "
                                "a revocation through this service applies at once, one "
                                "made elsewhere within this time.")
    max_wait_s: float = Field(default=300.0, gt=0, description="Longest a request waits for "
                              "its result (wait=true); then 202 and the task's address.")
    max_batch: int = Field(default=100, ge=1, description="Tasks in one batch-execute.")
    subscriber_buffer: int = Field(default=64, ge=2, description="Events held for one slow "
                                   "stream subscriber before it drops to the latest state.")
    sse_ping_s: float = Field(default=15.0, gt=0, description="Keep-alive comment on idle "
                              "event streams.")
    max_streams_per_key: int = Field(default=100, ge=1, description="Event streams (SSE and "
                                     "WebSockets) one API key may hold open (429 beyond).")
    max_streams: int = Field(default=2000, ge=1, description="Event streams open in all "
                             "(429 beyond).")
    shutdown_grace_s: float = Field(default=10.0, ge=0, description="On SIGTERM, how long open "
                                    "requests may finish before they are cut.")
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After on 503 (overloaded "
                               "or draining).")


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
    build_from_source: bool = Field(default=False, description="Also build packages that "
                                    "have no wheel (their build code runs unconfined).")
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
            no_index=self.no_index, offline=self.offline,
            build_from_source=self.build_from_source, timeout_s=self.install_timeout_s))


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


class AccessConfig(_Section):
    """What principals may be granted, beyond their role and their key's grants."""

    role_permissions: dict[str, frozenset[Permission]] = Field(
        default_factory=dict, description="Role -> the most manifest permissions a skill "
        "run by a principal of that role may be granted (a role not listed: no ceiling).")

    @field_validator("role_permissions")
    @classmethod
    def _roles(cls, value: dict[str, frozenset[Permission]]) -> dict[str, frozenset[Permission]]:
        from skillexec.security.principals import Role
        known = {r.value for r in Role}
        bad = sorted(set(value) - known)
        if bad:
            raise ValueError(f"unknown role(s) {', '.join(bad)}; roles: "
                             f"{', '.join(sorted(known))}")
        return value


class AuditConfig(_Section):
    """The hash-chained audit log in the journal, and its signed checkpoints."""

    enabled: bool = Field(default=True, description="Keep the audit log.")
    checkpoint_every: int = Field(
        default=1000, ge=1, description="Sign the chain's head into "
        "<data_dir>/audit/checkpoints.jsonl every this many records (and at shutdown).")
    task_submissions: bool = Field(
        default=False, description="A task.submitted record at acceptance too (off: a "
        "task's one record is its end, which holds its submission; refusals always).")


class SecurityConfig(_Section):
    """Data protection: encryption at rest, output filtering, retention."""

    encryption: bool = Field(default=False, description="Seal parameters, outputs, errors' "
                             "text and artifact bytes with AES-256-GCM (needs a master key).")
    master_key_file: Path | None = Field(
        default=None, description="A file (mode 0600) holding the 32-byte master key "
        "(raw, base64 or hex); else SKILLEXEC_MASTER_KEY.")
    redact: bool = Field(default=True, description="Mask secrets in outputs, error and "
                         "progress messages.")
    redact_exempt_skills: frozenset[str] = Field(
        default=frozenset(), description="Skill ids whose outputs are not masked (the "
        "operator's choice; a manifest cannot ask for it).")
    skill_secrets: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="Skill id -> names of the engine's environment "
        "variables handed to that skill and its scripts (context.secrets; the environment "
        "of an isolated attempt or a script) and masked wherever they appear.")
    retention_days: float | None = Field(
        default=None, gt=0, description="Purge tasks (and their artifacts) older than this, "
        "periodically (None: keep).")
    retention_interval_s: float = Field(default=3600.0, gt=0,
                                        description="How often the retention purge runs.")

    def secret_values(self, environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """Skill id -> {name: value} of its secrets, read from ``environ`` once (at the
        engine's construction); a variable that is not set is an error naming it."""
        out: dict[str, dict[str, str]] = {}
        for skill_id, names in self.skill_secrets.items():
            for name in names:
                if name.upper() == "SKILLEXEC_MASTER_KEY":
                    raise ConfigError("[security] skill_secrets: the master key is never "
                                      "handed to a skill", code="invalid_config")
                if name not in environ:
                    raise ConfigError(f"[security] skill_secrets: {skill_id!r} is to get "
                                      f"{name}, which is not set in the environment",
                                      code="invalid_config")
            out[skill_id] = {name: environ[name] for name in names}
        return out


class DistributedConfig(_Section):
    """Distributed mode (``broker_url`` set): claims, leases and workers in PostgreSQL."""

    database_url: str | None = Field(
        default=None, description="PostgreSQL holding claims, leases and workers "
        "(postgresql://...); required with a broker.")

    _postgresql = field_validator("database_url")(postgresql_url)
    queue: str = Field(default="skillexec", min_length=1, max_length=200,
                       pattern=r"^[A-Za-z0-9_.:-]+$", description="Broker queue tasks go to.")
    lease_s: float = Field(default=15.0, gt=0, description="A claim not renewed for this long "
                           "is the reaper's (its worker is presumed dead).")
    heartbeat_s: float = Field(default=2.0, gt=0, description="Lease renewal period (under "
                               "half of lease_s).")
    reconcile_after_s: float = Field(
        default=30.0, gt=0, description="A queued task nobody claimed for this long is "
        "published again (a lost message).")
    sweep_interval_s: float = Field(default=2.0, gt=0,
                                    description="How often a worker runs reaper/reconciler.")
    hand_back_pause_s: float = Field(
        default=0.25, gt=0, le=60, description="A claimed task that could not start on its "
        "worker (its skill is not there) is published again after this, doubled at each "
        "hand-back and jittered by ±50 %; after 8 it ends failed.")
    shutdown_grace_s: float = Field(default=30.0, ge=0, description="On SIGTERM, how long "
                                    "running tasks may finish before they are handed back.")
    claim_ahead_s: float = Field(
        default=1.0, ge=0, description="A worker claims of a message's ids its free slots "
        "and those that would start within this long behind its running tasks (by their "
        "mean duration there); it publishes the rest again for a worker with room.")
    ids_per_message: int = Field(
        default=64, ge=1, le=1000, description="Most task ids one broker message rings for "
        "(the ids submitted in one event-loop turn go together; 1: a message per task).")

    @model_validator(mode="after")
    def _renewed_within_a_lease(self) -> DistributedConfig:
        # A worker that has not renewed for half a lease fences itself (stops claiming,
        # cancels its idempotent runs), and the reaper takes back what was not renewed for
        # a lease: renewals any sparser, and healthy runs are ended or run twice.
        if self.heartbeat_s >= self.lease_s / 2:
            raise ValueError(f"heartbeat_s ({self.heartbeat_s:g}) must be under half of "
                             f"lease_s ({self.lease_s:g}): leases would run out between "
                             "renewals")
        return self


SECTIONS: Mapping[str, type[BaseModel]] = MappingProxyType({
    "limits": LimitsConfig, "isolation": IsolationConfig, "permissions": PermissionsConfig,
    "quotas": QuotasConfig, "zygote": ZygoteConfig, "journal": JournalConfig,
    "environments": EnvironmentsConfig, "access": AccessConfig, "audit": AuditConfig,
    "security": SecurityConfig, "sessions": SessionsConfig, "distributed": DistributedConfig,
    "service": ServiceConfig, "mcp": McpConfig})
