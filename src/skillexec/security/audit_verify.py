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

PAGE = 50_000


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
    sha256 = hashlib.sha256

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
            # The chain fields read without parsing: the body is canonical, its keys
            # sorted, so the last "prev", "seq" and "ts" keys are the record's own (a
            # string value cannot hold an unescaped quote, and "details" comes first).
            # The slow path below parses, only to say what is wrong.
            p = body.rfind(b'"prev":"')
            q = body.rfind(b',"seq":')
            t = body.rfind(b',"ts":')
            if p < 0 or q < 0 or t < 0 or body[p + 8:p + 72] != prev.hex().encode() \
                    or body[q + 7:body.find(b",", q + 7)] != b"%d" % seq \
                    or body[t + 6:-1] != b"%d" % ts_us:
                return bad(seq, *_diagnose(seq, ts_us, body, prev))
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


def _diagnose(seq: int, ts_us: int, body: bytes, prev: bytes) -> tuple[str, str]:
    """Why a record whose digest matches its content does not belong where it is."""
    try:
        d = orjson.loads(body)
        b_seq, b_prev, b_ts = d["seq"], d["prev"], d["ts"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "edited", f"record {seq} is not an audit record"
    if b_seq != seq:
        return "reordered", (f"record {seq} holds record {b_seq}'s content: records were "
                             "reordered, or one was inserted before it")
    if b_prev != prev.hex():
        return "chain", (f"record {seq} does not follow record {seq - 1} (its prev is not "
                         "that record's digest): a record before it was changed, inserted "
                         "or removed")
    if b_ts != ts_us:
        return "edited", f"record {seq} was changed: its time column is not its content's"
    return "edited", f"record {seq} is not in canonical form"
