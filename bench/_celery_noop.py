"""The bare-Celery arms of bench_distributed.py: a no-op task, JSON, late ack, prefetch 1
(the settings skillexec's transport uses), with or without a PostgreSQL result backend."""

from __future__ import annotations

import os
import subprocess
import sys

import redis
from celery import Celery

app = Celery("bench", broker=os.environ["BENCH_BROKER"],
             backend=os.environ.get("BENCH_BACKEND") or None)
app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                task_acks_late=True, worker_prefetch_multiplier=1,
                task_ignore_result=not os.environ.get("BENCH_BACKEND"),
                worker_hijack_root_logger=False)
_r = redis.Redis.from_url(os.environ["BENCH_COUNTER"])


@app.task(name="noop")
def noop(n: int) -> int:
    _r.incr(os.environ["BENCH_KEY"])
    return n


@app.task(name="ping")
def ping(key: str) -> None:
    _r.rpush(key, 1)


@app.task(name="fresh")
def fresh(n: int) -> int:
    """A fresh interpreter per task (what an isolated no-op costs without a warm zygote)."""
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    _r.incr(os.environ["BENCH_KEY"])
    return n


_ASYNC_NOOP = "import asyncio\nasync def execute(n):\n    return n\nasyncio.run(execute(1))\n"


@app.task(name="fresh_async")
def fresh_async(n: int) -> int:
    """The async no-op as a fresh interpreter runs it: ``asyncio.run`` of a coroutine (the
    peer of skillexec's ``sandboxed_async`` arm, as ``fresh`` is of ``sandboxed``)."""
    subprocess.run([sys.executable, "-c", _ASYNC_NOOP], check=True)
    _r.incr(os.environ["BENCH_KEY"])
    return n
