"""A real skillexec service on a local port, in a thread, for the HTTP tests.

``running(tmp_path)`` starts uvicorn with the service over an engine that has the test
skills below, on a free port; ``call(coro)`` runs a coroutine on the server's loop (to make
keys with the engine's own API); leaving the block stops the server as SIGTERM would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from skillexec import SkillExecutionEngine, skill
from skillexec.config import EngineConfig
from skillexec.service import create_app
from skillexec.service.app import served
from skillexec.service.server import bind
from skillexec.service.state import ServiceState

T = TypeVar("T")


@skill("echo", tags=["demo", "text"], description="Echo a text back, some times over")
def echo(text: str = "hi", times: int = 1) -> dict[str, Any]:
    return {"text": text * times}


@skill("slow", description="Sleep in steps, reporting progress")
async def slow(seconds: float = 0.5, steps: int = 5, context: Any = None) -> dict[str, Any]:
    for i in range(steps):
        await asyncio.sleep(seconds / max(1, steps))
        context.progress((i + 1) / steps, f"step {i + 1}")
    return {"done": True, "steps": steps}


@skill("boom", max_retries=0, description="Always fails")
def boom() -> None:
    raise ValueError("it broke on purpose")


@skill("report", description="Writes a small report artifact")
def report(title: str = "r", context: Any = None) -> dict[str, Any]:
    context.save_artifact("report.txt", f"# {title}\n", "text/plain")
    return {"written": True}


@skill("answer", description="Answers a task text (Py Copilot's execute sends one)")
def answer(task: str, shout: bool = False) -> str:
    return task.upper() if shout else task


SKILLS = (echo, slow, boom, report, answer)


@dataclass
class Server:
    base_url: str
    engine: SkillExecutionEngine
    state: ServiceState
    loop: asyncio.AbstractEventLoop
    server: uvicorn.Server
    keys: dict[str, str] = field(default_factory=dict)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def key(self, role: str, *, name: str | None = None, skills: list[str] | None = None,
            permissions: list[str] | None = None) -> str:
        """A new API key of ``role`` (made with the engine's own key API)."""
        _info, raw = self.call(self.engine.keys.create(name=name or role, role=role,
                                                       skills=skills, permissions=permissions))
        return str(raw)

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kw)


@contextlib.contextmanager
def running(tmp_path: Path, *, insecure: bool = False, service: dict[str, Any] | None = None,
            **config: Any) -> Iterator[Server]:
    cfg = EngineConfig(data_dir=tmp_path / "data", service=service or {}, **config)
    engine = SkillExecutionEngine(config=cfg)
    for fn in SKILLS:
        engine.register(fn)
    app = create_app(engine, insecure_no_auth=insecure)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(served(app), log_level="warning", access_log=False,
                                       timeout_graceful_shutdown=5, lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(uv.serve(sockets=[sock]),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield Server(f"http://127.0.0.1:{port}", engine, app.state.service, loop, uv)
    finally:
        loop.call_soon_threadsafe(app.state.service.draining.set)
        uv.should_exit = True
        thread.join(30)
        sock.close()
        loop.run_until_complete(_cancel_left())
        loop.close()


async def _cancel_left() -> None:
    """Tasks a server leaves on its loop (sse-starlette's shutdown watcher)."""
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


def sse_events(text: str) -> list[dict[str, str]]:
    """Server-sent events of a whole stream, as dicts of their fields (comments dropped)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if fields:
            events.append(fields)
    return events
