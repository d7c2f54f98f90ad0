"""The journal a URL names: SQLite (embedded, the default) or PostgreSQL
(``EngineConfig.journal_store()`` calls this with its ``journal`` settings)."""

from __future__ import annotations

from pathlib import Path

from skillexec.storage.codec import PLAIN, Codec
from skillexec.storage.store import TaskStore
from skillexec.storage.url import kind, redacted, sqlite_path

__all__ = ["make_store", "where"]


def make_store(url: str | None, *, default_path: Path, synchronous: str, max_batch: int,
               pool_size: int, connect_timeout_s: float, node: str | None,
               codec: Codec | None = None) -> TaskStore:
    """The journal ``url`` names (unset: the SQLite file ``default_path``), not opened yet;
    ``node`` names this engine in a shared journal; ``codec`` seals its payloads."""
    if url is not None and kind(url) == "postgresql":
        # Imported here: an embedded engine never loads psycopg.
        from skillexec.storage.postgres import PostgresStore
        return PostgresStore(url, node=node, max_batch=max_batch, pool_size=pool_size,
                             connect_timeout_s=connect_timeout_s, codec=codec or PLAIN)
    from skillexec.storage.sqlite import SQLiteStore
    return SQLiteStore(sqlite_path(url, default_path), synchronous=synchronous,
                       max_batch=max_batch, codec=codec or PLAIN)


def where(url: str | None, *, default_path: Path) -> str:
    """The journal named for a message: its file, or its URL without the password."""
    if url is not None and kind(url) == "postgresql":
        return redacted(url)
    return str(sqlite_path(url, default_path))
