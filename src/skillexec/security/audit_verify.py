"""Checking the audit chain: streamed page by page, every record hashed from its stored
bytes, and every signed checkpoint matched. Names the first bad record and what is wrong."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from skillexec.security.audit_chain import GENESIS, AuditRow
from skillexec.security.audit_checkpoints import Checkpoint

__all__ = ["VerifyReport", "verify_chain"]

PAGE = 20_000  # rows per read: memory stays flat however long the chain


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
            if seq != expected:
                return bad(expected, "missing", f"record {expected} is missing (deleted): "
                           f"record {seq} follows record {expected - 1}")
            if sha256(body).digest() != digest:
                return bad(seq, "edited", f"record {seq} was changed: its content does not "
                           "match its digest")
            try:
                d = loads(body)
                b_seq, b_prev, b_ts = d["seq"], d["prev"], d["ts"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return bad(seq, "edited", f"record {seq} is not an audit record")
            if b_seq != seq:
                return bad(seq, "reordered", f"record {seq} holds record {b_seq}'s content: "
                           "records were reordered, or one was inserted before it")
            if b_prev != prev.hex():
                return bad(seq, "chain", f"record {seq} does not follow record {seq - 1} "
                           "(its prev is not that record's digest): a record before it was "
                           "changed, inserted or removed")
            if b_ts != ts_us:
                return bad(seq, "edited", f"record {seq} was changed: its time column is "
                           "not its content's")
            want = signed.get(seq)
            if want is not None and want != digest.hex():
                return bad(seq, "rewritten", f"record {seq} is not the one a signed "
                           "checkpoint holds: the journal was rewritten, or an older copy "
                           "was restored and written to")
            prev, expected, count = digest, seq + 1, count + 1
    ahead = max(signed, default=-1)
    if ahead >= expected:
        return bad(expected, "truncated", f"the chain ends at record {expected - 1} but a "
                   f"signed checkpoint holds record {ahead}: records were cut from the tail, "
                   "or an older copy of the journal was restored")
    return VerifyReport(True, count, expected - 1 if expected else None, len(signed))
