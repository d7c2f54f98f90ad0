"""Checking the audit chain: streamed page by page, every record hashed from its stored
bytes (a row may hold several records: one group commit's), and every signed checkpoint
matched. Names the first bad record and what is wrong."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from skillexec.security.audit_chain import GENESIS, AuditRow
from skillexec.security.audit_checkpoints import Checkpoint

__all__ = ["VerifyReport", "verify_chain"]

# rows per read (each holds up to GROUP_MAX records): memory stays flat however long the chain
PAGE = 2_000


class _Rows(Protocol):
    def audit_rows(self, *, after_seq: int = -1, since_us: int | None = None,
                   limit: int = 10_000) -> Awaitable[list[AuditRow]]: ...


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``ok``: every record chains and every checkpoint is met. Otherwise ``seq`` is the
    first bad record (or the checkpoint's seq), ``kind`` one of ``edited``, ``missing``,
    ``reordered``, ``chain``, ``truncated``, ``rewritten``, ``checkpoint``, and ``problem``
    says what is wrong in one sentence."""

    ok: bool
    count: int
    head_seq: int | None
    checkpoints: int
    seq: int | None = None
    kind: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "head_seq": self.head_seq,
                "checkpoints": self.checkpoints, "seq": self.seq, "kind": self.kind,
                "problem": self.problem}


async def verify_chain(store: _Rows, checkpoints: list[Checkpoint]) -> VerifyReport:
    signed: dict[int, str] = {}
    for cp in checkpoints:
        if not cp.valid:
            return VerifyReport(False, 0, None, 0, cp.seq if cp.seq >= 0 else None,
                                "checkpoint", f"checkpoint line {cp.line} is not signed by "
                                "this data directory's audit key (forged or damaged)")
        signed[cp.seq] = cp.digest
    expected, prev, count = 0, GENESIS, 0
    sha256, loads = hashlib.sha256, orjson.loads

    def bad(seq: int, kind: str, problem: str) -> VerifyReport:
        return VerifyReport(False, count, expected - 1 if expected else None, len(signed),
                            seq, kind, problem)

    while True:
        rows = await store.audit_rows(after_seq=expected - 1, limit=PAGE)
        if not rows:
            break
        for seq, ts_us, body, digest in rows:
            # audit_chain.records, inlined: most rows of a bulk chain hold one record
            parts = body.split(b"\n") if b"\n" in body else (body,)
            last = len(parts) - 1
            if not last and seq != expected:  # (a row of several: checked record by record)
                return bad(expected, "missing", f"record {expected} is missing (deleted): "
                           f"record {seq} follows record {expected - 1}")
            for i, part in enumerate(parts):
                mine = sha256(part).digest()
                if i == last and mine != digest:
                    return bad(expected, "edited", f"record {expected} was changed: its "
                               "content does not match its digest")
                try:
                    d = loads(part)
                    b_seq, b_prev, b_ts = d["seq"], d["prev"], d["ts"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    return bad(expected, "edited", f"record {expected} is not an audit record")
                if last and b_seq.__class__ is int and b_seq > expected \
                        and not _later(list(parts[i + 1:]), expected):
                    return bad(expected, "missing", f"record {expected} is missing (deleted):"
                               f" record {b_seq} follows record {expected - 1}")
                if b_seq != expected:
                    return bad(expected, "reordered", f"record {expected} holds record "
                               f"{b_seq}'s content: records were reordered, or one was "
                               "inserted before it")
                if b_prev != prev.hex():
                    if i:  # both in one row: the one before was changed (or this prev)
                        return bad(expected - 1, "edited", f"record {expected - 1} was "
                                   f"changed: record {expected}, stored with it, was chained "
                                   "to other content")
                    return bad(expected, "chain", f"record {expected} does not follow record "
                               f"{expected - 1} (its prev is not that record's digest): a "
                               "record before it was changed, inserted or removed")
                if i == last and (b_ts != ts_us or b_seq != seq):
                    return bad(expected, "edited", f"record {expected} was changed: its time "
                               "or seq column is not its content's")
                want = signed.get(expected)
                if want is not None and want != mine.hex():
                    return bad(expected, "rewritten", f"record {expected} is not the one a "
                               "signed checkpoint holds: the journal was rewritten, or an "
                               "older copy was restored and written to")
                prev, expected, count = mine, expected + 1, count + 1
    ahead = max(signed, default=-1)
    if ahead >= expected:
        return bad(expected, "truncated", f"the chain ends at record {expected - 1} but a "
                   f"signed checkpoint holds record {ahead}: records were cut from the tail, "
                   "or an older copy of the journal was restored")
    return VerifyReport(True, count, expected - 1 if expected else None, len(signed))


def _later(parts: list[bytes], seq: int) -> bool:
    """Whether a record of a row, after the one where ``seq`` was due, is ``seq`` (moved,
    not deleted)."""
    for part in parts:
        try:
            if orjson.loads(part).get("seq") == seq:
                return True
        except (orjson.JSONDecodeError, AttributeError):
            pass
    return False
