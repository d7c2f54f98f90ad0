"""Where an engine keeps what it must not lose, as its settings name it: the journal (its
SQLite file under the data directory, or a PostgreSQL database several nodes share), the
codec that seals payloads at rest, and the keyring. A mixin of EngineConfig: these are
``config.journal_store()``, ``config.journal_where``, ``config.codec()``...
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skillexec.config_sections import JournalConfig, SecurityConfig
    from skillexec.storage.codec import Codec
    from skillexec.storage.store import TaskStore

__all__ = ["StorageViews"]


class StorageViews:
    """EngineConfig's views of its storage settings (``data_dir``, ``journal``, ``security``)."""

    if TYPE_CHECKING:  # EngineConfig's fields
        data_dir: Path
        journal: JournalConfig
        security: SecurityConfig

    @property
    def journal_path(self) -> Path:
        """The embedded journal's file (``journal.url`` may name another journal)."""
        return self.data_dir / "journal.db"

    @property
    def journal_is_shared(self) -> bool:
        """Whether the journal is a PostgreSQL database (other nodes may use it too)."""
        from skillexec.storage.url import kind
        return kind(self.journal.url) == "postgresql"

    @property
    def journal_location(self) -> str | Path:
        """The PostgreSQL journal's URL (password included: never print it), or the SQLite
        file (what JournalCollector reads)."""
        from skillexec.storage.url import sqlite_path
        if self.journal_is_shared:
            assert self.journal.url is not None
            return self.journal.url
        return sqlite_path(self.journal.url, self.journal_path)

    @property
    def journal_identity(self) -> str | None:
        """Which journal, for what the data directory keeps per journal (the audit chain's
        checkpoints): None for its own file, else the journal's name without a password."""
        if not self.journal_is_shared and \
                Path(self.journal_location).resolve() == self.journal_path.resolve():
            return None
        return self.journal_where

    @property
    def journal_where(self) -> str:
        """The journal, named for a message: its file, or its URL without the password."""
        from skillexec.storage.factory import where
        return where(self.journal.url, default_path=self.journal_path)

    def journal_store(self, *, reader: bool = False, codec: Codec | None = None) -> TaskStore:
        """The journal these settings name, not opened yet (a MemoryStore when it is off).

        In a shared journal an engine is a node: its host and data directory, so that a
        restart on the same folder resumes what it accepted, and nothing of another node's.
        ``reader``: for a command that reads what engines journaled (the journal even when
        this configuration turns it off; every node's tasks).
        """
        import socket

        from skillexec.storage.factory import make_store
        from skillexec.storage.memory import MemoryStore

        j = self.journal
        if not j.enabled and not reader:
            return MemoryStore()
        node = None if reader else f"{socket.gethostname()}:{self.data_dir.resolve()}"
        return make_store(j.url, default_path=self.journal_path, synchronous=j.synchronous,
                          max_batch=j.max_batch, pool_size=j.pool_size,
                          connect_timeout_s=j.connect_timeout_s, node=node, codec=codec)

    @property
    def keyring_path(self) -> Path:
        return self.data_dir / "keyring.json"

    def codec(self) -> Codec:
        """How the journal and the artifacts store payloads (sealed with encryption on);
        a missing or wrong master key is a ConfigError here."""
        from skillexec.storage.codec import open_codec
        sec = self.security
        return open_codec(encryption=sec.encryption, keyring=self.keyring_path,
                          master_key_file=sec.master_key_file)
