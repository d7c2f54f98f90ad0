"""CPU work per sandboxed no-op call: the engine's, the zygote's and its children's.

    .venv/bin/python bench/bench_sandbox_cpu.py [--calls 400] [--rounds 3] [--profile]
                                                [--no-spare | --both] [--concurrency 1]

Wall-clock figures are noise on a loaded, shared machine; CPU time spent is much less so
(and wall figures are steadier under ``chrt -f 10``, as root). Per round it runs ``--calls``
no-op calls through the sandbox runner (after a warm-up), sequentially unless
``--concurrency N`` runs N at a time, and prints, per call: the engine's CPU
(``time.process_time``), the zygote's own CPU and its reaped children's
(``/proc/<zygote>/stat``: utime+stime, cutime+cstime), their sum, the child's and zygote's
minor page faults, the wall time (and calls/s) and the p50 latency of a call. ``--profile``
prints the engine's top functions by own time under cProfile instead (cProfile inflates the
engine's figures: read its ranking, not its totals). ``--no-spare`` runs without the
zygote's spare child (a call then waits for its fork); ``--both`` runs with, then without.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
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
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_n = [0]


def attempt(skill: Skill, work: Path) -> Attempt:
    _n[0] += 1
    ctx = SkillContext(task_id=f"c{_n[0]}", skill_id=skill.id, attempt=1,
                       workdir=work / skill_slot(skill.id) / f"c{_n[0]}", config={},
                       deadline=time.time() + 30.0, log=logging.getLogger("bench"))
    return Attempt(skill=skill, input_data=build_input({}, {}), context=ctx,
                   limits=AttemptLimits(timeout_s=30.0))


def stat(pid: int) -> tuple[float, float, int, int]:
    """(own CPU s, reaped children's CPU s, own minor faults, children's minor faults)."""
    with open(f"/proc/{pid}/stat") as f:
        x = f.read().rsplit(")", 1)[1].split()
    return ((int(x[11]) + int(x[12])) * _TICK_S, (int(x[13]) + int(x[14])) * _TICK_S,
            int(x[7]), int(x[8]))


async def run(calls: int, rounds: int, profile: bool, spare: bool, conc: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="skillexec-cpu-"))
    work = root / "work"
    d = root / "noop"
    d.mkdir()
    (d / "main.py").write_text(NOOP)
    skill = Skill(id="noop", version="1.0.0",
                  entry=Entry(kind=EntryKind.PYTHON, file=d / "main.py"), path=d)
    runner = SandboxRunner(settings=IsolationSettings(work_root=work, zygote_spare=spare,
                                                      zygote_max_attempts=1_000_000))
    try:
        await runner.prepare(skill)
        for _ in range(20):
            assert (await runner.run(attempt(skill, work))).ok
        # The zygote's host pid (the handle resolves the launcher's child); its own child,
        # when it has one, is a spare.
        zpid = runner.zygotes.live[skill.key].pid
        rows = []
        for _ in range(rounds):
            prof = cProfile.Profile(time.process_time) if profile else None
            z0, w0, e0 = stat(zpid), time.perf_counter(), time.process_time()
            if prof is not None:
                prof.enable()
            lat: list[float] = []

            async def worker(n: int) -> None:
                for _ in range(n):
                    t0 = time.perf_counter()
                    o = await runner.run(attempt(skill, work))
                    lat.append(time.perf_counter() - t0)
                    assert o.ok, o.error

            await asyncio.gather(*(worker(calls // conc + (i < calls % conc))
                                   for i in range(conc)))
            if prof is not None:
                prof.disable()
            e1, w1, z1 = time.process_time(), time.perf_counter(), stat(zpid)
            eng, zyg, kids = ((e1 - e0) / calls * 1e3, (z1[0] - z0[0]) / calls * 1e3,
                              (z1[1] - z0[1]) / calls * 1e3)
            p50 = statistics.median(lat) * 1e3
            rows.append((eng, zyg, kids, eng + zyg + kids, (z1[3] - z0[3]) / calls,
                         (z1[2] - z0[2]) / calls, p50))
            print(f"engine {eng:.3f}  zygote {zyg:.3f}  children {kids:.3f}  "
                  f"total {eng + zyg + kids:.3f} ms CPU/call;  faults child "
                  f"{(z1[3] - z0[3]) / calls:.0f} zygote {(z1[2] - z0[2]) / calls:.0f};  "
                  f"wall {(w1 - w0) / calls * 1e3:.2f} ms/call ({calls / (w1 - w0):.0f} calls/s), "
                  f"p50 {p50:.2f} ms", flush=True)
            if prof is not None:
                pstats.Stats(prof).sort_stats("tottime").print_stats(35)
        if rounds > 1:
            med = [statistics.median(r[i] for r in rows) for i in range(7)]
            print(f"median: engine {med[0]:.3f}  zygote {med[1]:.3f}  children {med[2]:.3f}"
                  f"  total {med[3]:.3f} ms CPU/call; faults child {med[4]:.0f} zygote "
                  f"{med[5]:.0f}; p50 {med[6]:.2f} ms  (load {os.getloadavg()[0]:.1f})")
    finally:
        await runner.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-spare", action="store_true")
    ap.add_argument("--both", action="store_true")
    ap.add_argument("--concurrency", type=int, default=1)
    a = ap.parse_args()
    for spare in ((True, False) if a.both else (not a.no_spare,)):
        print(f"-- spare {'on' if spare else 'off'}", flush=True)
        asyncio.run(run(a.calls, a.rounds, a.profile, spare, a.concurrency))


if __name__ == "__main__":
    main()
