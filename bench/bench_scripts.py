"""Bundled scripts: a warm engine call vs a fresh ``python script.py``, side by side.

    .venv/bin/python bench/bench_scripts.py [--quick] [--isolation sandbox|process]

Two scripts of one skill: a no-op, and one that imports pypdf at top level (the skill's
script parent pre-imports it once). For each: the p50/p95 of ``engine.run_script`` (the
whole pipeline: journal, admission, workspace, fork, artifacts scan) one call after another,
and of ``subprocess.run([python, script])`` (a fresh interpreter, no isolation at all),
in alternating rounds so both see the same machine. Targets (issue #14): the no-op at most
1/5 of a fresh run, the pypdf script at least 10x faster than a fresh run.

For scale, the same engine's no-op *entry* call (``engine.execute``, sandboxed the same way)
runs in the same rounds: what a script call costs beyond it is the script path's own
(workspace, session turn, artifact scan, runpy setup). So does the no-op in a session whose
folder holds ``_SESSION_FILES`` files (written by a first call): the folder is handed to the
skill's uid and noted before, and scanned for artifacts after, every call. The engine
process's CPU per call (``time.process_time``) is printed beside the wall times: it is
much less load-dependent.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig

_SKILL = {"noop.py": "", "import_pypdf.py": "import pypdf  # noqa: F401\n"}
_MANIFEST = ('{"skill_id": "bench-scripts", "name": "bench-scripts", "version": "1.0.0", '
             '"entry_point": "app.skills.skills.bench_scripts", "dependencies": []}')
_SESSION_FILES = 50
_ENTRY = ('{"id": "bench-entry", "version": "1.0.0", "entry_point": "main:execute"}',
          "def execute(input_data):\n    return None\n")


def _quantiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.95))]


def _fresh(script: Path, cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(script)], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


async def main(rounds: int, per_round: int, isolation: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-scripts-"))
    try:
        skill = root / "skills" / "bench-scripts"
        (skill / "scripts").mkdir(parents=True)
        (skill / "skill.json").write_text(_MANIFEST)
        for name, code in _SKILL.items():
            (skill / "scripts" / name).write_text(code)
        entry = root / "skills" / "bench-entry"
        entry.mkdir()
        (entry / "skill.json").write_text(_ENTRY[0])
        (entry / "main.py").write_text(_ENTRY[1])
        config = EngineConfig(skills_dir=root / "skills", data_dir=root / "data",
                              isolation={"default_level": isolation})
        warm: dict[str, list[float]] = {n: [] for n in _SKILL}
        cpu: dict[str, list[float]] = {n: [] for n in (*_SKILL, "entry", "session")}
        entry_ms: list[float] = []
        session_ms: list[float] = []
        fresh: dict[str, list[float]] = {n: [] for n in _SKILL}
        async with SkillExecutionEngine(config=config) as engine:
            for name in _SKILL:  # the script parent starts (and imports) once
                r = await engine.run_script("bench-scripts", f"scripts/{name}")
                assert r.ok, r.error
            r = await engine.execute("bench-entry", {})
            assert r.ok, r.error
            sid = engine.sessions.create()
            r = await engine.run_script("bench-scripts", "scripts/noop.py", session=sid, files={
                f"data/f{i}.txt": b"x" * 100 for i in range(_SESSION_FILES)})
            assert r.ok, r.error
            for _ in range(rounds):
                for _ in range(per_round):
                    c0, t0 = time.process_time(), time.perf_counter()
                    r = await engine.execute("bench-entry", {})
                    entry_ms.append((time.perf_counter() - t0) * 1000)
                    cpu["entry"].append((time.process_time() - c0) * 1000)
                    assert r.ok, r.error
                for _ in range(per_round):
                    c0, t0 = time.process_time(), time.perf_counter()
                    r = await engine.run_script("bench-scripts", "scripts/noop.py",
                                                session=sid)
                    session_ms.append((time.perf_counter() - t0) * 1000)
                    cpu["session"].append((time.process_time() - c0) * 1000)
                    assert r.ok, r.error
                for name in _SKILL:
                    for _ in range(per_round):
                        c0, t0 = time.process_time(), time.perf_counter()
                        r = await engine.run_script("bench-scripts", f"scripts/{name}")
                        warm[name].append((time.perf_counter() - t0) * 1000)
                        cpu[name].append((time.process_time() - c0) * 1000)
                        assert r.ok, r.error
                    for _ in range(max(1, per_round // 4)):
                        fresh[name].append(await asyncio.to_thread(
                            _fresh, skill / "scripts" / name, root))
        print(f"bundled scripts, {isolation} (warm engine.run_script, one call after "
              f"another) vs a fresh `python script.py`; ms")
        print(f"{'script':<18}{'warm p50':>10}{'warm p95':>10}{'fresh p50':>11}"
              f"{'fresh p95':>11}{'fresh/warm':>12}{'engine CPU':>12}")
        for name in _SKILL:
            w50, w95 = _quantiles(warm[name])
            f50, f95 = _quantiles(fresh[name])
            print(f"{name:<18}{w50:>10.2f}{w95:>10.2f}{f50:>11.2f}{f95:>11.2f}"
                  f"{f50 / w50:>11.1f}x{statistics.mean(cpu[name]):>12.2f}")
        f50 = _quantiles(fresh["noop.py"])[0]
        s50, s95 = _quantiles(session_ms)
        print(f"{'noop.py, session':<18}{s50:>10.2f}{s95:>10.2f}{'':>11}{'':>11}"
              f"{f50 / s50:>11.1f}x{statistics.mean(cpu['session']):>12.2f}")
        e50, e95 = _quantiles(entry_ms)
        print(f"{'entry no-op':<18}{e50:>10.2f}{e95:>10.2f}{'':>11}{'':>11}{'':>12}"
              f"{statistics.mean(cpu['entry']):>12.2f}")
        print(f"(session: its folder holds {_SESSION_FILES} files; engine CPU: the engine "
              "process's own, mean ms per call)")
        print(f"(warm: {len(warm['noop.py'])} calls per script; fresh: "
              f"{len(fresh['noop.py'])} runs per script)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--isolation", default="sandbox", choices=("sandbox", "process"))
    a = ap.parse_args()
    asyncio.run(main(3 if a.quick else 5, 20 if a.quick else 60, a.isolation))
