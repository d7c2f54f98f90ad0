"""Isolated calls side by side: fresh interpreter per call vs process runner vs sandbox runner.

    .venv/bin/python bench/bench_isolation.py [--quick] [--no-spare]

As an unprivileged user (the sandbox then stands on user namespaces): ./.venv's interpreter
lives under /root, so use the world-readable ./.venv-user that scripts/test.sh makes as root,
with the bench extra added once:

    .venv-user/bin/python -m pip install -q -e '.[bench]'
    setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env \
        env HOME=/tmp .venv-user/bin/python bench/bench_isolation.py --quick

Prints one table: p50/p95 latency of a no-op skill and of skills importing a heavy library at
module level (pandas, ~0.5 s to import here, and Pillow; each one's import cost in a fresh
interpreter is measured and printed), minor page faults per sandboxed no-op call (child and
zygote; each costs several microseconds on a VM), throughput of sandboxed no-op calls at
concurrency 8,
100 concurrent sandboxed 0.5 s sleepers, and memory (USS/PSS) per concurrent sandboxed call.
``--no-spare``: zygotes keep no child forked ahead of the next call (``zygote_spare``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from skillexec.runtime.context import SkillContext
from skillexec.runtime.entry import build_input
from skillexec.runtime.runners.base import Attempt, AttemptLimits
from skillexec.runtime.runners.process import ProcessRunner, skill_slot
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.skills.model import Entry, EntryKind, Skill

if "--help" in sys.argv or "-h" in sys.argv:
    print(__doc__)
    sys.exit(0)
QUICK = "--quick" in sys.argv
SPARE = "--no-spare" not in sys.argv
N = 30 if QUICK else 100
NOOP = "def execute(input_data):\n    return {'ok': True}\n"
PANDAS = ("import pandas as pd\n"
          "def execute(input_data):\n"
          "    df = pd.DataFrame({'a': [1, 2, 3]})\n"
          "    return {'sum': int(df['a'].sum())}\n")
PILLOW = ("from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps\n"
         "def execute(input_data):\n"
         "    im = Image.new('RGB', (16, 16), 'white').filter(ImageFilter.BLUR)\n"
         "    return {'size': list(im.size)}\n")
# What each heavy skill imports, timed in a fresh interpreter (median of 3).
IMPORTS = {"pandas": "import pandas",
           "pillow": "from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps"}
SLEEP = "import time\ndef execute(input_data):\n    time.sleep(0.5)\n    return 1\n"
FRESH = ("import importlib.util, json, sys\n"
         "spec = importlib.util.spec_from_file_location('skill', sys.argv[1])\n"
         "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
         "print(json.dumps(m.execute(json.loads(sys.stdin.read()))))\n")


def make(root: Path, name: str, code: str) -> Skill:
    d = root / name
    d.mkdir()
    (d / "main.py").write_text(code)
    return Skill(id=name, version="1.0.0", entry=Entry(kind=EntryKind.PYTHON, file=d / "main.py"),
                 path=d)


_n = [0]


def att(skill: Skill, work: Path, timeout_s: float = 30.0) -> Attempt:
    _n[0] += 1
    ctx = SkillContext(task_id=f"b{_n[0]}", skill_id=skill.id, attempt=1,
                       workdir=work / skill_slot(skill.id) / f"b{_n[0]}", config={},
                       deadline=time.time() + timeout_s, log=logging.getLogger("bench"))
    return Attempt(skill=skill, input_data=build_input({}, {}), context=ctx,
                   limits=AttemptLimits(timeout_s=timeout_s))


async def fresh_call(skill: Skill) -> None:
    assert skill.entry.file is not None
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FRESH, str(skill.entry.file), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    out, _ = await p.communicate(json.dumps(build_input({}, {})).encode())
    json.loads(out)


async def import_cost_ms(stmt: str) -> float:
    code = f"import time\nt = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t)"
    xs = []
    for _ in range(3):
        p = await asyncio.create_subprocess_exec(sys.executable, "-c", code,
                                                 stdout=asyncio.subprocess.PIPE)
        out, _ = await p.communicate()
        xs.append(float(out) * 1000)
    return statistics.median(xs)


def faults(pid: int) -> tuple[int, int] | None:
    """(minor faults of ``pid``, of its reaped children) from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[7]), int(fields[8])


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


async def lat(fn: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t)
    return out


