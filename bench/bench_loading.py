"""Loading a folder of skills: libyaml's parser against PyYAML's Python one, side by side.

    .venv/bin/python bench/bench_loading.py [FOLDER] [--skills 3000] [--rounds 5]

What ``skillexec skills list`` and every engine start pay: ``load_skills`` over a folder of
Agent Skills (a SKILL.md each, its front matter YAML). Without FOLDER, a folder of
``--skills`` made here in the shape of agentskillexchange's (a title as ``name``, a long
description, ``metadata`` with a version and tags, a script in a third of them). The two
parsers run in alternating rounds in this one process (``manifest._LOADERS`` switched), so
both see the same machine; the ratio of their medians is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from skillexec.skills import load_skills, manifest

_FRONT = """---
name: "{title}"
description: >-
  {title} helps an agent with its task: it reads the inputs, checks them against the
  house rules, and writes a report the user can act on. Use it when the user asks for
  {title} or anything close to it, and never for unrelated work.
license: MIT
metadata:
  version: "1.{n}.0"
  author: bench
  tags: "agents, {n}, bench"
---
# {title}

Steps: read the input, run `scripts/run.py` with its path, report.
"""


def make_folder(root: Path, count: int) -> Path:
    for n in range(count):
        folder = root / f"skill-{n:05}"
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(_FRONT.format(title=f"Skill Number {n}", n=n))
        if n % 3 == 0:
            (folder / "scripts").mkdir()
            (folder / "scripts" / "run.py").write_text("import sys\nprint(sys.argv)\n")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", type=Path)
    ap.add_argument("--skills", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    c_loader, py_loader = manifest._LOADERS[0], manifest._PlainLoader
    if c_loader is py_loader:
        raise SystemExit("libyaml is not in use here (PyYAML without it, or older than 0.2.5)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.folder or make_folder(Path(tmp), a.skills)
        arms = {"libyaml": (c_loader, py_loader), "python": (py_loader,)}
        times: dict[str, list[float]] = {k: [] for k in arms}
        loaded = {}
        for _ in range(a.rounds):
            for arm, loaders in arms.items():
                manifest._LOADERS = loaders
                start = time.perf_counter()
                report = load_skills(folder)
                times[arm].append(time.perf_counter() - start)
                loaded[arm] = (len(report.skills), len(report.problems))
        manifest._LOADERS = (c_loader, py_loader)
    print(f"load_skills of {folder if a.folder else f'{a.skills} made skills'}; "
          f"{a.rounds} alternating rounds; seconds")
    for arm, ts in times.items():
        print(f"  {arm:8} p50 {statistics.median(ts):6.2f}  min {min(ts):6.2f}  "
              f"loaded {loaded[arm][0]}, refused {loaded[arm][1]}")
    ratio = statistics.median(times["python"]) / statistics.median(times["libyaml"])
    print(f"  libyaml loads {ratio:.2f}x as fast as the Python parser")


if __name__ == "__main__":
    main()
