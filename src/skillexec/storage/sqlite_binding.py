"""A task's rows as the sqlite3 module binds them cheapest.

sqlite3 binds an exact ``str``, ``int``, ``float`` or ``bytearray`` directly; any other
value — ``bytes`` and ``None`` too — first goes through its adapter lookup (a key tuple, a
registry lookup, and an ``AttributeError`` formatted and dropped for the protocol's
``__adapt__``): about 2,700 instructions a value, measured, where the row's insert costs
about 5,000. A task's insert and its end carry two or three of them each (the payloads, an
absent deadline or history). Here the same rows go to SQLite without them: payloads as
``bytearray`` (stored as the same BLOB, read back as ``bytes``), and the usual absent
values as a ``NULL`` in the statement instead of a bound ``None``, one statement text per
pattern of absent values (so runs of one still group in one ``executemany``). A ``None``
elsewhere binds as before, just slower: what is stored never depends on this. (The
insert's row is made by :func:`~skillexec.storage.sqlite_request.insert_row`.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["finished_row", "variants"]


def variants(sql: str, positions: tuple[int, ...]) -> list[str]:
    """``sql``'s texts by the pattern of its absent values: at index ``k``, the ``?`` at
    ``positions[b]`` spelled ``NULL`` for each bit ``b`` set in ``k``."""
    parts = sql.split("?")
    out = []
    for key in range(1 << len(positions)):
        absent = {p for b, p in enumerate(positions) if key >> b & 1}
        out.append(parts[0] + "".join(("NULL" if i in absent else "?") + parts[i + 1]
                                      for i in range(len(parts) - 1)))
    return out


def finished_row(texts: list[str], v: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The end of :func:`~skillexec.storage.rows.finished_values`'s row ``v`` (``texts``:
    its :func:`variants` for position 5): history as NULL when absent (most tasks: one
    clean attempt); the result (4), a history and the summary (6) as bytearray."""
    if v[5] is None:
        return texts[1], (v[0], v[1], v[2], v[3], bytearray(v[4]), bytearray(v[6]), v[7])
    return texts[0], (v[0], v[1], v[2], v[3], bytearray(v[4]), bytearray(v[5]),
                      bytearray(v[6]), v[7])
