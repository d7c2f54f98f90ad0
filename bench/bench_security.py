"""Cost of data protection (issue #15): encryption at rest and output filtering.

Run:  .venv/bin/python bench/bench_security.py [--calls 5000] [--rounds 10] [--skill noop]
Instructions per call of one arm (load-independent; start-up cancels in the difference):
  valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p .venv/bin/python \
      bench/bench_security.py --arm on --calls 1500    (then --calls 3500, and --arm off)
  per call = (Ir at 3500 - Ir at 1500) / 2000  (``callgrind_annotate`` prints Ir)
  Both runs must pass the first audit checkpoint (record 1000, 200 warm-up calls included):
  its first-time imports otherwise land in the difference. Even so, totals vary by ~10k a
  call from run to run (asyncio's timer heap, the WAL checkpointer thread): compare the
  inclusive counts of the functions that changed (``callgrind_annotate --inclusive=yes``).
  Under valgrind, OpenSSL runs SHA-256 without the CPU's SHA extensions: each audit
  record's hash counts ~9k instructions that take ~0.2 µs on this machine.

Side by side in one run, on this machine:
  1. engine.execute() of an inline skill, SQLite journal on, with audit + encryption +
     redaction all on, against all three off (issue #15: on/off >= 85 %). The two arms
     alternate pair by pair (each round a fresh engine, the order flipped every pair) so
     that the box's noise hits both alike. Reported per arm: CPU µs per call (this process's
     CPU time, all threads: steadier than wall time on a loaded 2-core box) and calls/s
     (median round), and the median of the pairs' on/off ratios for both. ``--skill noop``
     (the issue's figure: returns None) or ``echo`` (echoes a short parameter: an output to
     seal and to scan).
  2. redaction: one call of the masker on 64 KiB of prose without secrets, on 64 KiB with
     a few, and on a short error message (~120 B); µs per call.
  3. sealing: a 256-byte field sealed and opened; a 1 MiB artifact sealed in chunks.
The audit log's own figures (``audit verify`` of 1,000,000 records) are bench_audit.py's.
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


@skill(id="noop", version="1.0.0")
async def noop() -> None:
    return None


CORE = {"monitor": {"enabled": False},
        "reliability": {"breaker_enabled": False, "budget_enabled": False},
        "pressure": {"enabled": False}, "cache": {"enabled": False}}
PARAMS: dict[str, dict[str, Any]] = {"noop": {},
                                     "echo": {"text": "hello world, a short parameter"}}


async def one_round(calls: int, data: Path, *, protect: bool, skill_id: str,
                    callers: int = 50) -> tuple[float, float]:
    """Calls/s (wall) and CPU µs per call (this process, all its threads)."""
    cfg = EngineConfig(data_dir=data, max_concurrency=1000, audit={"enabled": protect},
                       security={"encryption": protect, "redact": protect}, **CORE)
    params = PARAMS[skill_id]
    async with SkillExecutionEngine(config=cfg) as engine:
        engine.register(echo)
        engine.register(noop)
        for _ in range(200):  # warm up
            await engine.execute(skill_id, params, principal="bench")
        remaining = calls

        async def caller() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await engine.execute(skill_id, params, principal="bench")
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(caller() for _ in range(callers)))
        return (calls / (time.perf_counter() - t0),
                (time.process_time() - c0) / calls * 1e6)


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
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--skill", choices=sorted(PARAMS), default="noop")
    ap.add_argument("--engine-only", action="store_true", help="skip parts 2 and 3")
    ap.add_argument("--arm", choices=("on", "off"),
                    help="one round of one arm only, nothing printed: for a profiler "
                         "(callgrind: the difference of two --calls counts is per call)")
    args = ap.parse_args()
    os.environ["SKILLEXEC_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    if args.arm is not None:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(one_round(args.calls, Path(tmp), protect=args.arm == "on",
                                  skill_id=args.skill))
        return

    on: list[tuple[float, float]] = []
    off: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for protect in ((True, False) if r % 2 == 0 else (False, True)):
                (on if protect else off).append(asyncio.run(one_round(
                    args.calls, Path(tmp) / f"{r}-{protect}", protect=protect,
                    skill_id=args.skill)))
    load = os.getloadavg()
    print(f"1. inline {args.skill}, SQLite journal, {args.calls} calls x {args.rounds} "
          f"pairs, interleaved (load average {load[0]:.1f} / {load[1]:.1f})")
    for name, arm in (("all off", off), ("audit + encryption + redaction", on)):
        print(f"   {name:31} {statistics.median(c for _, c in arm):7.1f} CPU µs/call, "
              f"{statistics.median(w for w, _ in arm):8,.0f} calls/s "
              f"(rounds: {', '.join(f'{w:,.0f}' for w, _ in arm)})")
    cpu = [b[1] / a[1] for a, b in zip(on, off, strict=True)]
    wall = [a[0] / b[0] for a, b in zip(on, off, strict=True)]
    print(f"   on / off, median of pairs:      CPU {statistics.median(cpu):.1%} "
          f"(pairs: {', '.join(f'{x:.0%}' for x in cpu)}); calls/s "
          f"{statistics.median(wall):.1%} (pairs: {', '.join(f'{x:.0%}' for x in wall)})"
          "  (target >= 85 %)")
    if args.engine_only:
        return

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
