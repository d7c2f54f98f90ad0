"""PostgreSQL for the tests: one database per test session (``skillexec_test_<pid>``),
made and dropped here, emptied before each test that asks for it.

Tests skip with the reason when the server is not there, unless
``SKILLEXEC_REQUIRE_SERVICES=1`` (then they fail): 127.0.0.1:5432, user postgres, trust auth.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

SERVER = "postgresql://postgres@127.0.0.1:5432"
ADMIN = f"{SERVER}/postgres"


def _unavailable(reason: str) -> None:
    if os.environ.get("SKILLEXEC_REQUIRE_SERVICES") == "1":
        pytest.fail(f"SKILLEXEC_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def create_database(name: str) -> str:
    """A new empty database (dropped first if a killed run left it); its URL."""
    try:
        with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL is not reachable at {SERVER}: {str(exc).strip()}")
    return f"{SERVER}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = f"skillexec_test_{os.getpid()}"
    url = create_database(name)
    yield url
    drop_database(name)


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's database, with no journal rows in it (its schema stays)."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_version'")]
        if tables:
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in tables)))
    return pg_database


@pytest.fixture
def fresh_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own, empty (no schema): for the migrations' tests."""
    name = f"skillexec_test_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    url = create_database(name)
    yield url
    drop_database(name)


def table_bytes(url: str) -> bytes:
    """Every value of every journal table, as stored (bytea as its bytes; a dump would show
    them in hex): what a raw copy of the database holds, to search for plaintext."""
    parts: list[bytes] = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            for row in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))):
                parts.extend(bytes(v) if isinstance(v, bytes | memoryview) else
                             str(v).encode() for v in row)
    return b"\n".join(parts)
