"""Failed key checks, bounded per client address.

A key the service has not cached costs a journal lookup, and a failed one an ``auth.failed``
audit record: a client with random keys made as many of both as it sent requests. A client
address has ``service.auth_failures_burst`` failures, refilled at
``service.auth_failures_per_s``; past them its requests are answered 429 before any lookup
(an ``auth.throttled`` record, summed up with the others by no one in a flood).

Except for a key whose public id names a valid key (as the journal last said, at most
``_IDS_FRESH_S`` ago, or as a lookup here found): that one is still looked up, and a valid
key passes, so that a client is never locked out by another's failures at its address (every
client behind a reverse proxy has the proxy's). Its wrong secret is then a 429 too.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from skillexec.errors import ErrorType
from skillexec.security.principals import Principal
from skillexec.service.envelope import ApiError

if TYPE_CHECKING:
    from skillexec.service.state import ServiceState

__all__ = ["within_failures"]

_IDS_FRESH_S = 10.0  # the journal's valid key ids are read again at most this often
_PUBLIC_ID = re.compile(r"sk_([0-9a-f]{12})_")


async def within_failures(state: ServiceState, raw: str, client: str,
                          lookup: Callable[[], Awaitable[Principal | None]],
                          ) -> Principal | None:
    """``lookup()`` (the journal's answer for ``raw``) within ``client``'s failures: a
    failure is taken before it (so that requests sent at once cannot all pass a check made
    before any of them failed) and given back when the key is valid."""
    wait = state.failures.take(client)
    if wait > 0.0 and not await _names_a_valid_key(state, raw):
        # No lookup, so no auth.failed record: this one says it.
        state.engine.audit.record("auth.throttled", principal="", outcome="denied")
        raise _too_many(state, client, wait)
    principal = await lookup()
    if principal is None:
        if wait > 0.0:
            raise _too_many(state, client, wait)
        return None
    if wait == 0.0:
        state.failures.give(client)
    if principal.key_id is not None:
        state.valid_ids.add(principal.key_id)
    return principal


def _too_many(state: ServiceState, client: str, wait: float) -> ApiError:
    after = state.failures.retry_after(wait)
    return ApiError(429, "RATE_LIMITED", f"too many failed API key checks from "
                    f"{client or 'this client'}: try again in {after} s",
                    headers={"Retry-After": after}, error_type=ErrorType.RESOURCE,
                    retryable=True)


async def _names_a_valid_key(state: ServiceState, raw: str) -> bool:
    if (m := _PUBLIC_ID.match(raw)) is None:
        return False
    key_id = m.group(1)
    if key_id not in state.valid_ids and \
            time.monotonic() - state.valid_ids_at >= _IDS_FRESH_S:
        if state.ids_reading is None:  # one read for the requests that ask at once
            state.ids_reading = asyncio.ensure_future(_read_ids(state))
        await asyncio.shield(state.ids_reading)
    return key_id in state.valid_ids


async def _read_ids(state: ServiceState) -> None:
    state.valid_ids_at = time.monotonic()  # a failed read is not retried at once either
    try:
        now = time.time()
        state.valid_ids = {k.key_id for k in await state.engine.keys.list() if k.valid(now)}
    finally:
        state.ids_reading = None
