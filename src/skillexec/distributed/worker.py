"""run_worker: a Celery worker (threads pool) whose task handler feeds a WorkerNode.

Why threads and one event-loop thread: the engine is asyncio, and Celery has no asyncio
pool (celery-aio-pool is a pre-release). A prefork pool would need an engine per child and
gives nothing here: the skill itself already runs in the engine's runners (threads,
processes, sandboxes). So Celery's pool threads only wait: the consumer thread hands a
message's task ids to the loop as it receives it (``EarlyStarts``, on ``task_received``),
and the pool thread that runs the Celery task blocks until those tasks ended, which is also
what makes late ack mean "acked once the journal holds the end".
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from celery.exceptions import Reject
from celery.signals import task_received, worker_init, worker_shutting_down

from skillexec.distributed.early import EarlyClaims, SentClaim
from skillexec.distributed.fenced import FencedStore
from skillexec.distributed.ledger import Ledger
from skillexec.distributed.metrics import NodeMetrics
from skillexec.distributed.node import (
    Delivery,
    NodeEngine,
    NodeSettings,
    WorkerNode,
    new_worker_id,
)
from skillexec.distributed.poison import valid_task_id
from skillexec.distributed.pool import waiting_pool
from skillexec.distributed.transport import RUN_TASK, Transport, broker_priority, celery_app
from skillexec.errors import ConfigError
from skillexec.storage.store import TaskStore

__all__ = ["EngineLoop", "run_worker"]

log = logging.getLogger("skillexec.distributed")
T = TypeVar("T")


class EngineLoop:
    """An asyncio loop on a thread of its own; other threads run coroutines on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="skillexec-engine")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class EarlyStarts:
    """A message's ids handed to the node's loop by Celery's consumer thread as it
    receives the message, not later by the pool thread that runs the task: the loop starts
    the claim while the pool thread is still waking (one thread hop less before the claim).
    The pool thread then only waits for what was started (late ack: acked once the ends
    are journaled). Celery's prefetch still bounds the messages received, hence started."""

    def __init__(self, engine_loop: EngineLoop, node: WorkerNode, broker_url: str,
                 queues: list[str], early: EarlyClaims | None = None) -> None:
        self.engine_loop = engine_loop
        self.node = node
        self.broker_url = broker_url
        self.queues = queues
        self.early = early  # a lone id's claim sent from here, as its message arrives
        self._started: dict[str, list[Future[list[Delivery]]]] = {}
        self._lock = threading.Lock()

    def received(self, request: Any = None, **_: Any) -> None:
        if getattr(request, "name", None) != RUN_TASK or not request.args:
            return
        ids = request.args[0]
        sent = None
        if self.early is not None and valid_task_id(ids) and self.node.early_ok:
            sent = self.early.send(ids)
        started = self.start(ids, request.delivery_info, sent=sent)
        with self._lock:
            self._started.setdefault(request.id, []).append(started)

    def peek(self, message_id: str) -> Future[list[Delivery]] | None:
        """What was started first for this message (left for ``pop``)."""
        with self._lock:
            started = self._started.get(message_id)
            return started[0] if started else None

    def pop(self, message_id: str) -> Future[list[Delivery]] | None:
        """What was started for this message (a message published twice under one id
        carries the same ids: either start serves either)."""
        with self._lock:
            started = self._started.get(message_id)
            if not started:
                return None
            first = started.pop(0)
            if not started:
                del self._started[message_id]
            return first

    def start(self, task_ids: str | list[str], delivery_info: dict[str, Any] | None, *,
              sent: SentClaim | None = None) -> Future[list[Delivery]]:
        # A message rings for one task (a string) or several (a list, Transport).
        ids = [task_ids] if isinstance(task_ids, str) else [str(t) for t in task_ids]
        # Ids handed back go where the message came from, at its priority.
        info = delivery_info or {}
        p, q = info.get("priority"), info.get("routing_key")
        return asyncio.run_coroutine_threadsafe(self.node.handle_many(
            ids, priority=broker_priority(self.broker_url, p) if isinstance(p, int) else 5,
            queue=q if q in self.queues else None, sent=sent), self.engine_loop.loop)


