"""Skill environments: the first call of a skill whose packages are in the local cache, and
the next engine start (issue #14, DESIGN §3.6).

Run:  .venv/bin/python bench/bench_provision.py [--packages python-docx ...] [--rounds 3]

1. The uv cache is warmed once (an install into a throwaway folder: needs the index).
2. Each round, with a fresh data folder and the installer offline (its cache only): an
   engine starts, and the skill's first call provisions ``<data_dir>/envs/<hash>`` and runs.
   Reported: the first call's wall time (install included), the install alone, installs.
3. A second engine on the same data folder: its first call finds the environment (0 installs).
Goal: the first call ready in < 3 s; the second start 0 installs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.environments.installer import _uv_bin
from skillexec.task import TaskStatus

CODE = """
import importlib.metadata as md
def execute(data):
    import {modules}
    return {{n: md.version(n) for n in {names!r}}}
"""


def make_skill(root: Path, packages: list[str], modules: list[str]) -> None:
    folder = root / "skills" / "bench-env"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": "bench-env", "version": "1.0.0", "entry_point": "main:execute"}))
    (folder / "requirements.txt").write_text("\n".join(packages) + "\n")
    names = [p.split("=")[0].split(">")[0].split("<")[0] for p in packages]
    (folder / "main.py").write_text(CODE.format(modules=", ".join(modules), names=names))


async def first_call(root: Path, data: Path, *, offline: bool) -> tuple[float, int, str]:
    cfg = EngineConfig(skills_dir=root / "skills", data_dir=data,
                       environments={"offline": offline})
    async with SkillExecutionEngine(config=cfg) as engine:
        t0 = time.perf_counter()
        r = await engine.execute("bench-env", {})
        wall = time.perf_counter() - t0
        if r.status is not TaskStatus.SUCCEEDED:
            raise SystemExit(f"the call failed: {r.error}")
        return wall, engine.environments.installs, json.dumps(r.output)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", nargs="+", default=["python-docx", "PyPDF2", "openpyxl"],
                    help="requirements (default: what Py Copilot's document skills import; "
                    "none of them is in the engine's own environment)")
    ap.add_argument("--modules", nargs="+", default=["docx", "PyPDF2", "openpyxl"])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    uv = _uv_bin()
    version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip() \
        if uv else "pip"
    print(f"python {sys.version.split()[0]}, installer: {version}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_skill(root, args.packages, args.modules)
        if uv:  # warm the cache: what "the packages are in the local cache" means
            subprocess.run([uv, "pip", "install", "--quiet", "--target", str(root / "warm"),
                            "--python", sys.executable, *args.packages], check=True)
        firsts, installs, reuses, reuse_installs = [], [], [], []
        for i in range(args.rounds):
            data = root / f"data{i}"
            wall, n, out = asyncio.run(first_call(root, data, offline=bool(uv)))
            marker = next((data / "envs").glob("*/skillexec-env.json"))
            install_s = json.loads(marker.read_text())["install_s"]
            firsts.append(wall)
            installs.append((n, install_s))
            wall2, n2, _ = asyncio.run(first_call(root, data, offline=bool(uv)))
            reuses.append(wall2)
            reuse_installs.append(n2)
        print(f"packages: {' '.join(args.packages)} -> {out}")
        print(f"first call, fresh data dir (install included): median "
              f"{statistics.median(firsts):.2f} s, max {max(firsts):.2f} s "
              f"(install alone: {', '.join(f'{s:.2f}' for _, s in installs)} s; installs "
              f"{[n for n, _ in installs]})  goal < 3 s: "
              f"{'ok' if max(firsts) < 3 else 'MISSED'}")
        print(f"second engine start, first call: median {statistics.median(reuses):.2f} s; "
              f"installs {reuse_installs}  goal 0: "
              f"{'ok' if not any(reuse_installs) else 'MISSED'}")


if __name__ == "__main__":
    main()
