"""The PostgreSQL journal's schema, as numbered migrations applied at start.

``migrate`` runs in one transaction under an advisory lock, so nodes that start together
apply each migration once (the others wait, then find it done), and a failed migration
leaves the schema as it was (PostgreSQL's DDL is transactional). ``schema_version`` keeps a
row per migration applied. A new table (the lead's API keys, audit log, ...) is a new entry
at the end of ``MIGRATIONS``; entries already released are never edited.
"""

from __future__ import annotations

import time

import psycopg

from skillexec.errors import ConfigError

__all__ = ["LOCK_KEY", "MIGRATIONS", "latest", "migrate", "version"]

# pg_advisory_xact_lock's key: "skillexec" on 8 bytes, fixed so that every node takes the same.
LOCK_KEY = int.from_bytes(b"skillexc", "big") & 0x7FFF_FFFF_FFFF_FFFF

# The same concepts as the SQLite journal's tables. Payloads (params, config, result,
# history, event data, cached values) are bytea: the orjson bytes exactly as written.
_V1 = """
CREATE TABLE tasks (
    task_id text PRIMARY KEY,
    skill_id text NOT NULL,
    skill_version text NOT NULL,
    status text NOT NULL,
    priority integer NOT NULL,
    params bytea NOT NULL,
    config bytea NOT NULL,
    timeout_s double precision NOT NULL,
    max_retries integer NOT NULL,
    idempotent integer NOT NULL,
    principal text,
    created_at double precision NOT NULL,
    deadline_s double precision,
    started_at double precision,
    finished_at double precision,
    attempts integer NOT NULL DEFAULT 0,
    result bytea,
    history bytea,
    cancel_requested integer NOT NULL DEFAULT 0,
    node text  -- the node that accepted it: the one that resumes it after a restart
);
-- Only unfinished tasks: a task enters this index once and leaves it once.
CREATE INDEX tasks_unfinished ON tasks(node, task_id) WHERE finished_at IS NULL;
CREATE INDEX tasks_skill ON tasks(skill_id, task_id);
CREATE TABLE artifacts (
    id text PRIMARY KEY,
    sha256 text NOT NULL,
    name text NOT NULL,
    mime text NOT NULL,
    size bigint NOT NULL,
    task_id text,
    created_at double precision NOT NULL
);
CREATE INDEX artifacts_sha ON artifacts(sha256);
CREATE INDEX artifacts_created ON artifacts(created_at);
CREATE TABLE events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,
    at double precision NOT NULL,
    data bytea NOT NULL
);
CREATE INDEX events_kind ON events(kind, seq);
CREATE INDEX events_at ON events(at);
CREATE TABLE cache (
    key text PRIMARY KEY,
    skill_id text NOT NULL,
    version text NOT NULL,
    value bytea NOT NULL,
    expires_at double precision,
    created_at double precision NOT NULL
);
CREATE INDEX cache_skill ON cache(skill_id, version);
"""

# Every task row is updated two or three times: leave room on its page for the new
# versions (HOT updates, no index churn) and vacuum the dead ones early
# (research/distributed.md §3.3: PgQueuer's settings).
_V2 = """
ALTER TABLE tasks SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01,
                       autovacuum_vacuum_cost_delay = 0);
"""

# The security tables, as the SQLite journal's (storage/sqlite_security.py). The audit log's
# seq is given by the writer that holds the chain's lock (postgres_security.AUDIT_LOCK_KEY),
# never by a sequence: a sequence's gaps would read as deleted records.
_V3 = """
CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL,
    skills bytea,
    permissions bytea,
    digest bytea NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision,
    revoked_at double precision,
    used_at double precision
);
CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    ts_us bigint NOT NULL,
    body bytea NOT NULL,
    digest bytea NOT NULL
);
"""

# The folder of a task's skill (Request.folder): two folders may claim one id, and what
# runs a task again checks that its id still names that folder (pipeline/origin.py).
_V4 = """
ALTER TABLE tasks ADD COLUMN folder text;
"""

# A finished task's summary (storage.summary): what a task list shows of its result, so
# that the list reads no result (a large bytea is stored apart, TOAST: never fetched then).
_V5 = """
ALTER TABLE tasks ADD COLUMN summary bytea;
"""

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "tasks, artifacts, events, cache", _V1),
    (2, "tasks: fillfactor 70, early autovacuum", _V2),
    (3, "api_keys, audit", _V3),
    (4, "tasks: folder", _V4),
    (5, "tasks: summary", _V5),
)


def latest() -> int:
    return MIGRATIONS[-1][0]


async def migrate(conn: psycopg.AsyncConnection[tuple[object, ...]], *,
                  upto: int | None = None) -> list[int]:
    """Apply the migrations not applied yet (up to ``upto``); return their numbers."""
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at double precision NOT NULL)")
        done = {int(str(r[0])) for r in await (await conn.execute(
            "SELECT version FROM schema_version")).fetchall()}
        if done and max(done) > latest():  # a newer skillexec's tables: this one misreads them
            raise ConfigError(f"the journal's schema is version {max(done)}, newer than this "
                              f"skillexec knows ({latest()}): a node runs a newer skillexec; "
                              "upgrade this one", code="journal_schema_newer")
        for number, name, ddl in MIGRATIONS:
            if number in done or (upto is not None and number > upto):
                continue
            await conn.execute(ddl)
            await conn.execute("INSERT INTO schema_version(version, name, applied_at)"
                               " VALUES (%s, %s, %s)", (number, name, time.time()))
            applied.append(number)
    return applied


async def version(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int | None:
    """The highest migration applied, or None when the database has no journal."""
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return None
    cur = await conn.execute("SELECT max(version) FROM schema_version")
    row = await cur.fetchone()
    return int(str(row[0])) if row and row[0] is not None else None


async def health(url: str, *, connect_timeout_s: float) -> list[tuple[str, bool, str]]:
    """``skillexec doctor``'s rows for a PostgreSQL journal: (check, ok, detail)."""
    from skillexec.storage.url import redacted

    try:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=max(1, int(connect_timeout_s)))
    except psycopg.Error as exc:
        return [("database reachable", False, f"{redacted(url)}: {' '.join(str(exc).split())}")]
    async with conn:
        server = conn.info.server_version  # e.g. 150020
        have = await version(conn)
    rows = [("database reachable", True, redacted(url)),
            ("server version", server >= 120000,
             f"PostgreSQL {server // 10000}.{server % 10000}"
             + ("" if server >= 120000 else ": the journal needs 12 or newer"))]
    if have is None:
        rows.append(("journal schema", False, f"not migrated yet (latest {latest()}): the "
                                              "first engine that opens it migrates it"))
    else:
        rows.append(("journal schema", have == latest(),
                     f"version {have} of {latest()}" + (
                         "" if have == latest() else ": the next engine to start migrates it"
                         if have < latest() else ": newer than this skillexec: upgrade it")))
    return rows
