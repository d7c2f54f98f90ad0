"""ErrorClassifier: turn any exception into an ErrorInfo (type, code, severity, retryable).

Rules are data: an ordered table of (exception class, errno set or None, ErrorType, code,
retryable). The first rule that matches the exception, or any exception in its chain of
causes and contexts, wins. Plugins add rules with :meth:`ErrorClassifier.add_rule`.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass

from skillexec.errors import ErrorInfo, ErrorSeverity, ErrorType, SkillExecError

__all__ = ["ClassificationRule", "ErrorClassifier"]


@dataclass(frozen=True, slots=True)
class ClassificationRule:
    exc_type: type[BaseException] | str  # a class, or a qualified name for optional libraries
    error_type: ErrorType
    code: str
    retryable: bool
    severity: ErrorSeverity = ErrorSeverity.MEDIUM
    errnos: frozenset[int] | None = None

    def matches(self, exc: BaseException) -> bool:
        if isinstance(self.exc_type, str):
            names = {f"{k.__module__}.{k.__qualname__}" for k in type(exc).__mro__}
            if self.exc_type not in names:
                return False
        elif not isinstance(exc, self.exc_type):
            return False
        if self.errnos is not None:
            return isinstance(exc, OSError) and exc.errno in self.errnos
        return True


_NET_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
    errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT, errno.EPIPE, errno.ENOTCONN,
})
_RESOURCE_ERRNOS = frozenset({errno.ENOSPC, errno.ENOMEM, errno.EMFILE, errno.ENFILE,
                              errno.EAGAIN, errno.EDQUOT})
_PERM_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})

DEFAULT_RULES: tuple[ClassificationRule, ...] = (
    ClassificationRule(MemoryError, ErrorType.RESOURCE, "memory_exhausted", False,
                       ErrorSeverity.HIGH),
    ClassificationRule(RecursionError, ErrorType.EXECUTION, "recursion_limit", False),
    ClassificationRule(TimeoutError, ErrorType.TIMEOUT, "operation_timeout", True),
    ClassificationRule(socket.gaierror, ErrorType.NETWORK, "dns_failure", True),
    ClassificationRule(ssl.SSLError, ErrorType.NETWORK, "tls_failure", False),
    ClassificationRule(ConnectionError, ErrorType.NETWORK, "connection_failed", True),
    ClassificationRule("httpx.TimeoutException", ErrorType.TIMEOUT, "http_timeout", True),
    ClassificationRule("httpx.TransportError", ErrorType.NETWORK, "http_transport_error", True),
    ClassificationRule("requests.exceptions.Timeout", ErrorType.TIMEOUT, "http_timeout", True),
    ClassificationRule("requests.exceptions.ConnectionError", ErrorType.NETWORK,
                       "connection_failed", True),
    ClassificationRule("aiohttp.client_exceptions.ServerTimeoutError", ErrorType.TIMEOUT,
                       "http_timeout", True),
    ClassificationRule("aiohttp.client_exceptions.ClientConnectionError", ErrorType.NETWORK,
                       "connection_failed", True),
    ClassificationRule("urllib.error.URLError", ErrorType.NETWORK, "url_error", True),
    ClassificationRule(OSError, ErrorType.NETWORK, "network_unreachable", True,
                       errnos=_NET_ERRNOS),
    ClassificationRule(OSError, ErrorType.RESOURCE, "os_resource_exhausted", True,
                       ErrorSeverity.HIGH, errnos=_RESOURCE_ERRNOS),
    ClassificationRule(PermissionError, ErrorType.PERMISSION, "os_permission_denied", False),
    ClassificationRule(OSError, ErrorType.PERMISSION, "os_permission_denied", False,
                       errnos=_PERM_ERRNOS),
    ClassificationRule(ImportError, ErrorType.DEPENDENCY, "import_failed", False,
                       ErrorSeverity.HIGH),
)


class ErrorClassifier:
    def __init__(self, rules: tuple[ClassificationRule, ...] = DEFAULT_RULES) -> None:
        self._rules = list(rules)

    def add_rule(self, rule: ClassificationRule, *, first: bool = True) -> None:
        if first:
            self._rules.insert(0, rule)
        else:
            self._rules.append(rule)

    def classify(self, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, SkillExecError):
            return exc.info
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        for link in _chain(exc):
            if isinstance(link, SkillExecError):
                info = link.info
                return ErrorInfo(type=info.type, code=info.code, message=message,
                                 retryable=info.retryable, severity=info.severity,
                                 details={**info.details, "exception": type(exc).__name__})
            for rule in self._rules:
                if rule.matches(link):
                    return ErrorInfo(type=rule.error_type, code=rule.code, message=message,
                                     retryable=rule.retryable, severity=rule.severity,
                                     details={"exception": type(exc).__name__})
        return ErrorInfo(type=ErrorType.EXECUTION, code="skill_raised", message=message,
                         retryable=False, details={"exception": type(exc).__name__})


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(seen) < 16 and all(cur is not s for s in seen):
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen
