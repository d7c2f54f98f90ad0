"""ErrorClassifier: turn any failure into an ErrorInfo (type, code, severity, retryable).

Rules are data, in three tables, each of which plugins can extend:

- exception rules: (exception class or qualified name, errno set or None) → type, code,
  retryable, severity. The first rule that matches the exception, or any exception in its
  chain of causes and contexts, wins.
- HTTP status rules: a status code (or a range of them) → type, code, retryable. The status
  is read from the exception (httpx, requests, aiohttp, urllib: see ``STATUS_SOURCES``) or
  from an envelope's ``status_code``; ``Retry-After`` is read from its headers or
  ``retry_after``, into ``details["retry_after"]`` (seconds).
- code rules: a stable error code (``memory_limit_exceeded``, ``child_crashed``, ...) →
  type, severity, retryable; :meth:`ErrorClassifier.classify_info` uses them to make the
  errors runners and envelopes report consistent with those of exceptions.

Skills say it themselves by raising :class:`~skillexec.errors.TransientError` or
:class:`~skillexec.errors.PermanentError`, which are never second-guessed.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from skillexec.errors import ErrorInfo, ErrorSeverity, ErrorType, SkillExecError

__all__ = ["DEFAULT_CODE_RULES", "DEFAULT_RULES", "DEFAULT_STATUS_RULES", "STATUS_SOURCES",
           "ClassificationRule", "CodeRule", "ErrorClassifier", "StatusRule",
           "parse_retry_after"]

_M, _H, _L, _C = ErrorSeverity.MEDIUM, ErrorSeverity.HIGH, ErrorSeverity.LOW, \
    ErrorSeverity.CRITICAL


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
            if self.exc_type not in _qualnames(exc):
                return False
        elif not isinstance(exc, self.exc_type):
            return False
        if self.errnos is not None:
            return isinstance(exc, OSError) and exc.errno in self.errnos
        return True


@dataclass(frozen=True, slots=True)
class StatusRule:
    """HTTP statuses ``low``..``high`` (inclusive) reported by a skill or its client."""

    low: int
    high: int
    error_type: ErrorType
    code: str
    retryable: bool
    severity: ErrorSeverity = ErrorSeverity.MEDIUM

    def matches(self, status: int) -> bool:
        return self.low <= status <= self.high


@dataclass(frozen=True, slots=True)
class CodeRule:
    """What an error code reported by a runner or an envelope means."""

    code: str
    error_type: ErrorType
    retryable: bool
    severity: ErrorSeverity = ErrorSeverity.MEDIUM


_NET_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
    errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT, errno.EPIPE, errno.ENOTCONN,
    errno.EHOSTDOWN, errno.ENETRESET,
})
_RESOURCE_ERRNOS = frozenset({errno.ENOSPC, errno.ENOMEM, errno.EMFILE, errno.ENFILE,
                              errno.EAGAIN, errno.EDQUOT, errno.EBUSY})
_PERM_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})

DEFAULT_RULES: tuple[ClassificationRule, ...] = (
    # A memory spike may pass (another attempt, less load); a deterministic one fails again,
    # and the resource_error policy retries it once at most.
    ClassificationRule(MemoryError, ErrorType.RESOURCE, "memory_exhausted", True, _H),
    ClassificationRule(RecursionError, ErrorType.EXECUTION, "recursion_limit", False),
    ClassificationRule(TimeoutError, ErrorType.TIMEOUT, "operation_timeout", True),
    ClassificationRule(socket.gaierror, ErrorType.NETWORK, "dns_failure", True),
    ClassificationRule(ssl.SSLCertVerificationError, ErrorType.NETWORK, "tls_certificate", False,
                       _H),
    ClassificationRule(ssl.SSLEOFError, ErrorType.NETWORK, "tls_connection_lost", True),
    ClassificationRule(ssl.SSLZeroReturnError, ErrorType.NETWORK, "tls_connection_lost", True),
    ClassificationRule(ssl.SSLError, ErrorType.NETWORK, "tls_failure", False),
    ClassificationRule(ConnectionError, ErrorType.NETWORK, "connection_failed", True),
    ClassificationRule("http.client.IncompleteRead", ErrorType.NETWORK, "http_incomplete_read",
                       True),
    ClassificationRule("http.client.RemoteDisconnected", ErrorType.NETWORK, "connection_failed",
                       True),
    ClassificationRule("httpx.TimeoutException", ErrorType.TIMEOUT, "http_timeout", True),
    ClassificationRule("httpx.TransportError", ErrorType.NETWORK, "http_transport_error", True),
    ClassificationRule("requests.exceptions.Timeout", ErrorType.TIMEOUT, "http_timeout", True),
    ClassificationRule("requests.exceptions.ConnectionError", ErrorType.NETWORK,
                       "connection_failed", True),
    ClassificationRule("aiohttp.client_exceptions.ServerTimeoutError", ErrorType.TIMEOUT,
                       "http_timeout", True),
    ClassificationRule("aiohttp.client_exceptions.ClientConnectionError", ErrorType.NETWORK,
                       "connection_failed", True),
    ClassificationRule("aiohttp.client_exceptions.ClientPayloadError", ErrorType.NETWORK,
                       "http_payload_error", True),
    ClassificationRule("urllib.error.URLError", ErrorType.NETWORK, "url_error", True),
    ClassificationRule(OSError, ErrorType.NETWORK, "network_unreachable", True,
                       errnos=_NET_ERRNOS),
    ClassificationRule(OSError, ErrorType.RESOURCE, "os_resource_exhausted", True, _H,
                       errnos=_RESOURCE_ERRNOS),
    ClassificationRule(InterruptedError, ErrorType.EXECUTION, "interrupted_call", True),
    ClassificationRule(PermissionError, ErrorType.PERMISSION, "os_permission_denied", False),
    ClassificationRule(OSError, ErrorType.PERMISSION, "os_permission_denied", False,
                       errnos=_PERM_ERRNOS),
    # An undeclared import: the runners name the package to declare (environments.modules).
    ClassificationRule(ModuleNotFoundError, ErrorType.DEPENDENCY, "missing_module", False, _H),
    ClassificationRule(ImportError, ErrorType.DEPENDENCY, "import_failed", False, _H),
)

DEFAULT_STATUS_RULES: tuple[StatusRule, ...] = (
    StatusRule(408, 408, ErrorType.TIMEOUT, "http_408_request_timeout", True),
    StatusRule(425, 425, ErrorType.NETWORK, "http_425_too_early", True),
    StatusRule(429, 429, ErrorType.RESOURCE, "http_429_rate_limited", True),
    StatusRule(401, 401, ErrorType.PERMISSION, "http_401_unauthorized", False, _H),
    StatusRule(403, 403, ErrorType.PERMISSION, "http_403_forbidden", False, _H),
    StatusRule(404, 404, ErrorType.EXECUTION, "http_404_not_found", False),
    StatusRule(400, 499, ErrorType.EXECUTION, "http_client_error", False),
    StatusRule(500, 500, ErrorType.EXECUTION, "http_500_server_error", True),
    StatusRule(501, 501, ErrorType.EXECUTION, "http_501_not_implemented", False),
    StatusRule(502, 502, ErrorType.NETWORK, "http_502_bad_gateway", True),
    StatusRule(503, 503, ErrorType.NETWORK, "http_503_unavailable", True),
    StatusRule(504, 504, ErrorType.TIMEOUT, "http_504_gateway_timeout", True),
    StatusRule(505, 599, ErrorType.EXECUTION, "http_server_error", True),
)

DEFAULT_CODE_RULES: tuple[CodeRule, ...] = (
    # the isolated runners
    CodeRule("memory_limit_exceeded", ErrorType.RESOURCE, False, _H),  # the same limit again
    CodeRule("cpu_limit_exceeded", ErrorType.RESOURCE, False, _H),
    CodeRule("file_size_limit_exceeded", ErrorType.RESOURCE, False),
    CodeRule("output_too_large", ErrorType.RESOURCE, False),
    CodeRule("child_crashed", ErrorType.EXECUTION, True, _H),
    CodeRule("skill_exited", ErrorType.EXECUTION, False),
    CodeRule("execution_timeout", ErrorType.TIMEOUT, True),
    CodeRule("sandbox_denied", ErrorType.PERMISSION, False, _H),
    CodeRule("isolation_unavailable", ErrorType.RESOURCE, False, _C),
    CodeRule("command_failed", ErrorType.EXECUTION, False),
    CodeRule("output_not_json", ErrorType.EXECUTION, False),
    # the engine
    CodeRule("queue_full", ErrorType.RESOURCE, True),
    CodeRule("circuit_open", ErrorType.RESOURCE, True),
    CodeRule("retry_budget_exhausted", ErrorType.RESOURCE, True),
    CodeRule("deadline_exceeded", ErrorType.TIMEOUT, False),  # the call's time is up
    CodeRule("inline_threads_exhausted", ErrorType.RESOURCE, True),  # threads may return
    CodeRule("interrupted", ErrorType.EXECUTION, False, _H),
    CodeRule("engine_error", ErrorType.EXECUTION, False, _C),
    # what skills say, as exceptions or envelopes
    CodeRule("transient_failure", ErrorType.EXECUTION, True),
    CodeRule("permanent_failure", ErrorType.EXECUTION, False),
    CodeRule("rate_limited", ErrorType.RESOURCE, True),
    CodeRule("service_unavailable", ErrorType.NETWORK, True),
)

# Where HTTP client libraries keep the status and the headers of an error response:
# (exception qualified name, attribute path of the status, attribute path of the headers).
STATUS_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("httpx.HTTPStatusError", "response.status_code", "response.headers"),
    ("requests.exceptions.HTTPError", "response.status_code", "response.headers"),
    ("aiohttp.client_exceptions.ClientResponseError", "status", "headers"),
    ("urllib.error.HTTPError", "code", "headers"),
)


class ErrorClassifier:
    def __init__(self, rules: tuple[ClassificationRule, ...] = DEFAULT_RULES, *,
                 status_rules: tuple[StatusRule, ...] = DEFAULT_STATUS_RULES,
                 code_rules: tuple[CodeRule, ...] = DEFAULT_CODE_RULES) -> None:
        self._rules = list(rules)
        self._status_rules = list(status_rules)
        self._codes = {r.code: r for r in code_rules}

    # -- plugins -------------------------------------------------------------------------------

    def add_rule(self, rule: ClassificationRule | StatusRule | CodeRule, *,
                 first: bool = True) -> None:
        """Add a rule; by default ahead of the built-in ones of its table."""
        if isinstance(rule, CodeRule):
            self._codes[rule.code] = rule
            return
        table: list[Any] = self._status_rules if isinstance(rule, StatusRule) else self._rules
        if first:
            table.insert(0, rule)
        else:
            table.append(rule)

    # -- exceptions ----------------------------------------------------------------------------

    def classify(self, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, SkillExecError):
            return _said(exc)
        base = {"exception": type(exc).__name__}
        if isinstance(exc, SystemExit):  # as the isolated runners report an exit call
            return ErrorInfo(type=ErrorType.EXECUTION, code="skill_exited",
                             message=f"the skill called exit({exc.code!r})", details=base)
        if isinstance(exc, BaseExceptionGroup):  # what asyncio.TaskGroup raises
            return self._group(exc, base)
        text = _text(exc)
        if not text and isinstance(exc, asyncio.CancelledError):
            # Classified only when nobody cancelled the task: say so, or it reads as one.
            text = "raised by the skill, though nobody cancelled its task"
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        for link in _chain(exc):
            if isinstance(link, SkillExecError):
                info = _said(link)
                return ErrorInfo(type=info.type, code=info.code, message=message,
                                 retryable=info.retryable, severity=info.severity,
                                 details={**info.details, **base})
            http = _http_status(link)
            if http is not None:
                status, headers = http
                details: dict[str, Any] = {**base, "status_code": status}
                after = parse_retry_after(_header(headers, "retry-after"))
                if after is not None:
                    details["retry_after"] = after
                rule = self._status_rule(status)
                if rule is not None:
                    return ErrorInfo(type=rule.error_type, code=rule.code, message=message,
                                     retryable=rule.retryable, severity=rule.severity,
                                     details=details)
            for r in self._rules:
                if r.matches(link):
                    if r.error_type is ErrorType.TIMEOUT:
                        # Raised by the skill's own code (its HTTP client's, say): told
                        # apart from the engine's timeout (execution_timeout) in words too.
                        message = f"the skill's own operation timed out ({message})"
                    return ErrorInfo(type=r.error_type, code=r.code, message=message,
                                     retryable=r.retryable, severity=r.severity,
                                     details=dict(base))
        return ErrorInfo(type=ErrorType.EXECUTION, code="skill_raised", message=message,
                         retryable=False, details=dict(base))

    def _group(self, group: BaseExceptionGroup[BaseException],
               base: dict[str, Any]) -> ErrorInfo:
        """An exception group by its leaves: retryable as the first of them if every one
        is (three ConnectionErrors are a network error worth retrying), else as its first
        leaf that is not (one permanent failure makes the whole group's)."""
        leaves = [self.classify(leaf) for leaf in _leaves(group)]
        if not leaves:
            return ErrorInfo(type=ErrorType.EXECUTION, code="skill_raised",
                             message=f"{type(group).__name__}: {_text(group)}", details=base)
        chosen = next((i for i in leaves if not i.retryable), leaves[0])
        said = [i.message for i in leaves[:5]]
        more = f" and {len(leaves) - 5} more" if len(leaves) > 5 else ""
        return replace(chosen, message=f"{type(group).__name__}: {'; '.join(said)}{more}",
                       details={**chosen.details, **base,
                                "leaves": [i.code for i in leaves[:20]]})

    # -- errors reported as data (runners, envelopes) ------------------------------------------

    def classify_info(self, info: ErrorInfo) -> ErrorInfo:
        """Make a reported error consistent with the rules.

        A known code sets type, severity and retryable; an HTTP status in the details (an
        envelope's ``status_code``) sets them by the status table, and ``retry_after`` or a
        ``Retry-After`` header becomes ``details["retry_after"]`` in seconds. What a skill
        said itself wins: ``retryable: true`` stays retryable, and the codes of
        TransientError/PermanentError keep their meaning, and a ``retryable`` the skill gave
        its error itself (``TransientError("...", retryable=False)``; ``details.retryable``,
        as the isolated runners' child reports it) is honoured either way.
        """
        details = info.details
        said = details.get("retryable")
        status = _as_int(details.get("status_code"))
        after = parse_retry_after(details.get("retry_after"))
        if after is None:
            headers = details.get("headers")
            if isinstance(headers, Mapping):
                after = parse_retry_after(_header(headers, "retry-after"))
        out = info
        rule = self._codes.get(info.code)
        if rule is not None:
            out = replace(out, type=rule.error_type, severity=rule.severity,
                          retryable=said if isinstance(said, bool)
                          else rule.retryable or info.retryable)
        elif status is not None:
            srule = self._status_rule(status)
            if srule is not None:
                out = replace(out, type=srule.error_type, severity=srule.severity,
                              retryable=said if isinstance(said, bool)
                              else srule.retryable or info.retryable)
        if after is not None and details.get("retry_after") != after:
            out = replace(out, details={**details, "retry_after": after})
        return out

    def _status_rule(self, status: int) -> StatusRule | None:
        for r in self._status_rules:
            if r.matches(status):
                return r
        return None


def parse_retry_after(value: Any, *, now: float | None = None) -> float | None:
    """A Retry-After value (seconds, or an HTTP date) as seconds from now; None if absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _qualnames(exc: BaseException) -> set[str]:
    return {f"{k.__module__}.{k.__qualname__}" for k in type(exc).__mro__}


def _attr(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _http_status(exc: BaseException) -> tuple[int, Any] | None:
    names: set[str] | None = None
    for qualname, status_path, headers_path in STATUS_SOURCES:
        if names is None:
            names = _qualnames(exc)
        if qualname in names:
            status = _as_int(_attr(exc, status_path))
            if status is not None:
                return status, _attr(exc, headers_path)
    return None


def _header(headers: Any, name: str) -> Any:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None and isinstance(headers, Mapping):
        for k, v in headers.items():
            if str(k).lower() == name:
                return v
    return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """A group's innermost exceptions, first to last (at most 100)."""
    out: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack and len(out) < 100:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            out.append(exc)
    return out


def _said(exc: SkillExecError) -> ErrorInfo:
    """A SkillExecError's info; given ``retryable=`` by whoever raised it, that goes in its
    details too, where :meth:`ErrorClassifier.classify_info` honours it over the code's rule
    (the class's default does not: ``TransientError("x")`` stays what its code says)."""
    info = exc.info
    if "retryable" in vars(exc) and "retryable" not in info.details:
        return replace(info, details={**info.details, "retryable": exc.retryable})
    return info


def _text(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in: a skill's exception may raise from its own __str__."""
    try:
        return str(exc)
    except Exception:
        return "<its str() failed>"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(seen) < 16 and all(cur is not s for s in seen):
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen
