"""http-fetch: GET a URL and return its status, main headers and (truncated) body.

Entry style: ``async def execute(input_data, context)`` returning the Py Copilot envelope
both ways. Failures are answers, not exceptions, so the engine knows how to treat them:

- HTTP 5xx, 429, timeouts and connection errors: ``success: false`` with
  ``retryable: true``, ``error_type: "network_error"`` and the ``status_code`` (if any) —
  the engine retries them with backoff.
- HTTP 4xx and malformed URLs: ``retryable: false`` — retrying cannot help.

Uses httpx when installed, else the standard library's urllib (in a thread). Needs the
``network_access`` permission: under the sandbox runner the skill gets no network otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

try:
    import httpx
except ImportError:  # pragma: no cover - exercised only where httpx is absent
    httpx = None  # type: ignore[assignment]

KEPT_HEADERS = (
    "content-type", "content-length", "content-encoding", "content-language",
    "last-modified", "etag", "cache-control", "expires", "date", "server", "location",
    "retry-after", "x-ratelimit-remaining",
)
TEXTUAL = ("text/", "json", "xml", "javascript", "yaml", "csv", "x-www-form-urlencoded")
USER_AGENT = "skillexec-http-fetch/1.0"


class FetchFailure(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool,
                 status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after


async def execute(input_data: dict[str, Any], context: Any = None) -> dict[str, Any]:
    url = str(input_data.get("url", "")).strip()
    max_bytes = int(input_data.get("max_bytes", 65536))
    timeout = float(input_data.get("timeout_s", 10.0))
    remaining = getattr(context, "remaining_s", None)
    if isinstance(remaining, int | float) and remaining > 0:
        timeout = min(timeout, max(0.1, remaining - 0.2))  # answer before the engine's kill
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    headers.update({str(k): str(v) for k, v in (input_data.get("headers") or {}).items()})
    follow = bool(input_data.get("follow_redirects", True))
    fail_on_status = bool(input_data.get("fail_on_status", True))

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _failure(FetchFailure("invalid_url", f"not an http(s) URL: {url!r}",
                                     retryable=False), "parameter_error")

    started = time.perf_counter()
    try:
        if httpx is not None:
            response = await _fetch_httpx(url, headers, timeout, max_bytes, follow)
        else:
            response = await asyncio.to_thread(
                _fetch_urllib, url, headers, timeout, max_bytes, follow
            )
    except FetchFailure as failure:
        return _failure(failure, "network_error")
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)

    status = response["status_code"]
    if fail_on_status and status >= 400:
        retryable = status >= 500 or status in (408, 425, 429)
        retry_after = _retry_after(response["headers"].get("retry-after")) if retryable else None
        reason = response.get("reason") or ""
        return _failure(
            FetchFailure(f"http_{status}", f"GET {url} answered {status} {reason}".rstrip(),
                         retryable=retryable, status_code=status, retry_after=retry_after),
            "network_error" if retryable else "execution_error",
        )

    body: bytes = response["body"]
    content_type = response["headers"].get("content-type", "")
    result: dict[str, Any] = {
        "url": url,
        "final_url": response["final_url"],
        "status_code": status,
        "ok": 200 <= status < 400,
        "headers": response["headers"],
        "bytes_read": len(body),
        "truncated": response["truncated"],
        "elapsed_ms": elapsed_ms,
        "client": response["client"],
    }
    if not content_type or any(t in content_type.lower() for t in TEXTUAL):
        encoding = _charset(content_type) or "utf-8"
        try:
            result["body"] = body.decode(encoding, errors="replace")
        except LookupError:
            encoding = "utf-8"
            result["body"] = body.decode(encoding, errors="replace")
        result["encoding"] = encoding
    else:
        result["body_b64"] = base64.b64encode(body).decode("ascii")
    if context is not None:
        context.log.info("GET %s -> %s, %d bytes in %.1f ms", url, status, len(body), elapsed_ms)
    return {
        "success": True,
        "result": result,
        "message": f"GET {url} -> {status}",
        "metadata": {"elapsed_ms": elapsed_ms},
    }


async def _fetch_httpx(url: str, headers: dict[str, str], timeout: float, max_bytes: int,
                       follow: bool) -> dict[str, Any]:
    assert httpx is not None
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=follow,
                              max_redirects=10) as client,
            client.stream("GET", url, headers=headers) as resp,
        ):
            chunks: list[bytes] = []
            size = 0
            truncated = False
            async for chunk in resp.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    truncated = True
                    break
            body = b"".join(chunks)[:max_bytes]
            return {
                "status_code": resp.status_code,
                "reason": resp.reason_phrase,
                "final_url": str(resp.url),
                "headers": _keep(resp.headers.items()),
                "body": body,
                "truncated": truncated,
                "client": "httpx",
            }
    except httpx.TimeoutException as exc:
        raise FetchFailure("timeout", f"GET {url} timed out after {timeout:g} s "
                           f"({type(exc).__name__})", retryable=True) from None
    except httpx.TooManyRedirects:
        raise FetchFailure("too_many_redirects", f"GET {url}: too many redirects",
                           retryable=False) from None
    except httpx.InvalidURL as exc:
        raise FetchFailure("invalid_url", f"invalid URL {url!r}: {exc}",
                           retryable=False) from None
    except httpx.HTTPError as exc:
        raise FetchFailure("connection_failed", f"GET {url} failed: "
                           f"{type(exc).__name__}: {exc}", retryable=True) from None


def _fetch_urllib(url: str, headers: dict[str, str], timeout: float, max_bytes: int,
                  follow: bool) -> dict[str, Any]:
    handlers: list[Any] = [] if follow else [_NoRedirect()]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        resp = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        resp = err  # a status >= 400 (or a redirect not followed): still an answer
    except TimeoutError:
        raise FetchFailure("timeout", f"GET {url} timed out after {timeout:g} s",
                           retryable=True) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise FetchFailure("timeout", f"GET {url} timed out after {timeout:g} s",
                               retryable=True) from None
        raise FetchFailure("connection_failed", f"GET {url} failed: {exc.reason}",
                           retryable=True) from None
    except (ValueError, OSError) as exc:
        raise FetchFailure("connection_failed", f"GET {url} failed: {exc}",
                           retryable=True) from None
    with resp:
        body = resp.read(max_bytes + 1)
        return {
            "status_code": resp.status,
            "reason": getattr(resp, "reason", ""),
            "final_url": resp.geturl(),
            "headers": _keep(resp.headers.items()),
            "body": body[:max_bytes],
            "truncated": len(body) > max_bytes,
            "client": "urllib",
        }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _keep(items: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in items if k.lower() in KEPT_HEADERS}


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"'")
    return None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: left to the engine's own backoff


def _failure(failure: FetchFailure, error_type: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "success": False,
        "result": None,
        "error": {"code": failure.code, "message": str(failure)},
        "message": str(failure),
        "error_type": error_type,
        "retryable": failure.retryable,
        "status_code": failure.status_code,
    }
    if failure.retry_after is not None:
        answer["retry_after"] = failure.retry_after
    return answer
