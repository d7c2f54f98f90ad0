"""The journal a configuration names: SQLite (embedded, the default) or PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skillexec.storage.memory import MemoryStore
from skillexec.storage.store import TaskStore
from skillexec.storage.url import kind, sqlite_path

if TYPE_CHECKING:
    from skillexec.config import EngineConfig

__all__ = ["journal_store", "journal_where"]


def journal_store(config: EngineConfig) -> TaskStore:
    """The journal of ``config``, not opened yet (a MemoryStore when the journal is off)."""
    j = config.journal
    if not j.enabled:
        return MemoryStore()
    if kind(j.url) == "postgresql":
        assert j.url is not None
        # Imported here: an embedded engine never loads psycopg.
        from skillexec.storage.postgres import PostgresStore
        return PostgresStore(j.url, max_batch=j.max_batch, pool_size=j.pool_size,
                             connect_timeout_s=j.connect_timeout_s)
    from skillexec.storage.sqlite import SQLiteStore
    return SQLiteStore(sqlite_path(j.url, config.journal_path), synchronous=j.synchronous,
                       max_batch=j.max_batch)


def journal_where(config: EngineConfig) -> str:
    """The journal named for a message: its file, or its URL without the password."""
    from skillexec.storage.url import redacted
    url = config.journal.url
    if kind(url) == "postgresql":
        assert url is not None
        return redacted(url)
    return str(sqlite_path(url, config.journal_path))
