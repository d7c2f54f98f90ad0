"""A zygote's spare on and off, interleaved in one run (runners/_spare.py).

    .venv/bin/python bench/bench_spare.py [--rounds 6] [--spacing-ms 30] [--calls 20]

Two sandbox runners in this process, one with ``zygote_spare`` on and one with it off,
each with a warm no-op Python skill, driven in alternating rounds (which one goes first
alternates too). Per round and arm: ``--calls`` calls one after another; as many
``--spacing-ms`` apart (as an agent's calls come: the cgroup attach of a call after a
quiet spell waits for an RCU grace period); and 200 calls at concurrency 8 (throughput).
Prints p50 wall and the engine's CPU per call for the sequential rows, calls/s (median
and min over rounds) for the concurrent one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from skillexec.runtime.context import SkillContext
from skillexec.runtime.entry import build_input
from skillexec.runtime.runners.base import Attempt, AttemptLimits
from skillexec.runtime.runners.process import skill_slot
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.skills.model import Entry, EntryKind, Skill

NOOP = "def execute(input_data):\n    return {'ok': True}\n"
_n = [0]


def _skill(root: Path, name: str) -> Skill:
    d = root / name
    d.mkdir(parents=True)
    (d / "main.py").write_text(NOOP)
    return Skill(id=name, version="1.0.0", entry=Entry(kind=EntryKind.PYTHON, file=d / "main.py"),
                 path=d)


def _att(skill: Skill, work: Path) -> Attempt:
    _n[0] += 1
    ctx = SkillContext(task_id=f"b{_n[0]}", skill_id=skill.id, attempt=1,
                       workdir=work / skill_slot(skill.id) / f"b{_n[0]}", config={},
                       deadline=time.time() + 30, log=logging.getLogger("bench"))
    return Attempt(skill=skill, input_data=build_input({}, {}), context=ctx,
                   limits=AttemptLimits(timeout_s=30))


async def _call(r: SandboxRunner, skill: Skill, work: Path) -> float:
    t = time.perf_counter()
    o = await r.run(_att(skill, work))
    assert o.ok, o.error
    return (time.perf_counter() - t) * 1000


async def main(rounds: int, calls: int, spacing_ms: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-spare-"))
    arms = {}
    for on in (True, False):
        work = root / f"work-{on}"
        r = SandboxRunner(settings=IsolationSettings(work_root=work, zygote_spare=on))
        skill = _skill(root, f"noop-{'on' if on else 'off'}")
        await r.prepare(skill)
        await _call(r, skill, work)
        arms["spare on" if on else "spare off"] = (r, skill, work)
    rows: dict[tuple[str, str], list[float]] = {}
    try:
        for i in range(rounds):
            for name in (list(arms) if i % 2 == 0 else list(arms)[::-1]):
                r, skill, work = arms[name]
                for label, gap in (("back to back", 0.0), (f"{spacing_ms:g} ms apart",
                                                          spacing_ms / 1000)):
                    await asyncio.sleep(0.05)
                    c0 = time.process_time()
                    for _ in range(calls):
                        if gap:
                            await asyncio.sleep(gap)
                        rows.setdefault((name, label), []).append(
                            await _call(r, skill, work))
                    rows.setdefault((name, label + " cpu"), []).append(
                        (time.process_time() - c0) * 1000 / calls)
                sem = asyncio.Semaphore(8)

                async def one(r: SandboxRunner = r, skill: Skill = skill,
                              work: Path = work) -> None:
                    async with sem:
                        await _call(r, skill, work)

                await asyncio.sleep(0.05)
                t0 = time.perf_counter()
                await asyncio.gather(*[one() for _ in range(200)])
                rows.setdefault((name, "conc. 8"), []).append(
                    200 / (time.perf_counter() - t0))
    finally:
        for r, _s, _w in arms.values():
            await r.close()
    print(f"sandboxed no-op Python calls, spare on vs off, {rounds} interleaved rounds")
    for label in ("back to back", f"{spacing_ms:g} ms apart"):
        for name in arms:
            xs = rows[(name, label)]
            print(f"  {label:<16} {name:<10} p50 {statistics.median(xs):6.2f} ms  "
                  f"engine CPU {statistics.mean(rows[(name, label + ' cpu')]):5.2f} ms/call"
                  " (incl. making spares)")
    for name in arms:
        xs = rows[(name, "conc. 8")]
        print(f"  {'conc. 8':<16} {name:<10} {statistics.median(xs):6.0f} calls/s median, "
              f"{min(xs):6.0f} min, {max(xs):6.0f} max")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--spacing-ms", type=float, default=30.0)
    a = ap.parse_args()
    asyncio.run(main(a.rounds, a.calls, a.spacing_ms))
