"""What an installer's failed output says of its cause: the packages, or the way to them.

A package that does not exist, has no wheel for this Python or cannot be resolved fails
the same way at every try: remembered, the skill stays unavailable until its requirements
or the installer's settings change (see ``failures``). An index that refused the
connection, timed out or answered 5xx, a name that did not resolve, or a full disk fails
for reasons that pass: such a failure is *transient*, tried again later, and named by the
index's host, not by a package that is fine.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

__all__ = ["index_host", "transient_failure"]

# uv's and pip's words for a failure of the network, the index or the disk (never a bare
# "timeout": async-timeout is a package, and "async-timeout was not found" is about it).
_TRANSIENT = re.compile(
    r"Connection refused|os error 111|Errno 111|Connection reset|os error 104"
    r"|\btimed out\b|\bTimeoutError\b|deadline has elapsed|Network is unreachable|No route to host"
    r"|Temporary failure in name resolution|Name or service not known|dns error"
    r"|failed to lookup address|error sending request|NewConnectionError|ConnectTimeout"
    r"|ReadTimeout|Max retries exceeded|RemoteDisconnected|IncompleteRead"
    r"|HTTP status server error|\b50[0-4] (?:Internal Server Error|Bad Gateway"
    r"|Service Unavailable|Gateway Time-?out)|too many 5\d\d error responses"
    r"|Request failed after \d+ retr|No space left on device|os error 28|Errno 28",
    re.IGNORECASE)
_URL = re.compile(r"https?://[^\s)`'\"<>]+")
_INDEX_ENV = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL")


def transient_failure(output: str) -> bool:
    """Whether the installer's ``output`` shows a failure of the network, the index or the
    disk (pip says 'No matching distribution' after its retries of a refused connection:
    the cause is in its warnings, above)."""
    return _TRANSIENT.search(output) is not None


def index_host(output: str, index_url: str | None) -> str:
    """The host (and port) of the index the installer was talking to: the last URL its
    output names, else the configured index's; never the credentials in either."""
    urls = _URL.findall(output)
    for url in (*reversed(urls), index_url or "",
                *(os.environ.get(k, "") for k in _INDEX_ENV)):
        host = _host(url)
        if host:
            return host
    return "the installer's default (pypi.org unless its own configuration says otherwise)"


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if not parts.hostname:
        return ""
    return parts.hostname + (f":{port}" if port else "")
