"""Transport: the Celery app that carries task ids (never parameters) between nodes.

JSON only, no result backend (the journal is the result store), late ack with a prefetch of
one (the fenced claim makes a redelivery harmless), broker priorities mapped from
skillexec's 0-9 (9 highest): RabbitMQ queues declared with ``x-max-priority``; Redis lists
per priority step, where 0 is served first, hence ``9 - p``.

The broker is a doorbell: one message may ring for several tasks. The ids published in one
turn of the event loop (the submissions one group commit answered) leave together at the
end of that turn, one message per queue and priority of up to ``ids_per_message`` ids (a
list; a single id stays a plain string). Nothing waits for a batch to fill: a lone task
leaves on the next turn. A thread of the transport's own sends them, so that the event
loop goes on (a submission's commit, other callers) while the broker answers.
"""

from __future__ import annotations

import asyncio
import logging
import queue as queue_mod
import threading
from typing import Any

from celery import Celery
from celery.utils import uuid
from kombu.entity import Queue

__all__ = ["RUN_TASK", "Transport", "broker_priority", "celery_app"]

RUN_TASK = "skillexec.run"
log = logging.getLogger("skillexec.distributed")
_MAX_PRIORITY = 9


def _is_redis(broker_url: str) -> bool:
    return broker_url.startswith(("redis://", "rediss://"))


def broker_priority(broker_url: str, priority: int) -> int:
    """skillexec's priority (0-9, higher first) as the broker orders it."""
    p = min(max(priority, 0), _MAX_PRIORITY)
    return _MAX_PRIORITY - p if _is_redis(broker_url) else p


def celery_app(broker_url: str, queues: list[str]) -> Celery:
    app = Celery("skillexec", broker=broker_url, set_as_current=False)
    transport: dict[str, Any] = {}
    if _is_redis(broker_url):
        transport = {"queue_order_strategy": "priority",
                     "priority_steps": list(range(_MAX_PRIORITY + 1)),
                     "sep": ":",
                     # The lease, not Redis' visibility timeout, decides when a task is
                     # taken back; a long timeout keeps Redis from re-delivering live work.
                     "visibility_timeout": 43_200}
    else:
        transport = {"confirm_publish": True}
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_serializer="json",
        result_accept_content=["json"], task_ignore_result=True, result_backend=None,
        task_acks_late=True, worker_prefetch_multiplier=1,
        task_queues=[Queue(q, queue_arguments={"x-max-priority": _MAX_PRIORITY + 1})  # type: ignore[no-untyped-call]
                     for q in queues],
        task_default_queue=queues[0], task_create_missing_queues=False,
        broker_transport_options=transport, broker_connection_retry_on_startup=True,
        # Celery's defaults for events (off until Flower or `celery control enable_events`
        # turns them on through remote control, which stays on): three event messages per
        # task would cost more than the no-op itself.
        worker_hijack_root_logger=False, worker_enable_remote_control=True,
    )
    return app


class Transport:
    """The publishing side: the ids of one loop turn, a message per queue and priority,
    sent from a thread of its own (the bell ringer)."""

    def __init__(self, broker_url: str, queue: str, *, ids_per_message: int = 64) -> None:
        self.broker_url = broker_url
        self.queue = queue
        self.ids_per_message = ids_per_message
        self.app = celery_app(broker_url, [queue])
        self._bells: dict[tuple[str, int], list[str]] = {}
        self._ringing = False
        # Messages rung for, waiting for the ringer; None: stop. The loop never waits for
        # the broker's reply (a Redis or AMQP round trip): the group commit an execute()
        # queued in the same turn goes out meanwhile (RemoteEnqueue.enqueue).
        self._outbox: queue_mod.SimpleQueue[list[tuple[str, int, list[str]]] | None] = \
            queue_mod.SimpleQueue()
        self._ringer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._producer: Any = None  # the ringer's (kombu's Producer)
        self.messages = 0  # rung for (tests, the bench)

    def publish(self, task_id: str, *, priority: int, queue: str | None = None) -> None:
        """Ring for the task: at the end of this loop turn (now, outside a loop, or with
        ``ids_per_message`` 1). A failure is logged there; the journal holds the task, and
        the reconciler publishes it again."""
        q = queue or self.queue
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._send(q, priority, [task_id])
            self.messages += 1
            return
        self._bells.setdefault((q, priority), []).append(task_id)
        if self.ids_per_message == 1:
            self._ring()
        elif not self._ringing:
            self._ringing = True
            loop.call_soon(self._ring)

    def _ring(self) -> None:
        self._ringing = False
        bells, self._bells = self._bells, {}
        messages = [(queue, priority, ids[lo:lo + self.ids_per_message])
                    for (queue, priority), ids in bells.items()
                    for lo in range(0, len(ids), self.ids_per_message)]
        if not messages:
            return
        self.messages += len(messages)
        with self._lock:
            if self._ringer is None:
                self._ringer = threading.Thread(target=self._ring_out, daemon=True,
                                                name="skillexec-publish")
                self._ringer.start()
        self._outbox.put(messages)

    def _ring_out(self) -> None:
        while (messages := self._outbox.get()) is not None:
            for queue, priority, ids in messages:
                try:
                    self._send(queue, priority, ids)
                except Exception as exc:  # the next sweep publishes them again
                    log.warning("%d task ids journaled but not published (%s); a worker's "
                                "reconciler will publish them", len(ids), exc)

    def _send(self, queue: str, priority: int, ids: list[str]) -> None:
        """Publish one message (the ringer's, or a caller's outside a loop). The ringer
        holds a producer of its own (one connection, the queue declared on it once, as
        kombu caches it): ``send_task`` would take one from the pool, route and declare
        per message, about twice the CPU of the message itself."""
        one = len(ids) == 1
        args = (ids[0] if one else ids,)
        if threading.current_thread() is not self._ringer:
            self.app.send_task(RUN_TASK, args=args, queue=queue,
                               priority=broker_priority(self.broker_url, priority),
                               task_id=ids[0] if one else None)
            return
        amqp = self.app.amqp
        if self._producer is None:
            self._producer = amqp.Producer(self.app.connection_for_write())
        q = amqp.queues[queue]
        message = amqp.create_task_message(ids[0] if one else uuid(), RUN_TASK, args, {},
                                           argsrepr=repr(args), kwargsrepr="{}")
        try:
            amqp.send_task_message(self._producer, RUN_TASK, message, queue=q, declare=[q],
                                   priority=broker_priority(self.broker_url, priority))
        except Exception:
            self._producer.connection.release()  # a new connection for the next message
            self._producer = None
            raise

    def ping(self) -> None:
        """Connect to the broker once (``doctor``); raises what kombu raises."""
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)

    def close(self) -> None:
        """Send what was rung for (and what a turn that never ended holds), then close."""
        self._ring()
        with self._lock:
            ringer, self._ringer = self._ringer, None
        if ringer is not None:
            self._outbox.put(None)
            ringer.join(timeout=30)
        if self._producer is not None:
            self._producer.connection.release()
            self._producer = None
        self.app.close()
