"""A skill folder as a hostile author ships it: the files the engine reads for itself —
package.json, requirements.txt, its Python scripts — made into FIFOs or grown past any
real size.

The engine reads them in its own process (checking a Node skill's npm packages, gathering a
skill's requirement set): what it opens there must never block it or fill its memory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.environments.requirements import requirement_set
from skillexec.errors import ManifestError
from skillexec.skills.loader import load_skill
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(120)

_NODE_SKILL = """---
name: npm-fifo
description: A Node command skill whose package.json is a FIFO.
metadata:
  command: "node scripts/run.js"
---
Run it.
"""


def _cli(cwd: Path, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process group, killed whole if it does not end in ``timeout_s``
    (a process stuck opening a FIFO does not end on SIGTERM)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"skillexec {' '.join(args)} still ran after {timeout_s:g} s")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_package_json_fifo_does_not_hang_the_engine(tmp_path: Path) -> None:
    """Checking a Node skill's npm packages opened its package.json: a FIFO there held
    the engine (and ``skillexec run``, deaf to SIGTERM) in open() for ever."""
    if shutil.which("node") is None:
        pytest.skip("no node: the npm packages of a Node skill are not checked")
    folder = tmp_path / "skills" / "npm-fifo"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(_NODE_SKILL)
    (folder / "scripts" / "run.js").write_text(
        "process.stdout.write(JSON.stringify({ok: true}))\n")
    os.mkfifo(folder / "package.json")
    # Node itself opens the package.json nearest its script (for its module type): in the
    # skill's own confined child, which its deadline ends.
    done = _cli(tmp_path, "run", "npm-fifo", "--json", "--timeout", "3", timeout_s=90)
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["status"] in ("succeeded", "timed_out"), done.stdout


def test_a_requirements_file_past_any_real_size_is_refused_unread(tmp_path: Path) -> None:
    """requirements.txt was read whole: a sparse file of terabytes, into the engine's
    memory. Past the cap of a manifest it is an error naming the file and its size."""
    folder = tmp_path / "bloated"
    folder.mkdir()
    (folder / "skill.json").write_text(json.dumps({"id": "bloated", "version": "1.0.0"}))
    (folder / "main.py").write_text("def execute(input_data):\n    return 1\n")
    with (folder / "requirements.txt").open("w") as f:
        f.write("six\n")
        f.truncate(1 << 40)  # sparse: a terabyte that takes no disk
    skill = load_skill(folder)
    with pytest.raises(ManifestError, match=r"requirements\.txt: 1099511627776 bytes, "
                                            r"over the limit of \d+ bytes") as info:
        requirement_set(skill)
    assert len(info.value.message) < 300


def test_a_huge_bundled_script_does_not_stop_the_others(tmp_path: Path) -> None:
    """The engine reads a skill's Python scripts for the modules its warm parent imports
    ahead: a sparse script of a terabyte was read whole, and every script call of the
    skill failed with 'internal error: MemoryError()' (where it fit in memory, the engine
    held it). A script past any real size is not read; the others still run."""
    need_sandbox()
    folder = tmp_path / "skills" / "bundle"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: bundle\ndescription: Two scripts.\n---\nx\n")
    (folder / "scripts" / "ok.py").write_text("print('hi')\n")
    with (folder / "scripts" / "huge.py").open("w") as f:
        f.write("import json\n")
        f.truncate(1 << 40)
    for path in (tmp_path, *tmp_path.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "data") as e:
            return await e.run_script("bundle", "scripts/ok.py", timeout=30)
    r = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert r.output["stdout"] == "hi\n"


@pytest.mark.parametrize("entry", ["main:execute", "main.py"])
def test_a_huge_entry_file_is_not_parsed_by_the_engine(tmp_path: Path, entry: str) -> None:
    """Loading a skill parsed its entry file in the engine, to find what it defines: a
    sparse main.py of a terabyte was read whole (the folder failed with a MemoryError
    where it did not fit; where it did, the engine held it and its syntax tree). Past any
    real size it is not parsed: the skill loads, and its own confined import reports."""
    folder = tmp_path / "huge-entry"
    folder.mkdir()
    (folder / "skill.json").write_text(json.dumps(
        {"id": "huge-entry", "version": "1.0.0", "entry_point": entry}))
    with (folder / "main.py").open("w") as f:
        f.write("def execute(input_data):\n    return 1\n")
        f.truncate(1 << 40)
    skill = load_skill(folder)
    assert skill.runnable and skill.entry.file == folder / "main.py", skill.entry


def test_a_link_out_of_the_skills_folder_is_not_walked(tmp_path: Path) -> None:
    """A repository's skills/root -> / made the loader walk the machine: other users'
    private skills (0700 folders, readable by a root engine) were loaded and served. A link
    to one skill folder (as a user links their own) still loads that skill."""
    from skillexec.skills import load_skills
    private = tmp_path / "alice" / "skills" / "privskill"
    private.mkdir(parents=True)
    (private / "SKILL.md").write_text("---\nname: privskill\ndescription: P.\n---\nhunter2\n")
    mine = tmp_path / "elsewhere" / "mine"
    mine.mkdir(parents=True)
    (mine / "SKILL.md").write_text("---\nname: mine\ndescription: M.\n---\nOk.\n")
    skills = tmp_path / "repo" / "skills"
    (skills / "inner" / "deep").mkdir(parents=True)
    (skills / "inner" / "deep" / "SKILL.md").write_text(
        "---\nname: deep\ndescription: D.\n---\nOk.\n")
    (skills / "root").symlink_to(tmp_path)
    (skills / "alice").symlink_to(tmp_path / "alice")
    (skills / "mine").symlink_to(mine)
    (skills / "again").symlink_to(skills / "inner")  # inside: walked (once)
    report = load_skills(skills)
    assert sorted(s.id for s in report.skills) == ["deep", "mine"]
