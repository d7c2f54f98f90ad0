"""Transport: the Celery app that carries task ids (never parameters) between nodes.

JSON only, no result backend (the journal is the result store), late ack with a prefetch of
one (the fenced claim makes a redelivery harmless), broker priorities mapped from
skillexec's 0-9 (9 highest): RabbitMQ queues declared with ``x-max-priority``; Redis lists
per priority step, where 0 is served first, hence ``9 - p``.

The broker is a doorbell: one message may ring for several tasks. The ids published in one
turn of the event loop (the submissions one group commit answered) leave together at the
end of that turn, one message per queue and priority of up to ``ids_per_message`` ids (a
list; a single id stays a plain string). Nothing waits for a batch to fill: a lone task
leaves on the next turn.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from celery import Celery
from celery.utils import uuid
from kombu.entity import Queue

from skillexec.distributed.bell import RedisBell

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
        task_queues=[_queue(q) for q in queues],
        task_default_queue=queues[0], task_create_missing_queues=False,
        broker_transport_options=transport, broker_connection_retry_on_startup=True,
        # Celery's defaults for events (off until Flower or `celery control enable_events`
        # turns them on through remote control, which stays on): three event messages per
        # task would cost more than the no-op itself.
        worker_hijack_root_logger=False, worker_enable_remote_control=True,
        # The broker lost (restarted, the connection closed): the tasks running here run on
        # to their journaled end; their redelivered messages are refused by the claim (a
        # live lease, or ended). Celery 6 would cancel them instead: pinned, not inherited.
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


def _queue(name: str) -> Queue:
    """A queue as every node declares it (RabbitMQ refuses one declared otherwise)."""
    return Queue(name, queue_arguments={"x-max-priority": _MAX_PRIORITY + 1})  # type: ignore[no-untyped-call]


class Transport:
    """The publishing side: the ids of one loop turn, a message per queue and priority."""

    def __init__(self, broker_url: str, queue: str, *, ids_per_message: int = 64) -> None:
        self.broker_url = broker_url
        self.queue = queue
        self.ids_per_message = ids_per_message
        self.app = celery_app(broker_url, [queue])
        self._bells: dict[tuple[str, int], list[str]] = {}
        self._ringing = False
        self._lock = threading.Lock()  # the producer's (close() may come from elsewhere)
        self._producer: Any = None  # kombu's Producer, held: see _send
        # On Redis, a queue's first message goes through kombu (which declares the queue),
        # the others straight onto its list (RedisBell: a fifth of kombu's CPU).
        self._bell = RedisBell(broker_url, RUN_TASK) if broker_url.startswith("redis://") \
            else None
        self._declared: set[str] = set()
        self.messages = 0  # sent (tests, the bench)

    def publish(self, task_id: str, *, priority: int, queue: str | None = None) -> None:
        """Ring for the task: at the end of this loop turn (now, outside a loop, or with
        ``ids_per_message`` 1). A failure is logged there; the journal holds the task, and
        the reconciler publishes it again."""
        q = queue or self.queue
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.ids_per_message == 1:
            self._send(q, priority, [task_id])
            return
        self._bells.setdefault((q, priority), []).append(task_id)
        if not self._ringing:
            self._ringing = True
            loop.call_soon(self._ring)

    def _ring(self) -> None:
        self._ringing = False
        bells, self._bells = self._bells, {}
        for (queue, priority), ids in bells.items():
            for lo in range(0, len(ids), self.ids_per_message):
                chunk = ids[lo:lo + self.ids_per_message]
                try:
                    self._send(queue, priority, chunk)
                except Exception as exc:  # the next sweep publishes them again
                    log.warning("%d task ids journaled but not published (%s); a worker's "
                                "reconciler will publish them", len(chunk), exc)

    def _send(self, queue: str, priority: int, ids: list[str]) -> None:
        """One message, through a producer held across messages (one connection, the
        queue's declaration cached on it by kombu): ``send_task`` would take one from the
        pool and route each message, about twice the CPU of the message itself."""
        one = len(ids) == 1
        if self._bell is not None and queue in self._declared:
            self._bell.ring(queue, broker_priority(self.broker_url, priority),
                            ids[0] if one else uuid(), ids[0] if one else ids)
            self.messages += 1
            return
        args = (ids[0] if one else ids,)
        amqp = self.app.amqp
        q = amqp.queues.get(queue)
        if q is None:  # another queue than this node's (a reconciler publishing again)
            q = amqp.queues.add(_queue(queue))
        message = amqp.create_task_message(ids[0] if one else uuid(), RUN_TASK, args, {},
                                           argsrepr=repr(args), kwargsrepr="{}")
        with self._lock:
            if self._producer is None:
                self._producer = amqp.Producer(self.app.connection_for_write())
            try:
                amqp.send_task_message(self._producer, RUN_TASK, message, queue=q,
                                       declare=[q],
                                       priority=broker_priority(self.broker_url, priority))
            except Exception:
                self._release()  # a new connection for the next message
                raise
        self._declared.add(queue)
        self.messages += 1

    def _release(self) -> None:
        if self._producer is not None:
            self._producer.connection.release()
            self._producer = None

    def ping(self) -> None:
        """Connect to the broker once (``doctor``); raises what kombu raises."""
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)

    def close(self) -> None:
        if self._bells:  # rung in a turn that never ended: send now
            self._ring()
        with self._lock:
            self._release()
        if self._bell is not None:
            self._bell.close()
        self.app.close()
