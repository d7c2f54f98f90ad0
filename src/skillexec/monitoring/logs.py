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
  and command lines, and PEM private keys.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import structlog

from skillexec.monitoring.settings import MonitorSettings

__all__ = ["REDACTED", "Redactor", "make_logger", "redact", "scrub", "secret_values"]

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


def _redact_str(value: str) -> str:
    if len(value) < 8:
        return value
    for rx in _SECRET_VALUES:
        value = rx.sub(REDACTED, value)
    return _KV_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", value)


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
            if key.lower() in names or _SECRET_KEY.search(key):
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
                key.lower() in names or _SECRET_KEY.search(key)):
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


class Redactor:
    """A structlog processor: :func:`redact` over the event dict, bound keys kept as they are."""

    def __init__(self, sensitive: Iterable[str] = ()) -> None:
        self.sensitive = frozenset(s.lower() for s in sensitive)

    def __call__(self, logger: Any, method: str,
                 event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            if key in _BOUND_KEYS and key != "event":
                continue
            if key.lower() in self.sensitive or (key != "event" and _SECRET_KEY.search(key)):
                event_dict[key] = REDACTED
            elif isinstance(value, str | Mapping | list | tuple):
                event_dict[key] = redact(value, self.sensitive)
        return event_dict


def _json(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


_open_files: dict[Path, Any] = {}


def _log_file(path: Path) -> Any:
    """One append-mode, line-buffered file per path, shared by the engines of a process."""
    path = path.resolve()
    fh = _open_files.get(path)
    if fh is None or fh.closed:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = _open_files[path] = path.open("a", buffering=1, encoding="utf-8")
    return fh


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
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=False) if fmt == "console"
                     else structlog.processors.JSONRenderer(serializer=_json))
    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        Redactor(settings.sensitive_params),
        renderer,
    ]
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    if stream is None and settings.log_file is not None:
        stream = _log_file(settings.log_file)
    underlying: Any = (structlog.WriteLogger(stream) if stream is not None
                       else _stdlib_logger(settings))
    return structlog.wrap_logger(underlying, processors=processors,
                                 wrapper_class=structlog.make_filtering_bound_logger(level),
                                 cache_logger_on_first_use=True)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
