"""Hop stamps for ``trace_rtt.py``: CLOCK_MONOTONIC (``time.monotonic_ns``, one clock for
every process of the machine) at each hop of a round trip, appended to a file per process.

``install(role)`` wraps the functions a round trip passes through, in the client (``C``),
a skillexec worker (``W``) or a bare Celery worker (``B``). Each stamp is one ``os.write``
to an O_APPEND file (a few µs): the calls are one at a time, so a stamp belongs to the
call whose window holds it (``trace_rtt.py`` reads them back)."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

_FD = [-1]
_ROLE = ["?"]


def stamp(label: str) -> None:
    if _FD[0] >= 0:
        os.write(_FD[0], f"{time.monotonic_ns()} {_ROLE[0]}.{label} {time.thread_time_ns()} "
                         f"{os.getpid()}.{threading.get_ident()}\n".encode())


def _wrap(owner: Any, name: str, before: str | None, after: str | None) -> None:
    fn = getattr(owner, name)
    if _is_async(fn):
        @functools.wraps(fn)
        async def awrapped(*a: Any, **k: Any) -> Any:
            if before:
                stamp(before)
            try:
                return await fn(*a, **k)
            finally:
                if after:
                    stamp(after)
        setattr(owner, name, awrapped)
        return

    @functools.wraps(fn)
    def wrapped(*a: Any, **k: Any) -> Any:
        if before:
            stamp(before)
        try:
            return fn(*a, **k)
        finally:
            if after:
                stamp(after)
    setattr(owner, name, wrapped)


def _is_async(fn: Callable[..., Any]) -> bool:
    import inspect
    return inspect.iscoroutinefunction(fn)


def install(role: str, directory: str) -> None:
    _ROLE[0] = role
    _FD[0] = os.open(os.path.join(directory, f"{role}-{os.getpid()}.txt"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    from kombu.transport import redis as kredis
    _wrap(kredis.Channel, "_brpop_read", "brpop.read", None)
    from kombu import messaging
    _wrap(messaging.Consumer, "_receive_callback", "kombu.callback", None)
    from celery import signals
    signals.task_prerun.connect(lambda **_: stamp("task.start"), weak=False)
    signals.task_postrun.connect(lambda **_: stamp("task.end"), weak=False)
    if role == "B":
        return
    from skillexec.distributed.transport import Transport
    from skillexec.storage import postgres
    from skillexec.storage.postgres_notify import FinishedListener
    _wrap(postgres.PostgresStore, "_commit", "commit.begin", "commit.acked")
    _wrap(postgres.PostgresStore, "_sent", None, "commit.sent")
    _wrap(postgres, "place_audit", None, "commit.placed")
    _wrap(postgres, "fence_answers", "commit.synced", None)
    _wrap(Transport, "_send", "publish.begin", "publish.end")
    _wrap(FinishedListener, "_heard", "notify.heard", None)
    from skillexec.distributed import fenced, ledger, node, worker
    if os.environ.get("HOPS_PROFILE") and role == "W":
        _profile_loop(worker, directory)
    from skillexec.pipeline import remote
    _wrap(worker.EarlyStarts, "received", "received", "received.end")
    _wrap(kredis.Channel, "_brpop_start", "brpop.start", None)
    from skillexec.distributed import early
    _wrap(early.EarlyClaims, "send", None, "claim.sent")
    _wrap(early.SentClaim, "answer", "claim.answer", "claim.answered")
    _wrap(worker.EarlyStarts, "pop", "pool.pop", None)
    _wrap(node.WorkerNode, "handle_many", "loop.handle", "handled")
    _wrap(ledger.Ledger, "_claim_requests", "claim.begin", "claim.acked")
    _wrap(remote.ClaimedRuns, "run", "run.begin", None)
    _wrap(fenced.FencedStore, "finished", "finish.call", None)
    from skillexec import engine
    _wrap(engine.SkillExecutionEngine, "execute", "execute.enter", "execute.return")
    from skillexec.pipeline import tasks
    _wrap(tasks.LiveTasks, "wait", "wait.enter", None)


def _profile_loop(worker: Any, directory: str) -> None:
    """The engine loop thread under cProfile (its stats written when the loop stops)."""
    import asyncio
    import cProfile

    def init(self: Any) -> None:
        self.loop = asyncio.new_event_loop()

        def run() -> None:
            prof = cProfile.Profile()
            prof.enable()
            try:
                self.loop.run_forever()
            finally:
                prof.disable()
                prof.dump_stats(os.path.join(directory, f"loop-{os.getpid()}.prof"))
        self._thread = threading.Thread(target=run, daemon=True, name="skillexec-engine")
        self._thread.start()
    worker.EngineLoop.__init__ = init
