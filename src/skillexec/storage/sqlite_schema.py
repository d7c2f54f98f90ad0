"""The SQLite journal's tables, made or brought up to date when it opens.

A column added since a journal was made is added to it then (``ALTER TABLE ... ADD
COLUMN``, which SQLite does without rewriting the table); rows written before have it NULL,
and their readers take that as "not kept then".
"""

from __future__ import annotations

import sqlite3

from skillexec.storage.sqlite_security import SECURITY_SCHEMA

__all__ = ["migrate"]

# ``summary`` (storage.summary) sits before ``result``: a column is read by walking the row
# from its start, and past a result of megabytes that is its whole chain of overflow pages.
# (A journal it is added to has it last: a summary read there walks that chain, about 4 ms
# a 15 MB result, an eighth of decoding it; bench/bench_summary.py.)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    skill_id TEXT NOT NULL,
    skill_version TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    params BLOB NOT NULL,
    config BLOB NOT NULL,
    timeout_s REAL NOT NULL,
    max_retries INTEGER NOT NULL,
    idempotent INTEGER NOT NULL,
    principal TEXT,
    created_at REAL NOT NULL,
    deadline_s REAL,
    folder TEXT,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    summary BLOB,
    result BLOB,
    history BLOB,
    cancel_requested INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Task ids sort by time, so the table itself is in creation order. The partial index holds
-- only unfinished tasks, and a task enters it once and leaves it once: indexing status
-- instead would move every task in and out of an index at each of its state changes.
CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks(task_id) WHERE finished_at IS NULL;
CREATE INDEX IF NOT EXISTS tasks_skill ON tasks(skill_id, task_id);
CREATE TABLE IF NOT EXISTS artifacts (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    task_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_sha ON artifacts(sha256);
CREATE INDEX IF NOT EXISTS artifacts_created ON artifacts(created_at);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, seq);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    skill_id TEXT NOT NULL,
    version TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at REAL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cache_skill ON cache(skill_id, version);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');
"""

# Columns added since the first release: (name, type), in the order they came.
_ADDED = (("deadline_s", "REAL"), ("folder", "TEXT"), ("summary", "BLOB"))


def migrate(conn: sqlite3.Connection) -> None:
    """Make the journal's tables, and add to an older journal's the columns it lacks."""
    conn.executescript(_SCHEMA)
    conn.executescript(SECURITY_SCHEMA)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(tasks)")}
    for name, kind in _ADDED:
        if name not in columns:
            conn.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")
