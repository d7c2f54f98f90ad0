"""Running the service: uvicorn on a socket of ours, draining on SIGTERM.

On SIGTERM (or Ctrl-C) the service first *drains*: /health answers 503, new executions 503
with Retry-After, every open event stream sends ``event: shutdown`` and ends, WebSockets
close with 1001. Then uvicorn stops as usual: in-flight requests get ``shutdown_grace_s``,
and the lifespan closes the engine (running tasks get the same grace; what is left stays in
the journal for the next start). Open streams never hold the process up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import uvicorn

from skillexec.engine import SkillExecutionEngine
from skillexec.service.app import create_app, served
from skillexec.service.state import ServiceState

__all__ = ["bind", "serve"]

_GEN0 = 10_000  # allocations between young collections (Python's default: 700)


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServiceState, *, banner: str) -> None:
        super().__init__(config)
        self._service = state
        self._banner = banner
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        # Started here, on uvicorn's loop, before its lifespan (whose start() is then a
        # no-op): an engine that cannot start (a data folder it cannot open, a journal
        # database it cannot reach) raises to the caller, not into uvicorn's traceback.
        engine = self._service.engine
        # Warmed up in the background: a skill whose import hangs holds up its own calls,
        # not /health and every other skill's (the service was unreachable meanwhile).
        await engine.start(warm_in_background=True)
        sys.stderr.write(self._banner)
        sys.stderr.flush()
        try:
            await super().serve(sockets=sockets)
        finally:  # a no-op once the lifespan has closed it
            await engine.close(grace_s=self._service.settings.shutdown_grace_s)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        _settle_gc()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None:  # a signal handler: the loop may be mid-step
            self._loop.call_soon_threadsafe(self._service.draining.set)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, without raising the signal again once stopped: a service that
        drained and stopped as asked exits 0, not killed by the signal."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        before = {sig: signal.signal(sig, self.handle_exit)
                  for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)


# api_key, or api%5Fkey (which the query parser reads as api_key all the same)
_KEY_IN_URL = re.compile(r"([?&]api(?:_|%5f)key=)[^&\s\"]*", re.IGNORECASE)


class _NoKeyInUrls(logging.Filter):
    """uvicorn logs a WebSocket's whole URL at info (and a request's, with its access log):
    a key sent as ``?api_key=`` would be printed whole. It is ``[redacted]`` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(a, str) and "key=" in a.lower() for a in record.args):
            record.args = tuple(_KEY_IN_URL.sub(r"\1[redacted]", a) if isinstance(a, str)
                                else a for a in record.args)
        return True


def _redact_keys_in_urls() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoKeyInUrls) for f in logger.filters):
            logger.addFilter(_NoKeyInUrls())


def _settle_gc() -> None:
    """Once started: what start-up made (modules, the app, the engine) moves out of the
    collector's sight, and the young generation is collected less often. Every full
    collection otherwise walks all of it, on the event loop, while requests wait — the
    stalls behind the execute route's p99 (bench_http.py). The process is ours (this is
    ``skillexec serve``), so its collector is ours to tune; an application embedding
    :func:`~skillexec.service.app.create_app` keeps its own."""
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, _GEN0), gen1, gen2)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (OSError when the address cannot be had)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(engine: SkillExecutionEngine, sock: socket.socket, *,
          insecure_no_auth: bool = False, log_level: str = "warning",
          access_log: bool = True, notes: str = "") -> None:
    """Serve until SIGTERM/SIGINT (blocking). ``access_log``: one JSON line per request
    on stderr (the ``skillexec.http`` logger; an application may route it elsewhere).
    ``notes``: lines for stderr after the banner, once the service has started."""
    if access_log:
        http_log = logging.getLogger("skillexec.http")
        if not http_log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            http_log.addHandler(handler)
            http_log.propagate = False
        http_log.setLevel(logging.INFO)
    host, port = sock.getsockname()[:2]
    app = create_app(engine, insecure_no_auth=insecure_no_auth, host=host)
    state: ServiceState = app.state.service
    config = uvicorn.Config(
        served(app), log_level=log_level, access_log=False,  # our access log is structured
        timeout_graceful_shutdown=max(1, int(state.settings.shutdown_grace_s) or 1),
        lifespan="on", ws_max_size=1 << 20, proxy_headers=False)
    _redact_keys_in_urls()  # after the Config: it sets uvicorn's logging up
    shown = f"[{host}]" if ":" in host else host
    docs = "/docs" if state.settings.api_docs else "/openapi.json"
    banner = f"skillexec: serving http://{shown}:{port} (API docs at {docs}, dashboard at /)\n"
    if insecure_no_auth:
        banner += ("skillexec: WARNING: authentication is DISABLED (--insecure-no-auth): "
                   "anyone who can reach this port can run skills as admin. For local "
                   "development only.\n")
    banner += notes
    _DrainingServer(config, state, banner=banner).run(sockets=[sock])
