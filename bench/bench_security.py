"""Cost of data protection (issue #15): encryption at rest and output filtering.

Run:  .venv/bin/python bench/bench_security.py [--calls 5000] [--rounds 5]

Side by side in one run, on this machine:
  1. engine.execute() of an inline skill that echoes a short parameter, SQLite journal on,
     with encryption + redaction on, against both off; the two configurations alternate
     round by round (each round a fresh engine) so that the box's noise hits both alike.
     Reported: calls/s of each (median round), and the median of the rounds' on/off
     ratios (each pair of rounds back to back: the box's load drifts between pairs).
  2. redaction: one call of the masker on 64 KiB of prose without secrets, on 64 KiB with
     a few, and on a short error message (~120 B); µs per call.
  3. sealing: a 256-byte field sealed and opened; a 1 MiB artifact sealed in chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.security.artifact_seal import seal_to
from skillexec.security.keyring import Keyring
from skillexec.security.redaction import mask
from skillexec.storage.codec import SealingCodec


@skill(id="echo", version="1.0.0")
async def echo(text: str) -> dict[str, Any]:
    return {"text": text}


CORE = {"monitor": {"enabled": False},
        "reliability": {"breaker_enabled": False, "budget_enabled": False},
        "pressure": {"enabled": False}, "cache": {"enabled": False}}


async def one_round(calls: int, data: Path, *, protect: bool, callers: int = 50) -> float:
    cfg = EngineConfig(data_dir=data, max_concurrency=1000,
                       security={"encryption": protect, "redact": protect}, **CORE)
    async with SkillExecutionEngine(config=cfg) as engine:
        engine.register(echo)
        for _ in range(200):  # warm up
            await engine.execute("echo", {"text": "warm up"}, principal="bench")
        remaining = calls

        async def caller() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await engine.execute("echo", {"text": "hello world, a short parameter"},
                                     principal="bench")
        gc.collect()
        t0 = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        return calls / (time.perf_counter() - t0)


def per_call_us(fn: Callable[[], object], *, min_s: float = 0.3) -> float:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        took = time.perf_counter() - t0
        if took >= min_s:
            return took / n * 1e6
        n *= 2


def prose(size: int) -> str:
    sentence = ("the engine runs each skill in its own sandbox and records what it did, "
                "including timings, the status and the error code of every attempt.")
    words = sentence.split(" ")
    out: list[str] = []
    n = 0
    i = 0
    while n < size:
        w = words[i % len(words)]
        out.append(w)
        n += len(w) + 1
        i += 1
    return " ".join(out)[:size]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    os.environ["SKILLEXEC_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()

    on: list[float] = []
    off: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for protect in ((True, False) if r % 2 == 0 else (False, True)):
                rate = asyncio.run(one_round(args.calls, Path(tmp) / f"{r}-{protect}",
                                             protect=protect))
                (on if protect else off).append(rate)
    print(f"1. inline echo, SQLite journal, {args.calls} calls x {args.rounds} rounds, "
          "interleaved")
    print(f"   all off:                    {statistics.median(off):9,.0f} calls/s "
          f"(rounds: {', '.join(f'{x:,.0f}' for x in off)})")
    print(f"   encryption + redaction on:  {statistics.median(on):9,.0f} calls/s "
          f"(rounds: {', '.join(f'{x:,.0f}' for x in on)})")
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    print(f"   on / off (median of pairs): {statistics.median(ratios):.1%} "
          f"(pairs: {', '.join(f'{x:.0%}' for x in ratios)})")

    clean = prose(64 << 10)
    dirty = (clean[:20000] + " key AKIAIOSFODNN7EXAMPLE " + clean[20000:40000]
             + " card 4111 1111 1111 1111 password=hunter2xyz " + clean[40000:])[:64 << 10]
    err = ("ValueError: could not connect to https://api.example.com/v1/items: timed out "
           "after 30 s (attempt 2 of 3)")
    exact = ("opensesame-42",)
    print("2. redaction, per call")
    print(f"   64 KiB prose, no secret:    {per_call_us(lambda: mask(clean, exact)):9.1f} µs")
    print(f"   64 KiB prose, 3 secrets:    {per_call_us(lambda: mask(dirty, exact)):9.1f} µs")
    print(f"   {len(err)}-byte error message: {per_call_us(lambda: mask(err, exact)):9.2f} µs")

    with tempfile.TemporaryDirectory() as tmp:
        ring = Keyring.open(Path(tmp) / "k.json", os.urandom(32))
        codec = SealingCodec(ring)
        field = os.urandom(256)
        sealed = codec.seal("tasks", "0661ec9520704acb0c4a7ded", "params", "bench", field)
        big = os.urandom(1 << 20)
        key = ring.key_for("bench")
        seal_us = per_call_us(lambda: codec.seal("tasks", "0661ec9520704acb0c4a7ded",
                                                 "params", "bench", field))
        open_us = per_call_us(lambda: codec.open("tasks", "0661ec9520704acb0c4a7ded",
                                                 "params", "bench", sealed))
        art_us = per_call_us(lambda: seal_to(io.BytesIO(), big, key=key, owner="bench",
                                             digest="d" * 64))
    print("3. sealing")
    print(f"   256-byte field seal / open: {seal_us:9.2f} / {open_us:.2f} µs")
    print(f"   1 MiB artifact, 16 chunks:  {art_us / 1000:9.2f} ms "
          f"({(1 << 20) / art_us:,.0f} MB/s)")


if __name__ == "__main__":
    main()
