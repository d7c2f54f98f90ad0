"""Checks of the settings that are URLs of services (pydantic field validators): a value
that is not one is named, its password left out, before anything tries to reach it."""

from __future__ import annotations

import re
from typing import Any

from skillexec.storage.url import redacted

__all__ = ["broker_url", "postgresql_url"]

_BROKER = re.compile(r"(redis|rediss|amqp|amqps)://")


def broker_url(value: Any) -> Any:
    """Before the field's pattern, whose message showed the user a regular expression."""
    if isinstance(value, str) and value and not _BROKER.match(value):
        raise ValueError(f"{redacted(value)!r} is not a broker URL: use redis://host:6379/0 "
                         "or amqp://user@host:5672//")
    return value


def postgresql_url(value: str | None) -> str | None:
    """Anything else waited out the pool's 10 s and said "pool initialization incomplete"."""
    if value and not value.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{redacted(value)!r} is not a PostgreSQL URL: use "
                         "postgresql://user@host/db")
    return value or None
