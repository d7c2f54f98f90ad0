"""The audit log's records and their hash chain: pure functions, shared by every store.

A record is one canonical JSON object (sorted keys, no spaces, UTF-8) holding ``seq``,
``ts`` (integer microseconds since the epoch: no float formatting to disagree on),
``principal``, ``action``, ``target``, ``outcome``, ``details`` and ``prev``, the hex SHA-256
of the previous record's canonical bytes (64 zeros at genesis). The store keeps the exact
bytes and their digest: verification hashes what is stored, never a re-serialization.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

__all__ = ["GENESIS", "AuditEntry", "AuditRow", "canonical", "chain"]

GENESIS = bytes(32)


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
    """The rows that follow ``head`` (the last record's seq and digest; None: genesis)."""
    seq, prev = head if head is not None else (-1, GENESIS)
    out: list[AuditRow] = []
    sha256, dumps, sort = hashlib.sha256, orjson.dumps, orjson.OPT_SORT_KEYS
    for e in entries:
        seq += 1
        body = dumps({"seq": seq, "ts": e.ts_us, "principal": e.principal,
                      "action": e.action, "target": e.target, "outcome": e.outcome,
                      "details": e.details or {}, "prev": prev.hex()},
                     option=sort, default=str)
        prev = sha256(body).digest()
        out.append(AuditRow(seq, e.ts_us, body, prev))
    return out
