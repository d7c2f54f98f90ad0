"""skillexec: a skill execution engine for AI assistants.

Load skills in the formats people already have, validate their parameters, queue them by
priority, run them isolated and within limits, retry what is transient, and keep a journal
of everything.
"""

from __future__ import annotations

from skillexec._run import run
from skillexec.config import EngineConfig
from skillexec.engine import SkillExecutionEngine
from skillexec.errors import (
    CancelledError,
    ConfigError,
    DependencyError,
    ErrorInfo,
    ErrorSeverity,
    ErrorType,
    ExecutionError,
    ManifestError,
    NetworkError,
    ParameterError,
    PermanentError,
    ResourceError,
    SkillExecError,
    SkillNotFoundError,
    SkillPermissionError,
    SkillTimeoutError,
    TransientError,
)
from skillexec.middleware import Middleware
from skillexec.runtime.context import SkillContext
from skillexec.skills.decorator import skill
from skillexec.skills.model import Isolation, Permission, Skill
from skillexec.task import ArtifactRef, ExecutionResult, TaskInfo, TaskStatus

__all__ = [
    "ArtifactRef",
    "CancelledError",
    "ConfigError",
    "DependencyError",
    "EngineConfig",
    "ErrorInfo",
    "ErrorSeverity",
    "ErrorType",
    "ExecutionError",
    "ExecutionResult",
    "Isolation",
    "ManifestError",
    "Middleware",
    "NetworkError",
    "ParameterError",
    "PermanentError",
    "Permission",
    "ResourceError",
    "Skill",
    "SkillContext",
    "SkillExecError",
    "SkillExecutionEngine",
    "SkillNotFoundError",
    "SkillPermissionError",
    "SkillTimeoutError",
    "TaskInfo",
    "TaskStatus",
    "TransientError",
    "run",
    "skill",
]

__version__ = "0.1.0"
