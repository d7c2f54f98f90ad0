"""Where alerts go: the log, a webhook (HTTP POST, retried), or a Python callback."""

from __future__ import annotations

import asyncio
import inspect
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from skillexec.monitoring.rules import Alert

__all__ = ["CallbackNotifier", "LogNotifier", "Notifier", "WebhookNotifier"]

_log = logging.getLogger("skillexec.alerts")


@runtime_checkable
class Notifier(Protocol):
    async def notify(self, alert: Alert) -> None: ...


class LogNotifier:
    """The structured log (``critical`` alerts at error level, the others at warning)."""

    def __init__(self, logger: Any) -> None:
        self._log = logger

    async def notify(self, alert: Alert) -> None:
        level = "error" if alert.severity == "critical" and alert.state == "firing" \
            else "warning"
        fields = alert.to_dict()
        getattr(self._log, level)("alert", **{("alert_" + k if k in ("at", "message") else k): v
                                              for k, v in fields.items()})


class WebhookNotifier:
    """POSTs the alert as JSON; retries with backoff on connection errors and 5xx/429."""

    def __init__(self, url: str, *, retries: int = 3, timeout_s: float = 5.0,
                 backoff_s: float = 0.5, headers: Mapping[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s): {url!r}")
        self.url = url
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.headers = {"Content-Type": "application/json",
                        "User-Agent": "skillexec-alerts", **(headers or {})}
        self.delivered = 0
        self.failed = 0

    def _post(self, body: bytes) -> int:
        # The scheme was checked to be http(s) in __init__.
        req = urllib.request.Request(self.url, data=body, headers=self.headers,  # noqa: S310
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    async def notify(self, alert: Alert) -> None:
        body = orjson.dumps({"source": "skillexec", "alert": alert.to_dict()})
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                code = await asyncio.to_thread(self._post, body)
                if code < 300:
                    self.delivered += 1
                    return
                last = f"HTTP {code}"
                if code < 500 and code != 429:
                    break  # the receiver refuses it: retrying will not help
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * (2 ** attempt))
        self.failed += 1
        _log.warning("alert webhook %s failed after %d tries: %s", self.url,
                     self.retries + 1, last)


class CallbackNotifier:
    """Calls ``fn(alert)``: a plain function or a coroutine function."""

    def __init__(self, fn: Callable[[Alert], Any]) -> None:
        self.fn = fn

    async def notify(self, alert: Alert) -> None:
        value = self.fn(alert)
        if inspect.isawaitable(value):
            await value
