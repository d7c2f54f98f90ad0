"""Bundled scripts: a warm engine call vs a fresh ``python script.py``, side by side.

    .venv/bin/python bench/bench_scripts.py [--quick] [--isolation sandbox|process]
                                            [--against ../other-worktree ...]
                                            [--spacing-ms 30]

Two scripts of one skill: a no-op, and one that imports pypdf at top level (the skill's
script parent pre-imports it once, so the no-op's child is forked from a parent holding
pypdf too). For each: the p50/p95 of ``engine.run_script`` (the whole pipeline: journal,
admission, workspace, fork, artifacts scan) one call after another, and of
``subprocess.run([python, script])`` (a fresh interpreter, no isolation at all), in
alternating rounds so both see the same machine. Targets (issue #14): the no-op at most
1/5 of a fresh run, the pypdf script at least 10x faster than a fresh run.

Also in the same rounds, for scale: the same no-op as the only script of a skill of its
own (a script parent that pre-imports nothing, as a skill of no-op scripts has); the same
engine's no-op *entry* call (``engine.execute``, sandboxed the same way): what a script call
costs beyond it is the script path's own (workspace, session turn, artifact scan, runpy
setup); and the no-op in a session whose folder holds ``_SESSION_FILES`` files (written by
a first call): the folder is handed to the skill's uid and noted before, and scanned for
artifacts after, every call.

``--spacing-ms N``: each call starts N ms after the one before ended (as an agent's calls
come), rather than right after it: what a call finds after a quiet spell (a cgroup attach
then waits for an RCU grace period).

Each engine runs in a worker process of its own (``--worker``), started with the tree's own
``.venv/bin/python``; ``--against DIR`` adds another tree's engine (a baseline checkout)
driven in the same rounds, each tree's calls right after the other's. CPU per call is
printed beside the wall times, being much less load-dependent: the engine process's own
(``time.process_time``), its zygotes' (``/proc/<pid>/schedstat``, all of them, per call) and the
call's child (its rusage, the ``cpu_ms`` metric: a script's child that answers before
its exit reports its own, to the script's end); and, as "reaped", every child's CPU as its
zygote reaped it, exit included (the zygotes' cutime + cstime).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SKILL = {"noop.py": "", "import_pypdf.py": "import pypdf  # noqa: F401\n"}
_MANIFEST = ('{{"skill_id": "{0}", "name": "{0}", "version": "1.0.0", '
             '"entry_point": "app.skills.skills.bench_scripts", "dependencies": []}}')
_SESSION_FILES = 50
_ENTRY = ('{"id": "bench-entry", "version": "1.0.0", "entry_point": "main:execute"}',
          "def execute(input_data):\n    return None\n")
# kind -> (label, fresh arm it is compared with)
_KINDS = {"noop": ("noop.py", "noop.py"), "pypdf": ("import_pypdf.py", "import_pypdf.py"),
          "noop_own": ("noop.py, own skill", "noop.py"),
          "session": ("noop.py, session", "noop.py"), "entry": ("entry no-op", None)}
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _quantiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.95))]


def _make_skills(root: Path) -> Path:
    skills = root / "skills"
    for skill_id, scripts in (("bench-scripts", _SKILL), ("bench-noop", {"noop.py": ""})):
        folder = skills / skill_id
        (folder / "scripts").mkdir(parents=True)
        (folder / "skill.json").write_text(_MANIFEST.format(skill_id))
        for name, code in scripts.items():
            (folder / "scripts" / name).write_text(code)
    entry = skills / "bench-entry"
    entry.mkdir()
    (entry / "skill.json").write_text(_ENTRY[0])
    (entry / "main.py").write_text(_ENTRY[1])
    return skills


# -- the worker: one engine, driven over stdin/stdout ------------------------------------
def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        out += kids
        todo += kids
    return out


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds the processes ran: schedstat's nanoseconds (clock ticks, 10 ms, would
    not tell a tenth of a millisecond per call apart), else utime + stime."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                total += int(f.read().split()[0]) / 1e9
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * _TICK_S
    return total


def _reaped_cpu_s(pids: list[int]) -> float:
    """CPU seconds of the processes' reaped children (cutime + cstime, in clock ticks: the
    kernel keeps them exact and truncates the running total, so a mean over many calls
    is good to a tick over the whole run). A call's child is counted whole, its exit
    included, whenever its zygote reaps it (the call may have answered before)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[13]) + int(fields[14])) * _TICK_S
    return total