def run_worker(*, broker_url: str, settings: NodeSettings, journal: TaskStore,
               make_engine: Callable[[TaskStore], NodeEngine], concurrency: int,
               queues: list[str], metrics_port: int | None = None,
               loglevel: str = "WARNING", artifacts_dir: Path | None = None) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean shutdown. ``artifacts_dir``: where the
    engine keeps artifact files (those no record names any more are removed)."""
    if settings.database_url is None:
        raise ConfigError("distributed mode needs PostgreSQL: set distributed.database_url "
                          "(SKILLEXEC_DISTRIBUTED__DATABASE_URL)", code="no_database_url")
    publisher = Transport(broker_url, queues[0])
    try:
        _refuses(publisher)
    except BaseException:
        publisher.close()
        raise
    worker_id = new_worker_id()
    ledger = Ledger(settings.database_url, worker_id=worker_id, lease_s=settings.lease_s)
    store = FencedStore(journal, ledger)
    metrics = NodeMetrics()
    metrics.fenced_out.set_function(lambda: store.fenced_out)
    engine_loop = EngineLoop()
    node = WorkerNode(engine=make_engine(store.journal()), store=store, ledger=ledger,
                      publisher=publisher, settings=settings, queues=queues, metrics=metrics,
                      slots=concurrency, artifacts_dir=artifacts_dir)
    if metrics_port is not None:  # a port in use is refused before the node registers
        metrics.serve(metrics_port)
    try:
        engine_loop.run(node.start(), timeout_s=120)
    except BaseException:
        engine_loop.stop()
        raise
    app = celery_app(broker_url, queues)
    claims = None
    if store.folded is not None:  # the claim and the request in one statement
        claims = EarlyClaims(ledger, queue=queues[0])
        claims.open()
    early = EarlyStarts(engine_loop, node, broker_url, queues, claims)

    @app.task(name=RUN_TASK, bind=True, acks_late=True)  # type: ignore[untyped-decorator]
    def run(self: Any, task_ids: str | list[str]) -> None:
        # Started when the consumer received the message (EarlyStarts); else here.
        started = early.pop(self.request.id)
        if started is None:
            started = early.start(task_ids, self.request.delivery_info)
        deliveries = started.result()
        if any(d.outcome == "requeue" for d in deliveries):
            # Back whole: its ids that ran here are refused when it comes again (ended).
            raise Reject(_CANNOT_CLAIM, requeue=True)

    task_received.connect(early.received, weak=False)
    celery_trace = logging.getLogger("celery.app.trace")
    celery_trace.addFilter(_requeue_without_traceback)

    def on_shutdown(**_: Any) -> None:
        # What waits for a slot here goes back now (it never started: node.drain). Warm
        # shutdown waits for the running handlers; after the grace period, give back
        # what still runs so that they return (and are acked) and others take the tasks.
        engine_loop.loop.call_soon_threadsafe(node.drain)

        def later() -> None:
            if not done.wait(settings.shutdown_grace_s):
                handed = engine_loop.run(node.hand_back(), timeout_s=60)
                log.warning("shutdown: handed back %d tasks", len(handed))
        threading.Thread(target=later, daemon=True, name="skillexec-grace").start()

    done = threading.Event()
    worker_shutting_down.connect(on_shutdown, weak=False)
    # Celery's worker itself, for its exit code: ``app.start`` drops it (click 8.2+ returns
    # what ``ctx.exit(1)`` gave instead of raising, and Celery ignores the return).
    controllers: list[Any] = []

    def on_init(sender: Any = None, **_: Any) -> None:
        controllers.append(sender)

    worker_init.connect(on_init, weak=False)
    try:
        # Celery's threads pool, but a message started on arrival takes a thread only once
        # its tasks ended (the pool's class is given as the setting: -P names built-ins).
        app.conf.worker_pool = waiting_pool(early.peek)
        # app.start, not worker_main, for Celery's exit code: an unrecoverable error (a
        # broker that closed on the worker) is not a clean shutdown.
        code = app.start(["worker", f"--concurrency={concurrency}",
                          f"--queues={','.join(queues)}", f"--loglevel={loglevel}",
                          "--without-gossip", "--without-mingle",
                          f"--hostname=skillexec.{os.getpid()}@%h"])
        if not code and controllers:
            code = getattr(controllers[-1], "exitcode", None)
    finally:
        done.set()
        worker_init.disconnect(on_init)
        worker_shutting_down.disconnect(on_shutdown)
        task_received.disconnect(early.received)
        celery_trace.removeFilter(_requeue_without_traceback)
        try:
            engine_loop.run(node.close(grace_s=settings.shutdown_grace_s), timeout_s=120)
        finally:
            engine_loop.stop()
            publisher.close()
            if claims is not None:
                claims.close()
    return int(code or 0)


_CANNOT_CLAIM = "this worker cannot claim now"


def _requeue_without_traceback(record: logging.LogRecord) -> bool:
    """Celery logs each Reject with its traceback, as if the handler had crashed; a
    message given back because the claim could not be made (the database out of reach:
    the node's log says why) keeps its one line, not the traceback."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, Reject) and exc.reason == _CANNOT_CLAIM:
        record.exc_info = record.exc_text = None
    return True


# What a broker says when it will not have this worker (its login, its virtual host): no
# retry changes that. Whatever else (not answering yet) is Celery's to retry at start.
_REFUSALS = ("ACCESS_REFUSED", "NOT_ALLOWED", "WRONGPASS", "NOAUTH", "invalid password",
             "invalid username-password")


def _refuses(transport: Transport) -> None:
    """One connection to the broker before the node registers: one that refuses this
    worker is said in one sentence, where Celery ended on it with its traceback."""
    try:
        transport.ping()
    except Exception as exc:
        said = " ".join(str(exc).split())
        if any(r.lower() in said.lower() for r in _REFUSALS):
            raise ConfigError(f"the broker refused this worker: {said}",
                              code="broker_refused") from None
