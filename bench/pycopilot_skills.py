"""What skillexec makes of Py Copilot's real skills folder: for each skill, are its
instructions served, what scripts does it bundle, are its packages provisioned, and does
it run end to end (one script with --help, or one harmless call) — and if not, why.

Run:  .venv/bin/python bench/pycopilot_skills.py PATH/TO/backend/app/skills/skills \
          [--install-undeclared] [--markdown]

The folder is copied into a temporary one (the third-party files are never changed) and
loaded by one engine with a fresh data folder. Declared packages are provisioned (needs the
package index). ``--install-undeclared`` also records, for each skill, the packages of the
imports ``skills check`` finds undeclared (an operator's ``skills install ID PKG``, made
explicit here; never done silently), so that their scripts can run.

Scripts run through ``engine.run_script`` where the engine has it; otherwise as a child
process of the engine's interpreter with the skill's environment on ``PYTHONPATH`` (the
report says which).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.environments.imports import missing_imports
from skillexec.errors import SkillExecError
from skillexec.skills.model import Skill

# Programs a script shells out to, found in its text: the usual reason one cannot run here.
_PROGRAMS = {"soffice": "LibreOffice", "libreoffice": "LibreOffice", "pdftoppm": "poppler",
             "pnpm": "pnpm", "npx": "Node.js (npx)", "ffmpeg": "ffmpeg"}
_DATA_ANALYSIS_ENTRY = "data_analysis.py:DataAnalysisSkill.run_complete_analysis"


@dataclass
class Row:
    id: str
    instructions: str = "no"
    scripts: str = "0"
    packages: str = "none declared"
    run: str = "-"
    why: str = ""
    undeclared: list[str] = field(default_factory=list)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:160]


def _programs_needed(folder: Path, script: str) -> list[str]:
    try:
        text = (folder / script).read_text(errors="replace")
    except OSError:
        return []
    return sorted({name for prog, name in _PROGRAMS.items()
                   if re.search(rf"['\"]{prog}['\"]", text) and shutil.which(prog) is None})


async def run_script(engine: SkillExecutionEngine, skill: Skill, script: str,
                     work: Path) -> tuple[int, str, str, str]:
    """(exit code, stdout, stderr, how) of ``script --help``."""
    runner = getattr(engine, "run_script", None)
    if runner is not None:
        result = await runner(skill.id, script, args=("--help",), timeout=60)
        out = result.output or {}
        if result.error is not None and not out:
            return -1, "", result.error.message, "engine.run_script"
        return (int(out.get("exit_code", -1)), str(out.get("stdout", "")),
                str(out.get("stderr", "")), "engine.run_script")
    assert skill.path is not None
    if not script.endswith(".py"):
        return -2, "", "not tried: only Python scripts are run here without run_script", ""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work),
           "PYTHONPATH": os.pathsep.join(skill.env_paths)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(skill.path / script), "--help"], cwd=work,
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr, "subprocess"


async def report(folder: Path, *, install_undeclared: bool) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(folder, root / "skills", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "skills" / "data-analysis" / "sample.csv").write_text(
            "x,y,label\n1,2,a\n2,4,b\n3,6,a\n4,8,b\n5,10,a\n6,12,b\n7,14,a\n8,16,b\n")
        cfg = EngineConfig(skills_dir=root / "skills", data_dir=root / "data",
                           skills={"data-analysis": {"entry": _DATA_ANALYSIS_ENTRY}},
                           default_timeout_s=120)
        async with SkillExecutionEngine(config=cfg) as engine:
            envs = engine.environments
            for skill in engine.skills.list():
                row = Row(skill.id)
                rows.append(row)
                row.instructions = (f"yes ({len(skill.instructions)} chars)"
                                    if skill.instructions else "no")
                row.scripts = str(len(skill.scripts))
                if envs.status(skill).state == "not installed":
                    try:
                        envs.attach(skill)  # remembered as pending: ensure() makes it
                        skill = await envs.ensure(skill)
                    except SkillExecError as exc:
                        row.why = exc.message
                undeclared = [m for m in missing_imports(
                    skill, env_paths=envs.attach(skill).env_paths) if not m.optional]
                row.undeclared = [f"{m.module}->{m.package}" for m in undeclared]
                if install_undeclared and undeclared:
                    extra = sorted({m.package for m in undeclared})
                    try:
                        await asyncio.to_thread(envs.install, skill, extra)
                        row.undeclared = [f"{u} (installed: --install-undeclared)"
                                          for u in row.undeclared]
                    except (SkillExecError, ValueError) as exc:
                        row.why = f"install of undeclared packages failed: {exc}"
                    skill = envs.attach(skill)
                    engine.skills.add(skill)
                status = envs.status(skill)
                row.packages = (status.state if not status.requirements
                                else f"{status.state}: {', '.join(status.requirements)}")
                await _try_run(engine, skill, row, root)
    return rows


async def _try_run(engine: SkillExecutionEngine, skill: Skill, row: Row, root: Path) -> None:
    if skill.id == "data-analysis":
        assert skill.path is not None
        res = await engine.execute(skill.id, {"file_path": str(skill.path / "sample.csv")})
        if res.error is None:
            row.run = "yes (entry override, run_complete_analysis on a CSV)"
        elif res.error.code == "skill_raised":  # the engine's part worked; the skill's failed
            row.run = "reached its code (entry override, run_complete_analysis on a CSV)"
            row.why = f"the skill's own error: {res.error.message}"
        else:
            row.run, row.why = "no", row.why or res.error.message
        return
    if skill.runnable:
        res = await engine.execute(skill.id, {})
        row.run = "yes (entry)" if res.error is None else "no"
        if res.error is not None:
            row.why = row.why or res.error.message
        return
    if not skill.scripts:
        row.run = "n/a (instructions only)" if skill.instructions else "no"
        if not skill.instructions:
            row.why = row.why or skill.entry.reason
        return
    assert skill.path is not None
    py = [s for s in skill.scripts if s.endswith(".py")]
    # A script with argparse answers --help harmlessly; others may take it for a file name.
    parsed = [s for s in py
              if "ArgumentParser(" in (skill.path / s).read_text(errors="replace")]
    script = (parsed or py or list(skill.scripts))[0]
    missing_programs = _programs_needed(skill.path, script)
    work = root / "work" / skill.id
    work.mkdir(parents=True, exist_ok=True)
    code, out, err, how = await run_script(engine, skill, script, work)
    if code == 0:
        row.run = f"yes ({script} --help, {how})"
    elif code > 0 and "'--help'" in err and "ModuleNotFoundError" not in err:
        row.run = f"yes ({script} started, its imports resolved; it read --help as a file)"
    elif code > 0 and "Traceback" not in err + out:
        row.run = f"yes ({script} --help printed its usage, exit {code}, {how})"
    elif code == -2:
        row.run, row.why = "not tried", row.why or err
    else:
        row.run = f"no ({script} --help exit {code}, {how})"
        missing = re.search(r"No module named '([\w.]+)'", err)
        row.why = row.why or (f"undeclared import {missing.group(1)!r}" if missing
                              else _first_line(err) or _first_line(out))
    if missing_programs:
        row.why = (row.why + "; " if row.why else "") + \
            f"needs {', '.join(missing_programs)} (not installed here)"


def render(rows: list[Row], *, markdown: bool) -> str:
    head = ("skill", "instructions", "scripts", "packages", "undeclared imports",
            "runs end to end", "why not / notes")
    body = [(r.id, r.instructions, r.scripts, r.packages, ", ".join(r.undeclared) or "-",
             r.run, re.sub(r"/tmp/\w+/data/", "<data_dir>/", r.why) or "-") for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row)
                  + " |" for row in body]
        return "\n".join(lines)
    return "\n".join("\t".join(row) for row in (head, *body))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--install-undeclared", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"{args.folder}: no such folder")
    rows = asyncio.run(report(args.folder, install_undeclared=args.install_undeclared))
    print(render(rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
