"""What a child reports when its skill is done: error classification, result size checks."""

from __future__ import annotations

import errno
from typing import Any

from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.security import fsview

__all__ = ["classify", "estimated_size"]

_SANDBOX_ERRNOS = frozenset({errno.EPERM, errno.EACCES, errno.ENETUNREACH, errno.EROFS})


def estimated_size(value: Any, budget: int) -> int:
    """A lower bound of the JSON size, stopping once past ``budget``.

    Checked before serialising because orjson crashes (SIGSEGV) instead of raising when an
    allocation fails under RLIMIT_AS, and a result of hundreds of megabytes would do that.
    """
    total = 0
    stack = [value]
    while stack and total <= budget:
        v = stack.pop()
        if isinstance(v, str | bytes | bytearray):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            total += 2 + len(v)
            stack.extend(v)
        else:
            total += 8
    return total


def classify(exc: BaseException, *, sandbox: bool, allow_network: bool) -> ErrorInfo:
    """The ErrorInfo a child reports for an exception its skill raised."""
    name = type(exc).__name__
    if isinstance(exc, SkillExecError):
        info = exc.info
        if "retryable" in vars(exc):  # given by whoever raised it: it wins (classification)
            info = ErrorInfo(type=info.type, code=info.code, message=info.message,
                             retryable=info.retryable, severity=info.severity,
                             details={**info.details, "retryable": exc.retryable})
    elif isinstance(exc, MemoryError):
        info = ErrorInfo(type=ErrorType.RESOURCE, code="memory_limit_exceeded",
                         message="the skill ran out of its memory limit")
    elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        info = ErrorInfo(type=ErrorType.RESOURCE, code="file_size_limit_exceeded",
                         message=f"the skill wrote past its file size limit: {exc}")
    elif sandbox and isinstance(exc, OSError) and (
            (exc.errno in _SANDBOX_ERRNOS and (exc.errno != errno.ENETUNREACH or not allow_network))
            or (exc.errno == errno.ENOENT and fsview.hidden(exc.filename))):
        info = ErrorInfo(type=ErrorType.PERMISSION, code="sandbox_denied",
                         message=f"the sandbox denied an operation: {name}: {exc}")
    elif isinstance(exc, SystemExit):
        info = ErrorInfo(type=ErrorType.EXECUTION, code="skill_exited",
                         message=f"the skill called exit({exc.code!r})")
    else:
        # Imported on the error path only: it pulls in ssl, which every fork would pay for.
        from skillexec.classification import ErrorClassifier

        # Its message too, as the inline runner reports it (an exception group's leaves,
        # a TimeoutError of the skill's own told from the engine's timeout).
        info = ErrorClassifier().classify(exc)
        if info.code == "missing_module":
            from skillexec.environments.modules import name_the_package
            info = name_the_package(info, exc)
    details = dict(info.details)
    details["exception"] = name
    # details.retryable only where the skill gave it (the classifier put it there): the
    # engine honours it over the code's rule, and a class default ("rate_limited" raised as
    # an ExecutionError) must stay the rule's, as inline (ErrorInfo.retryable travels too).
    return ErrorInfo(type=info.type, code=info.code, message=info.message,
                     retryable=info.retryable, severity=info.severity, details=details)
