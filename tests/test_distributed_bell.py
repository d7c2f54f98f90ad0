"""The Redis doorbell: after a queue's first message (kombu's, which declares the queue),
task messages are LPUSHed as kombu writes them (``RedisBell``), onto the list of their
priority step. The workers reading them are Celery's own (tests/test_distributed*.py)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import redis

from skillexec.distributed.bell import RedisBell
from skillexec.distributed.transport import Transport
from tests._distributed import REDIS, need


def _read(r: redis.Redis, key: str) -> dict[str, Any]:
    raw = r.rpop(key)
    assert isinstance(raw, bytes), f"no message on {key}"
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def _without_ids(m: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in m["headers"].items()
               if k not in ("id", "root_id", "argsrepr")}
    properties = {k: v for k, v in m["properties"].items()
                  if k not in ("correlation_id", "delivery_tag")}
    return {**m, "headers": headers, "properties": properties, "body": m["body"][1:]}


def test_a_rung_message_is_the_one_kombu_writes_on_the_same_list() -> None:
    need(REDIS)
    queue = f"bell-{uuid.uuid4().hex[:8]}"
    transport = Transport(REDIS, queue, ids_per_message=1)
    r = redis.Redis.from_url(REDIS)
    try:
        assert isinstance(transport._bell, RedisBell)
        transport.publish("a" * 24, priority=7)  # kombu's (declares the queue)
        transport.publish("b" * 24, priority=7)  # the bell's
        transport._send(queue, 5, ["c" * 24, "d" * 24])  # many ids: a list, its own id
        assert transport.messages == 3
        # Redis priority steps: 9 - p, the list ``queue:step``.
        kombu, bell = _read(r, f"{queue}:2"), _read(r, f"{queue}:2")
        many = _read(r, f"{queue}:4")
        assert _without_ids(bell) == _without_ids(kombu)
        assert bell["body"][0] == ["b" * 24]
        assert bell["headers"]["id"] == bell["headers"]["root_id"] == "b" * 24
        assert bell["properties"]["correlation_id"] == "b" * 24
        assert bell["headers"]["argsrepr"] == repr(("b" * 24,))
        assert bell["properties"]["delivery_tag"] != kombu["properties"]["delivery_tag"]
        assert many["body"][0] == [["c" * 24, "d" * 24]]
        assert many["headers"]["id"] not in ("c" * 24, "d" * 24)
        assert many["properties"]["priority"] == 4
    finally:
        r.delete(queue, *(f"{queue}:{p}" for p in range(10)))
        transport.close()
        r.close()
