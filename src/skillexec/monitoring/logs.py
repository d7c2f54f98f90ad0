"""Structured logs (structlog): JSON in production, readable in a terminal, secrets redacted.

The logger is built with :func:`structlog.wrap_logger` over the stdlib logger
``skillexec.tasks`` (or a file), never through ``structlog.configure``: the host
application's own structlog setup is left alone. Levels below the configured one are
filtered by structlog's filtering logger, where a disabled call is a no-op method.

Redaction, the last step before rendering, replaces with ``[REDACTED]``:
- the value of any key that names a secret (password, secret, token, api_key,
  authorization, cookie, credential, private_key, session, ...), at any depth;
- the value of any configured sensitive parameter name;
- inside strings: bearer tokens, AWS access key ids, JWTs, ``key=value`` secrets in URLs
  and command lines, and PEM private keys; then every credential shape of
  :mod:`skillexec.security.redaction` (``[REDACTED:<kind>]``: tokens, card numbers, ...).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import structlog

from skillexec.monitoring.settings import MonitorSettings
from skillexec.security.redaction import candidate, masked_text

__all__ = ["REDACTED", "JsonLine", "LineWriter", "Redactor", "flush_logs", "make_logger", "redact",
           "scrub", "secret_values"]

REDACTED = "[REDACTED]"
LOGGER_NAME = "skillexec.tasks"

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[-_]?key|apikey|authori[sz]ation|auth|cookie|"
    r"credential|private[-_]?key|session[-_]?id|access[-_]?key|signature|x-api-key)",
    re.IGNORECASE)
_SECRET_VALUES = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*"),
    re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/]{8,}=*"),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
               re.DOTALL),
    re.compile(r"\b(?:ghp|gho|ghs|ghu|github_pat|xox[abpr]|sk|sk_live|rk_live)_"
               r"[A-Za-z0-9_]{16,}"),
)
_KV_SECRET = re.compile(
    r"(?i)\b((?:pass(?:word|wd)?|secret|token|api[-_]?key|apikey|access[-_]?key|"
    r"auth)[A-Za-z_]*)(\s*[=:]\s*)([^\s&,;\"']+)")
_MAX_DEPTH = 8


# Every pattern above starts with one of these words or prefixes at a word boundary, case
# aside (or with a PEM header): a string without any is left as it is after one search,
# not seven substitutions.
_MAYBE_SECRET = re.compile(
    r"(?i)\b(?:bearer|basic|akia|asia|agpa|aida|aroa|anpa|anva|aipa|eyj|pass|secret|token|"
    r"api|access|auth|(?:gh[opsu]|github_pat|xox[abpr]|sk|sk_live|rk_live)_)|-----begin")
# Strings seen to hold no secret (event names, statuses, error messages that recur). Only
# clean ones: a cache must not keep secrets alive. Bounded: cleared when full.
_CLEAN: set[str] = set()
_CLEAN_MAX = 4096
_CLEAN_LEN = 256


def _redact_str(value: str) -> str:
    if len(value) < 8 or value in _CLEAN:
        return value
    if _MAYBE_SECRET.search(value) is None and not candidate(value):
        if len(value) <= _CLEAN_LEN:
            if len(_CLEAN) >= _CLEAN_MAX:
                _CLEAN.clear()
            _CLEAN.add(value)
        return value
    out = value
    for rx in _SECRET_VALUES:
        out = rx.sub(REDACTED, out)
    out = _KV_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", out)
    out = masked_text(out)  # the credential shapes outputs are filtered for, by kind
    if out == value and len(value) <= _CLEAN_LEN:  # a near miss ("task_id=..."): clean
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN.add(value)
    return out


_SECRET_KEYS: dict[str, bool] = {}  # key name -> names a secret (keys come from code: few)


def _secret_key(key: str) -> bool:
    hit = _SECRET_KEYS.get(key)
    if hit is None:
        hit = _SECRET_KEY.search(key) is not None
        if len(_SECRET_KEYS) >= _CLEAN_MAX:
            _SECRET_KEYS.clear()
        _SECRET_KEYS[key] = hit
    return hit


def redact(value: Any, sensitive: Iterable[str] = (), *, _depth: int = 0) -> Any:
    """A copy of ``value`` with secrets replaced (see the module's doc for what counts)."""
    names = sensitive if isinstance(sensitive, frozenset) else frozenset(
        s.lower() for s in sensitive)
    if _depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        return _redact_str(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            key = str(k)
            if _secret_key(key) or (names and key.lower() in names):
                out[k] = REDACTED if v not in (None, "") else v
            else:
                out[k] = redact(v, names, _depth=_depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [redact(v, names, _depth=_depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def secret_values(params: Mapping[str, Any], sensitive: Iterable[str] = ()) -> list[str]:
    """The string values of a call's secret or sensitive parameters (4+ characters)."""
    names = frozenset(s.lower() for s in sensitive)
    out: list[str] = []
    for k, v in params.items():
        key = str(k)
        if isinstance(v, str | int) and len(str(v)) >= 4 and (
                key.lower() in names or _secret_key(key)):
            out.append(str(v))
    return sorted(out, key=len, reverse=True)


def scrub(text: str | None, values: Iterable[str]) -> str | None:
    """``text`` with each of ``values`` replaced (a skill may echo a secret in its error)."""
    if not text:
        return text
    for v in values:
        if v in text:
            text = text.replace(v, REDACTED)
    return text


_BOUND_KEYS = frozenset({"task_id", "skill_id", "attempt", "principal", "event", "level",
                         "timestamp", "logger"})


_UNSEEN: Any = object()


class Redactor:
    """A structlog processor: :func:`redact` over the event dict, bound keys kept as they are."""

    def __init__(self, sensitive: Iterable[str] = ()) -> None:
        self.sensitive = frozenset(s.lower() for s in sensitive)
        # Per key: None (bound, kept), True (its value is a secret), False (look inside).
        # The keys of log calls are few and fixed by code, so this stays small.
        self._keys: dict[str, bool | None] = {}

    def _kind(self, key: str) -> bool | None:
        try:
            return self._keys[key]
        except KeyError:
            pass
        kind: bool | None = None
        if key not in _BOUND_KEYS or key == "event":
            kind = key.lower() in self.sensitive or (key != "event" and _secret_key(key))
        if len(self._keys) < _CLEAN_MAX:
            self._keys[key] = kind
        return kind

    def __call__(self, logger: Any, method: str,
                 event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        keys = self._keys
        for key, value in list(event_dict.items()):
            kind = keys.get(key, _UNSEEN)
            if kind is _UNSEEN:
                kind = self._kind(key)
            if kind is None:
                continue
            if kind:
                event_dict[key] = REDACTED
            elif isinstance(value, str):
                event_dict[key] = _redact_str(value)
            elif isinstance(value, Mapping | list | tuple):
                event_dict[key] = redact(value, self.sensitive)
        return event_dict


_LEVEL_NAMES = {"warn": "warning", "exception": "error"}  # as structlog's add_log_level


class _Clock:
    """ISO 8601 UTC timestamps as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes
    them, the date and time formatted once per second rather than per line."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        t = time.time()
        second = int(t)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{int((t - second) * 1e6):06d}Z"


class JsonLine:
    """The JSON pipeline as one processor: level, timestamp, exception text, redaction and
    orjson rendering (what add_log_level, TimeStamper, format_exc_info, Redactor and
    JSONRenderer do as five, at a third of the cost: a task's log line is on the hot path)."""

    def __init__(self, sensitive: Iterable[str] = ()) -> None:
        self._redactor = Redactor(sensitive)
        self._clock = _Clock()

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        # Redacted before level and timestamp are added (bound keys, never redacted): the
        # same output, two keys fewer to look at.
        exc_info = event_dict.pop("exc_info", None)
        self._redactor(logger, method, event_dict)
        event_dict["level"] = _LEVEL_NAMES.get(method, method)
        event_dict["timestamp"] = self._clock.now()
        if exc_info is not None:
            event_dict["exc_info"] = exc_info
            event_dict = structlog.processors.format_exc_info(logger, method, event_dict)
            if "exception" in event_dict:  # a traceback may quote secrets too
                event_dict["exception"] = _redact_str(event_dict["exception"])
        return orjson.dumps(event_dict, default=str).decode()


class LineWriter:
    """A log file's lines, written in batches: at the end of the event loop's turn that
    logged them (one write and flush for all the tasks that ended in it, not one per line),
    at once when logged outside a loop (or past ``max_pending``), and at exit. Lines are
    written whole and in order; it is shared by the engines of a process that log to the
    same file, and safe to call from any thread."""

    def __init__(self, path: Path, *, max_pending: int = 1024) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._max_pending = max_pending
        self._flush_on: asyncio.AbstractEventLoop | None = None  # a flush is scheduled there

    def msg(self, message: str) -> None:
        with self._lock:
            self._lines.append(message)
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None or len(self._lines) >= self._max_pending:
                self._write()
                return
            if self._flush_on is loop:
                return
            self._flush_on = loop
        loop.call_soon(self.flush)

    debug = info = warning = warn = error = err = critical = exception = fatal = log = msg

    def flush(self) -> None:
        with self._lock:
            self._flush_on = None
            self._write()

    def _write(self) -> None:  # under the lock
        if self._lines and not self._fh.closed:
            self._fh.write("\n".join(self._lines) + "\n")
            self._fh.flush()
        self._lines.clear()

    def close(self) -> None:
        with self._lock:
            self._write()
            self._fh.close()


_writers: dict[Path, LineWriter] = {}


def _log_file(path: Path) -> LineWriter:
    """One writer per path, shared by the engines of a process."""
    path = path.resolve()
    writer = _writers.get(path)
    if writer is None or writer._fh.closed:
        writer = _writers[path] = LineWriter(path)
    return writer


@atexit.register
def flush_logs() -> None:
    """Write what the log files' writers still hold (at exit; callable any time)."""
    for writer in list(_writers.values()):
        writer.flush()


def _forget_in_child() -> None:
    # A forked child inherits the parent's pending lines: the parent writes them, not it.
    for writer in _writers.values():
        writer._lines = []
        writer._lock = threading.Lock()
        writer._flush_on = None


os.register_at_fork(after_in_child=_forget_in_child)


def _stdlib_logger(settings: MonitorSettings) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(settings.log_level.upper())
    if not logger.handlers:
        # A library's manners: records go to the application's handlers (propagation), and
        # nowhere when it has none, rather than to stderr through logging's last resort.
        logger.addHandler(logging.NullHandler())
    return logger


def make_logger(settings: MonitorSettings, *, stream: Any = None) -> Any:
    """A structlog logger for task events, configured by ``settings``.

    Records go to ``stream`` (a file object) when given, else to ``settings.log_file``
    when set, else to the stdlib logger ``skillexec.tasks`` (the application's handlers).
    """
    fmt = settings.log_format
    if fmt == "auto":
        target = stream if stream is not None else sys.stderr
        fmt = "console" if settings.log_file is None and _isatty(target) else "json"
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    processors: list[Any]
    if fmt == "console":
        processors = [
            structlog.contextvars.merge_contextvars,  # e.g. the HTTP request's id
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(settings.sensitive_params),
            # plain tracebacks: rich's would dump local variables (a secret among them)
            structlog.dev.ConsoleRenderer(colors=False,
                                          exception_formatter=structlog.dev.plain_traceback),
        ]
    else:
        processors = [structlog.contextvars.merge_contextvars,
                      JsonLine(settings.sensitive_params)]
    underlying: Any
    if stream is not None:
        underlying = structlog.WriteLogger(stream)
    elif settings.log_file is not None:
        underlying = _log_file(settings.log_file)
    else:
        underlying = _stdlib_logger(settings)
    return structlog.wrap_logger(underlying, processors=processors,
                                 wrapper_class=structlog.make_filtering_bound_logger(level),
                                 cache_logger_on_first_use=True)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
