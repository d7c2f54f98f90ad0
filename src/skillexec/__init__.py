"""skillexec: a skill execution engine for AI assistants.

Load skills in the formats people already have, validate their parameters, queue them by
priority, run them isolated and within limits, retry what is transient, and keep a journal
of everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        TaskNotFoundError,
        TransientError,
        WaitTimeoutError,
    )
    from skillexec.events import TaskEvent
    from skillexec.middleware import Middleware
    from skillexec.runtime.context import SkillContext
    from skillexec.services import Services
    from skillexec.skills.decorator import skill
    from skillexec.skills.model import Isolation, Permission, Skill
    from skillexec.task import ArtifactRef, ExecutionResult, TaskInfo, TaskStatus
    from skillexec.workspace_files import WorkspaceFile

# Public names are imported on first use (PEP 562): a skill that only needs
# ``skillexec.TransientError`` does not pay for the engine, and neither do the warm
# zygotes that the isolated runners fork from.
_WHERE = {
    "run": "skillexec._run",
    "EngineConfig": "skillexec.config",
    "SkillExecutionEngine": "skillexec.engine",
    "Middleware": "skillexec.middleware",
    "Services": "skillexec.services",
    "SkillContext": "skillexec.runtime.context",
    "skill": "skillexec.skills.decorator",
    "Isolation": "skillexec.skills.model",
    "Permission": "skillexec.skills.model",
    "Skill": "skillexec.skills.model",
    "ArtifactRef": "skillexec.task",
    "ExecutionResult": "skillexec.task",
    "TaskEvent": "skillexec.events",  # what engine.events() yields
    "TaskInfo": "skillexec.task",
    "TaskStatus": "skillexec.task",
    "WorkspaceFile": "skillexec.workspace_files",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _WHERE.get(name)
    if module is None and name in __all__:
        module = "skillexec.errors"
    if module is None:
        raise AttributeError(f"module 'skillexec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "Services",
    "Skill",
    "SkillContext",
    "SkillExecError",
    "SkillExecutionEngine",
    "SkillNotFoundError",
    "SkillPermissionError",
    "SkillTimeoutError",
    "TaskEvent",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskStatus",
    "TransientError",
    "WaitTimeoutError",
    "WorkspaceFile",
    "run",
    "skill",
]

__version__ = "0.1.0"
