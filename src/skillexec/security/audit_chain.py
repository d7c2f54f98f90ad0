"""The audit log's records and their hash chain: pure functions, shared by every store.

A record is one canonical JSON object (sorted keys, no spaces, UTF-8) holding ``seq``,
``ts`` (integer microseconds since the epoch: no float formatting to disagree on),
``principal``, ``action``, ``target``, ``outcome``, ``details`` and ``prev``, the hex SHA-256
of the previous record's canonical bytes (64 zeros at genesis). The store keeps the exact
bytes and their digest: verification hashes what is stored, never a re-serialization.

The records of one group commit are stored in one row (:func:`grouped`): their canonical
bytes joined by newlines (canonical JSON never holds a raw newline: orjson escapes control
characters), keyed by the last record's seq, with the last record's time and digest. A row
of one record is exactly a record; each record of a row still chains to the one before it,
so verification finds the first bad record, not just the first bad row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

__all__ = ["GENESIS", "GROUP_MAX", "AuditEntry", "AuditRow", "canonical", "chain",
           "chain_grouped", "grouped", "records", "unplaced"]

GENESIS = bytes(32)
GROUP_MAX = 64  # records per stored row at most: a page of rows stays a bounded read
_SEP = b"\n"
_new = tuple.__new__


class AuditEntry(NamedTuple):
    """A record before the journal places it in the chain (seq and prev are given there)."""

    ts_us: int
    principal: str
    action: str
    target: str
    outcome: str
    details: Mapping[str, Any] | None


class AuditRow(NamedTuple):
    """A record as stored: its place, time, canonical bytes and their SHA-256."""

    seq: int
    ts_us: int
    body: bytes
    digest: bytes


def canonical(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (what gets hashed and stored)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)


def chain(head: tuple[int, bytes] | None, entries: list[AuditEntry]) -> list[AuditRow]:
    """The rows that follow ``head`` (the last record's seq and digest; None: genesis),
    one a record: ``chain_grouped`` with each entry a run of its own."""
    return [row for row, _ in chain_grouped(head, [(None, e, object()) for e in entries])]


def chain_grouped(head: tuple[int, bytes] | None, marked: list[tuple[Any, Any, Any]],
                  ) -> list[tuple[AuditRow, Any]]:
    """``grouped(chain(head, entries))`` for each run of entries that share a key, at most
    GROUP_MAX a row, made at once: ``marked`` holds (anything, entry, key) tuples (a
    journal's queued records), and each row comes with its run's key. The same bytes as
    chain's, without a row per record on the way (the journal's writer runs this for every
    task's record)."""
    seq, prev = head if head is not None else (-1, GENESIS)
    prev_hex = prev.hex()
    out: list[tuple[AuditRow, Any]] = []
    sha256, dumps, sort = hashlib.sha256, orjson.dumps, orjson.OPT_SORT_KEYS
    bodies: list[bytes] = []
    n = 0  # len(bodies)
    key: Any = None
    h: Any = None
    ts_us = 0
    for _, entry, now in marked:
        if n and (now is not key or n >= GROUP_MAX):
            out.append((_new(AuditRow, (seq, ts_us, bodies[0] if n == 1 else _SEP.join(bodies),
                                        h.digest())), key))
            bodies = []
            n = 0
        key = now
        ts_us, principal, action, target, outcome, details = entry
        seq += 1
        # (default and option passed by position: orjson parses no keywords then)
        body = dumps({"action": action, "details": details or {}, "outcome": outcome,
                      "prev": prev_hex, "principal": principal, "seq": seq, "target": target,
                      "ts": ts_us}, str, sort)
        h = sha256(body)
        prev_hex = h.hexdigest()  # the next record's prev (the digest: only a row's last)
        bodies.append(body)
        n += 1
    if n:
        out.append((_new(AuditRow, (seq, ts_us, bodies[0] if n == 1 else _SEP.join(bodies),
                                    h.digest())), key))
    return out


def _record(seq: int, ts_us: int, principal: str, action: str, target: str, outcome: str,
            details: Mapping[str, Any] | None, prev: str) -> dict[str, Any]:
    # the record of chain_grouped()'s loop, which builds it inline (once per record)
    return {"action": action, "details": details or {}, "outcome": outcome, "prev": prev,
            "principal": principal, "seq": seq, "target": target, "ts": ts_us}


def unplaced(entry: AuditEntry) -> tuple[bytes, bytes, bytes]:
    """The entry's canonical bytes around its two unknowns, for a database to place it
    after its chain's head itself (one round trip, no read of the head first): the bytes
    are ``a + prev's hex + b + seq in decimal + c``. Keys are sorted, so ``prev`` and
    ``seq`` are the last keys of those names (``details`` sorts before both, and after
    them come only strings and a number), and a quote inside a string is escaped: the
    last ``"prev":""`` and ``"seq":0`` are the record's own."""
    body = orjson.dumps(_record(0, *entry, ""), option=orjson.OPT_SORT_KEYS, default=str)
    i = body.rindex(b'"prev":""') + len(b'"prev":"')
    j = body.rindex(b'"seq":0') + len(b'"seq":')
    return body[:i], body[i:j], body[j + 1:]


def grouped(rows: list[AuditRow]) -> AuditRow:
    """Consecutive records as one stored row: the last one's seq, time and digest, their
    bytes joined by newlines."""
    last = rows[-1]
    if len(rows) == 1:
        return last
    return _new(AuditRow, (last[0], last[1], _SEP.join([r[2] for r in rows]), last[3]))


def records(body: bytes) -> list[bytes]:
    """The canonical bytes of each record a stored row holds, in chain order."""
    return body.split(_SEP) if _SEP in body else [body]
