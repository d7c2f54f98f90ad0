"""reachable: one connection to the ledger's database before its pool opens, for the
database's own words when it refuses (the pool says only that it waited: the reason, a
database or role that does not exist, a malformed URL, was left in its log lines)."""

from __future__ import annotations

import asyncio
import time

import psycopg

from skillexec.errors import ConfigError, ResourceError
from skillexec.storage.url import redacted

__all__ = ["reachable"]


async def reachable(url: str, *, wait_s: float) -> None:
    """Return once ``url`` takes a connection; tried for ``wait_s`` as the pool was (a
    database starting, or made just after the worker), then the last refusal is raised."""
    end, pause_s = time.monotonic() + wait_s, 0.1
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=10)
        except psycopg.ProgrammingError as exc:  # libpq could not parse it
            raise ConfigError(f"distributed.database_url {redacted(url)!r} is not a valid "
                              f"PostgreSQL URL: {_said(exc, url)}",
                              code="invalid_config") from None
        except (psycopg.Error, OSError) as exc:
            if time.monotonic() + pause_s >= end:
                raise ResourceError("the distributed ledger (PostgreSQL) is unavailable: "
                                    f"{_said(exc, url)}", code="ledger_unavailable",
                                    retryable=True) from None
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, 1.0)
            continue
        await conn.close()
        return


def _said(exc: BaseException, url: str) -> str:
    """libpq's message on one line, the URL's password masked (libpq quotes a URL it cannot
    parse)."""
    return " ".join(str(exc).replace(url, redacted(url)).split())
