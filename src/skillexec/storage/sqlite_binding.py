"""A statement's values as the sqlite3 module binds them cheapest.

sqlite3 binds an exact ``str``, ``int``, ``float`` or ``bytearray`` directly; any other
value — ``bytes`` and ``None`` too — first goes through its adapter lookup (a key tuple, a
registry lookup, and an ``AttributeError`` formatted and dropped for the protocol's
``__adapt__``): about 2,700 instructions a value, measured, where the row's insert costs
about 5,000. The journal's hot rows carry two or three of them per write (the payloads, an
absent deadline or history). :class:`Binding` gives the same row to SQLite without them:
payloads as ``bytearray`` (stored as the same BLOB, read back as ``bytes``), and the
usual absent values as a ``NULL`` in the statement instead of a bound ``None`` — one
statement text per pattern of absent values, made once. A ``None`` elsewhere still binds
as before (just slower), so what is stored never depends on this.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

__all__ = ["Binding"]


class Binding:
    """``sql`` (one ``?`` per value, none in literals); ``nullable``: the positions often
    ``None``, spelled ``NULL`` in the statement when they are; ``blobs``: the positions of
    ``bytes`` payloads."""

    def __init__(self, sql: str, *, nullable: tuple[int, ...], blobs: tuple[int, ...]) -> None:
        self._parts = sql.split("?")
        self._n = len(self._parts) - 1
        self._nullable = nullable
        self._blobs = blobs
        # absent positions -> (the statement, the values it keeps); the statement text is
        # interned by this cache, so runs of it group by identity in a group commit
        self._made: dict[tuple[int, ...], tuple[str, itemgetter[Any] | None]] = {}

    def __call__(self, values: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        absent = tuple([i for i in self._nullable if values[i] is None])
        made = self._made.get(absent)
        if made is None:
            made = self._made[absent] = self._make(absent)
        sql, keep = made
        if self._blobs:
            row = list(values)
            for i in self._blobs:
                if row[i].__class__ is bytes:
                    row[i] = bytearray(row[i])
            values = tuple(row)
        if keep is None:
            return sql, values
        kept = keep(values)
        return sql, kept if isinstance(kept, tuple) else (kept,)

    def _make(self, absent: tuple[int, ...]) -> tuple[str, itemgetter[Any] | None]:
        parts = self._parts
        sql = parts[0] + "".join(("NULL" if i in absent else "?") + parts[i + 1]
                                 for i in range(self._n))
        if not absent:
            return sql, None
        return sql, itemgetter(*(i for i in range(self._n) if i not in absent))