async def _worker(isolation: str, spacing_s: float) -> None:
    from skillexec import SkillExecutionEngine
    from skillexec.config import EngineConfig

    root = Path(tempfile.mkdtemp(prefix="bench-scripts-"))
    try:
        config = EngineConfig(skills_dir=_make_skills(root), data_dir=root / "data",
                              isolation={"default_level": isolation})
        async with SkillExecutionEngine(config=config) as engine:
            sid = engine.sessions.create()
            calls = {
                "noop": lambda: engine.run_script("bench-scripts", "scripts/noop.py"),
                "pypdf": lambda: engine.run_script("bench-scripts", "scripts/import_pypdf.py"),
                "noop_own": lambda: engine.run_script("bench-noop", "scripts/noop.py"),
                "session": lambda: engine.run_script("bench-scripts", "scripts/noop.py",
                                                     session=sid),
                "entry": lambda: engine.execute("bench-entry", {}),
            }
            for call in calls.values():  # the script parents start (and import) once
                r = await call()
                assert r.ok, r.error
            r = await engine.run_script("bench-scripts", "scripts/noop.py", session=sid, files={
                f"data/f{i}.txt": b"x" * 100 for i in range(_SESSION_FILES)})
            assert r.ok, r.error
            zygotes = _descendants(os.getpid())  # launchers too: they idle
            print(json.dumps({"ready": True}), flush=True)
            for line in sys.stdin:
                kind, n = line.split()
                rows = []
                for _ in range(int(n)):
                    if spacing_s:
                        await asyncio.sleep(spacing_s)
                    k0 = _reaped_cpu_s(zygotes)
                    z0, c0, t0 = _cpu_s(zygotes), time.process_time(), time.perf_counter()
                    r = await calls[kind]()
                    wall = (time.perf_counter() - t0) * 1000
                    cpu = (time.process_time() - c0) * 1000
                    rows.append((wall, cpu, (_cpu_s(zygotes) - z0) * 1000,
                                 r.metrics.get("cpu_ms") or 0.0,
                                 (_reaped_cpu_s(zygotes) - k0) * 1000))
                    assert r.ok, r.error
                print(json.dumps(rows), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the driver ---------------------------------------------------------------------------
class _Arm:
    def __init__(self, name: str, tree: Path, isolation: str, spacing_ms: float) -> None:
        self.name = name
        python = tree / ".venv" / "bin" / "python"
        env = dict(os.environ)
        if tree == ROOT or python.exists():
            exe = sys.executable if tree == ROOT else str(python)
        else:  # a tree without a venv of its own: this interpreter, its src first
            exe = sys.executable
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(tree / "src"), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [exe, str(Path(__file__).resolve()), "--worker", "--isolation", isolation,
             "--spacing-ms", str(spacing_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tree, env=env)
        assert self.proc.stdout is not None
        assert json.loads(self.proc.stdout.readline()).get("ready"), f"{name}: no worker"
        self.rows: dict[str, list[tuple[float, ...]]] = {k: [] for k in _KINDS}

    def run(self, kind: str, n: int) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{kind} {n}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: the worker died")
        self.rows[kind] += [tuple(r) for r in json.loads(line)]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _fresh(script: Path, cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(script)], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def main(rounds: int, per_round: int, isolation: str, against: list[Path],
         spacing_ms: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-scripts-fresh-"))
    arms: list[_Arm] = []
    try:
        skill = _make_skills(root) / "bench-scripts" / "scripts"
        arms.append(_Arm("this tree", ROOT, isolation, spacing_ms))
        for tree in against:
            arms.append(_Arm(str(tree), tree.resolve(), isolation, spacing_ms))
        fresh: dict[str, list[float]] = {n: [] for n in _SKILL}
        load = [os.getloadavg()[0]]
        for i in range(rounds):
            for kind in _KINDS:
                # Trees alternate which goes first, so neither always follows the other.
                for arm in (arms if i % 2 == 0 else arms[::-1]):
                    arm.run(kind, per_round)
            for name in _SKILL:
                for _ in range(max(1, per_round // 4)):
                    fresh[name].append(_fresh(skill / name, root))
            load.append(os.getloadavg()[0])
        _report(isolation, arms, fresh, load, spacing_ms)
    finally:
        for arm in arms:
            arm.close()
        shutil.rmtree(root, ignore_errors=True)


def _report(isolation: str, arms: list[_Arm], fresh: dict[str, list[float]],
            load: list[float], spacing_ms: float) -> None:
    spaced = f"{spacing_ms:g} ms apart" if spacing_ms else "one call after another"
    print(f"bundled scripts, {isolation} (warm engine.run_script, {spaced}) "
          f"vs a fresh `python script.py`; ms; load average {min(load):.1f}-{max(load):.1f}")
    for name, samples in fresh.items():
        f50, f95 = _quantiles(samples)
        print(f"  fresh {name:<16} p50 {f50:8.2f}  p95 {f95:8.2f}  ({len(samples)} runs)")
    print(f"{'tree':<22}{'call':<20}{'p50':>8}{'p95':>8}{'fresh/p50':>10}"
          f"{'CPU engine':>11}{'zygote':>8}{'child':>8}{'total':>8}{'reaped':>8}")
    for kind, (label, against) in _KINDS.items():
        for arm in arms:
            rows = arm.rows[kind]
            w50, w95 = _quantiles([r[0] for r in rows])
            ratio = f"{_quantiles(fresh[against])[0] / w50:9.1f}x" if against else f"{'':>10}"
            cpu = [statistics.mean(r[i] for r in rows) for i in (1, 2, 3)]
            reaped = statistics.mean(r[4] for r in rows)
            print(f"{arm.name[-21:]:<22}{label:<20}{w50:>8.2f}{w95:>8.2f}{ratio}"
                  f"{cpu[0]:>11.2f}{cpu[1]:>8.2f}{cpu[2]:>8.2f}{sum(cpu):>8.2f}"
                  f"{reaped:>8.2f}")
    n = len(arms[0].rows["noop"])
    print(f"({n} warm calls per kind and tree; CPU: mean ms per call of the engine process, "
          f"of its zygotes (/proc/<pid>/schedstat) and of the call's child (its cpu_ms: "
          f"to the script's end, its exit's teardown left out where the call answered "
          f"before it); reaped: the children's CPU as their zygotes reaped them, exits "
          f"included (cutime + cstime, mean of clock ticks); "
          f"session: its folder holds {_SESSION_FILES} files)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--isolation", default="sandbox", choices=("sandbox", "process"))
    ap.add_argument("--against", type=Path, action="append", default=[],
                    help="another worktree whose engine runs in the same rounds (with its "
                         ".venv's python, else this one with its src first on the path)")
    ap.add_argument("--spacing-ms", type=float, default=0.0,
                    help="each call this long after the one before ended")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        asyncio.run(_worker(a.isolation, a.spacing_ms / 1000))
    else:
        main(3 if a.quick else 5, 20 if a.quick else 60, a.isolation, a.against,
             a.spacing_ms)
