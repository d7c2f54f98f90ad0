"""Batch: requests made while one round trip is in flight ride together in the next one.

The first request of a quiet moment goes out at once (no added latency); those made while
it is on the wire gather and leave together when it returns (the journal's group commit,
applied to a node's claims and fence checks). A batch that fails is tried again one
request at a time, so that one bad request, or a deadlock between two batches, fails only
what it must.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Batch"]

K = TypeVar("K")
V = TypeVar("V")


class Batch(Generic[K, V]):
    """``flush(items)`` answers each item, in order; ``await batch.ask(item)`` its answer."""

    def __init__(self, flush: Callable[[list[K]], Awaitable[list[V]]], *,
                 max_batch: int = 256) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[K, asyncio.Future[V]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.round_trips = 0  # flushes made, and the items they held (tests, the bench)
        self.items = 0

    async def ask(self, item: K) -> V:
        fut: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send())
        return await fut

    async def _send(self) -> None:
        batch: list[tuple[K, asyncio.Future[V]]] = []
        try:
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:len(batch)]
                await self._answer(batch, split=len(batch) > 1)
        except BaseException as exc:  # cancelled (the loop closing): nobody may wait forever
            for _, fut in batch + self._pending:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception)
                                      else RuntimeError("the batch was cancelled"))
            self._pending.clear()
            raise

    async def _answer(self, batch: list[tuple[K, asyncio.Future[V]]], *, split: bool) -> None:
        self.round_trips += 1
        self.items += len(batch)
        try:
            answers = await self._flush([item for item, _ in batch])
        except Exception as exc:
            if split:
                for one in batch:
                    await self._answer([one], split=False)
                return
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, fut), answer in zip(batch, answers, strict=True):
            if not fut.done():
                fut.set_result(answer)
