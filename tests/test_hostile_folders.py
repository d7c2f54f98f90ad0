"""A skill folder as a hostile author ships it: the files the engine reads for itself —
package.json, requirements.txt — made into FIFOs or grown past any real size.

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

from skillexec.environments.requirements import requirement_set
from skillexec.errors import ManifestError
from skillexec.skills.loader import load_skill
from tests.conftest import ROOT

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