async def main() -> None:
    import importlib.util

    missing = [m for m in ("pandas", "PIL") if importlib.util.find_spec(m) is None]
    if missing:  # the heavy-import rows need them: say so rather than fail half-way
        sys.exit(f"bench_isolation needs {', '.join(missing)}: "
                 "pip install -e '.[bench]' (into this venv) and run it again")
    root = Path(tempfile.mkdtemp(prefix="skillexec-bench-"))
    work = root / "work"
    skills = {"noop": make(root, "noop", NOOP), "pandas": make(root, "pandas", PANDAS),
              "pillow": make(root, "pillow", PILLOW)}
    sleeper = make(root, "sleeper", SLEEP)
    cfg = IsolationSettings(work_root=work, zygote_spare=SPARE)
    proc, sand = ProcessRunner(settings=cfg), SandboxRunner(settings=cfg)
    rows: list[tuple[str, str, str]] = []
    results: dict[tuple[str, str], float] = {}
    try:
        for name, skill in skills.items():
            if name in IMPORTS:
                rows.append((f"{name}: import cost (fresh interpreter)",
                             f"{await import_cost_ms(IMPORTS[name]):7.0f} ms", ""))
            for r in (proc, sand):
                await r.prepare(skill)
                await r.run(att(skill, work))

            async def via(r: ProcessRunner, s: Skill = skill) -> None:
                o = await r.run(att(s, work))
                assert o.ok, o.error

            await fresh_call(skill)
            fl = await lat(lambda s=skill: fresh_call(s), N // 2)
            pl = await lat(lambda: via(proc), N)
            zpid = sand.zygotes.live[skill.key].pid
            f0, t0 = faults(zpid), time.process_time()
            sl = await lat(lambda: via(sand), N)
            f1, t1 = faults(zpid), time.process_time()
            if name == "noop" and f0 and f1:
                # Minor (copy-on-write) faults: each costs several microseconds on a VM.
                rows.append(("noop: sandbox faults per call (sequential)",
                             f"child {(f1[1] - f0[1]) / N:5.0f}",
                             f"zygote {(f1[0] - f0[0]) / N:4.0f}; engine CPU "
                             f"{(t1 - t0) / N * 1000:.2f} ms/call"))
            for label, xs in (("fresh interpreter", fl), ("process runner", pl),
                              ("sandbox runner", sl)):
                results[(name, label)] = pct(xs, 0.5)
                rows.append((f"{name}: {label}", f"p50 {pct(xs, 0.5):7.2f} ms",
                             f"p95 {pct(xs, 0.95):7.2f} ms"))
            f50 = results[(name, "fresh interpreter")]
            p50 = results[(name, "process runner")]
            rows.append((f"{name}: ratios", f"process {p50 / f50:.2f}x",
                         f"sandbox {results[(name, 'sandbox runner')] / f50:.2f}x of fresh;"
                         f" sandbox {f50 / results[(name, 'sandbox runner')]:.1f}x faster"))
        # throughput of sandboxed no-op calls at concurrency 8
        sem = asyncio.Semaphore(8)
        total = 300 if QUICK else 1000

        async def one() -> None:
            async with sem:
                o = await sand.run(att(skills["noop"], work))
                assert o.ok, o.error

        t0 = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(total)])
        rate = total / (time.perf_counter() - t0)
        rows.append(("sandbox no-op throughput (conc. 8)", f"{rate:7.0f} calls/s", ""))
        # 100 concurrent sleepers, and memory of the children while they sleep
        await sand.prepare(sleeper)
        await sand.run(att(sleeper, work))
        zpid = sand.zygotes.live[sleeper.key].pid
        mem: list[tuple[float, float]] = []

        async def sample() -> None:
            await asyncio.sleep(0.35)
            for c in psutil.Process(zpid).children():
                try:
                    fi = c.memory_full_info()
                    mem.append((fi.uss / 2**20, fi.pss / 2**20))
                except psutil.Error:
                    pass

        t0 = time.perf_counter()
        outs, _ = await asyncio.gather(
            asyncio.gather(*[sand.run(att(sleeper, work)) for _ in range(100)]), sample())
        wall = time.perf_counter() - t0
        assert all(o.ok for o in outs), [o.error for o in outs if not o.ok][:2]
        rows.append(("100 concurrent sandboxed 0.5 s sleeps", f"{wall:7.2f} s wall", ""))
        if mem:
            rows.append((f"memory per sandboxed call ({len(mem)} sampled)",
                         f"USS {statistics.median(u for u, _ in mem):5.2f} MB",
                         f"PSS {statistics.median(p for _, p in mem):5.2f} MB"))
    finally:
        await proc.close()
        await sand.close()
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'':<20}  {''}")
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<20}  {c}")


if __name__ == "__main__":
    asyncio.run(main())
