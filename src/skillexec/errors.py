"""The exception tree: one root, each error with a stable code, an ErrorType and a retry hint.

Every failure a task can end with is described by an :class:`ErrorInfo`, the plain,
JSON-friendly record stored in the journal and returned in ``ExecutionResult.error``.
Exceptions raised inside the engine carry the same fields so that converting between the two
is lossless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "CancelledError",
    "ConfigError",
    "DependencyError",
    "ErrorInfo",
    "ErrorSeverity",
    "ErrorType",
    "ExecutionError",
    "ManifestError",
    "NetworkError",
    "ParameterError",
    "PermanentError",
    "ResourceError",
    "SkillExecError",
    "SkillNotFoundError",
    "SkillPermissionError",
    "SkillTimeoutError",
    "TaskNotFoundError",
    "TransientError",
    "Violation",
    "WaitTimeoutError",
    "utf8_text",
]


class ErrorType(StrEnum):
    PARAMETER = "parameter_error"
    DEPENDENCY = "dependency_error"
    RESOURCE = "resource_error"
    TIMEOUT = "timeout_error"
    EXECUTION = "execution_error"
    NETWORK = "network_error"
    PERMISSION = "permission_error"
    CANCELLED = "cancelled"


class ErrorSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def utf8_text(text: str) -> str:
    """``text`` as UTF-8 can carry it (JSON, the journal, a terminal): a lone surrogate —
    what decoding bytes that were not UTF-8 leaves, in a file name or an exception's
    message — becomes '?'."""
    if text.isascii():
        return text
    try:
        text.encode()
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What went wrong, as stored and reported: ``{type, code, message, retryable, severity}``."""

    type: ErrorType
    code: str
    message: str
    retryable: bool = False
    severity: ErrorSeverity = ErrorSeverity.MEDIUM
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A skill's exception may carry text UTF-8 cannot (the journal refused it, and the
        # call that raised it crashed the engine's execute).
        if isinstance(self.message, str) and not self.message.isascii():
            object.__setattr__(self, "message", utf8_text(self.message))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type.value,
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "severity": self.severity.value,
        }
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        return cls(
            type=ErrorType(data["type"]),
            code=str(data["code"]),
            message=str(data["message"]),
            retryable=bool(data.get("retryable", False)),
            severity=ErrorSeverity(data.get("severity", "medium")),
            details=dict(data.get("details") or {}),
        )


class SkillExecError(Exception):
    """The root of every error skillexec raises."""

    error_type: ErrorType = ErrorType.EXECUTION
    code: str = "execution_failed"
    retryable: bool = False
    severity: ErrorSeverity = ErrorSeverity.MEDIUM

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        severity: ErrorSeverity | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        if severity is not None:
            self.severity = severity
        self.details: dict[str, Any] = details or {}

    @property
    def info(self) -> ErrorInfo:
        return ErrorInfo(
            type=self.error_type,
            code=self.code,
            message=self.message,
            retryable=self.retryable,
            severity=self.severity,
            details=self.details,
        )

    @classmethod
    def from_info(cls, info: ErrorInfo) -> SkillExecError:
        """Rebuild the most specific exception class for a stored error."""
        klass = _BY_TYPE.get(info.type, SkillExecError)
        err = SkillExecError.__new__(klass)
        SkillExecError.__init__(err, info.message, code=info.code, retryable=info.retryable,
                                severity=info.severity, details=info.details)
        if isinstance(err, ParameterError):
            err.violations = [Violation(**v) for v in info.details.get("violations", [])]
        return err

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule in a set of parameters: where, which rule, and the value found."""

    path: str  # a JSON pointer into the parameters, "" for the whole object
    rule: str  # the JSON Schema keyword that failed: "type", "minimum", "required", ...
    message: str
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rule": self.rule, "message": self.message,
                "value": self.value}


class ParameterError(SkillExecError):
    error_type = ErrorType.PARAMETER
    code = "invalid_parameters"
    severity = ErrorSeverity.LOW

    def __init__(self, message: str, *, violations: list[Violation] | None = None,
                 code: str | None = None, details: dict[str, Any] | None = None) -> None:
        self.violations = list(violations or [])
        merged = dict(details or {})
        if self.violations:
            merged["violations"] = [v.to_dict() for v in self.violations]
        super().__init__(message, code=code, retryable=False, details=merged)


class ConfigError(SkillExecError):
    """An engine setting that is missing, malformed or out of range."""

    error_type = ErrorType.PARAMETER
    code = "invalid_config"
    severity = ErrorSeverity.CRITICAL


class ManifestError(SkillExecError):
    """A skill folder or manifest that cannot be read or makes no sense."""

    error_type = ErrorType.DEPENDENCY
    code = "invalid_manifest"
    severity = ErrorSeverity.HIGH


class SkillNotFoundError(SkillExecError):
    error_type = ErrorType.DEPENDENCY
    code = "skill_not_found"
    severity = ErrorSeverity.LOW


class DependencyError(SkillExecError):
    error_type = ErrorType.DEPENDENCY
    code = "dependency_missing"
    severity = ErrorSeverity.HIGH


class ResourceError(SkillExecError):
    error_type = ErrorType.RESOURCE
    code = "resource_exhausted"
    severity = ErrorSeverity.HIGH


class SkillTimeoutError(SkillExecError):
    error_type = ErrorType.TIMEOUT
    code = "execution_timeout"
    retryable = True


class ExecutionError(SkillExecError):
    error_type = ErrorType.EXECUTION
    code = "execution_failed"


class NetworkError(SkillExecError):
    error_type = ErrorType.NETWORK
    code = "network_failure"
    retryable = True


class SkillPermissionError(SkillExecError):
    error_type = ErrorType.PERMISSION
    code = "permission_denied"
    severity = ErrorSeverity.HIGH


class CancelledError(SkillExecError):
    error_type = ErrorType.CANCELLED
    code = "cancelled"
    severity = ErrorSeverity.LOW


class TransientError(SkillExecError):
    """Raised by a skill to say: this failure will likely pass; try again."""

    error_type = ErrorType.EXECUTION
    code = "transient_failure"
    retryable = True


class PermanentError(SkillExecError):
    """Raised by a skill to say: trying again will not help."""

    error_type = ErrorType.EXECUTION
    code = "permanent_failure"
    retryable = False


class TaskNotFoundError(SkillExecError):
    """No task with that id (or none the principal may see: the same answer). A wrong id
    is the caller's mistake, as a wrong parameter is; a *skill* not found is
    :class:`SkillNotFoundError`."""

    error_type = ErrorType.PARAMETER
    code = "task_not_found"
    severity = ErrorSeverity.LOW


class WaitTimeoutError(SkillTimeoutError, TimeoutError):
    """``wait(task_id, timeout=...)`` gave up; the task goes on. Also a builtin
    TimeoutError, as ``asyncio.wait_for``'s is."""

    code = "wait_timeout"
    severity = ErrorSeverity.LOW


_BY_TYPE: dict[ErrorType, type[SkillExecError]] = {
    ErrorType.PARAMETER: ParameterError,
    ErrorType.DEPENDENCY: DependencyError,
    ErrorType.RESOURCE: ResourceError,
    ErrorType.TIMEOUT: SkillTimeoutError,
    ErrorType.EXECUTION: ExecutionError,
    ErrorType.NETWORK: NetworkError,
    ErrorType.PERMISSION: SkillPermissionError,
    ErrorType.CANCELLED: CancelledError,
}
