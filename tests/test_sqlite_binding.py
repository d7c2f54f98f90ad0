"""The journal's rows bound without sqlite3's adapters store exactly what plain binding does."""

from __future__ import annotations

import sqlite3

from skillexec.storage.sqlite_binding import Binding

_SQL = "INSERT INTO t(a, b, c, d, e) VALUES (?,?,?,?,?)"


def _stored(sql: str, rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(a TEXT, b BLOB, c REAL, d TEXT, e BLOB)")
    for row in rows:
        conn.execute(sql, row)
    return conn.execute("SELECT a, b, c, d, e, typeof(b), typeof(c), typeof(d) FROM t "
                        "ORDER BY rowid").fetchall()


def test_rows_store_the_same_as_plain_binding() -> None:
    rows: list[tuple[object, ...]] = [
        ("x", b"{}", 1.5, "p", b"\x00\xff"), ("y", b"[]", None, None, None),
        ("z", None, None, "q", b""), ("w", b"1", 2.0, None, bytearray(b"2"))]
    bind = Binding(_SQL, nullable=(2, 3), blobs=(1, 4))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(a TEXT, b BLOB, c REAL, d TEXT, e BLOB)")
    for row in rows:
        sql, args = bind(row)
        assert sql.count("?") == len(args)
        assert all(a is None or a.__class__ in (str, float, bytearray) for a in args)
        conn.execute(sql, args)
    got = conn.execute("SELECT a, b, c, d, e, typeof(b), typeof(c), typeof(d) FROM t "
                       "ORDER BY rowid").fetchall()
    assert got == _stored(_SQL, rows)
    assert got[1][1] == b"[]" and got[1][2:4] == (None, None)


def test_one_statement_per_pattern_of_absent_values() -> None:
    bind = Binding(_SQL, nullable=(2, 3), blobs=(1,))
    first, _ = bind(("a", b"", None, "d", None))
    again, args = bind(("b", b"", None, "e", None))
    assert first is again  # runs of it group in one executemany
    assert first == "INSERT INTO t(a, b, c, d, e) VALUES (?,?,NULL,?,?)"
    assert args == ("b", bytearray(b""), "e", None)
    only, args = bind(("c", b"x", None, None, None))
    assert only.endswith("VALUES (?,?,NULL,NULL,?)") and args == ("c", bytearray(b"x"), None)
