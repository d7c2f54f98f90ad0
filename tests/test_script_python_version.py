"""A PEP 723 script's ``requires-python`` against the Python that runs it.

terrylica/cc-skills has 18 of its 42 PEP 723 scripts asking for Python 3.12 or 3.14, run by
skillexec on the engine's 3.11 without a word. Most work all the same, so none is refused;
one that fails says what it asked for, and ``skills check`` names them ahead of time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.environments.python_version import python_mismatch
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)


def _header(requires: str) -> str:
    return f'# /// script\n# requires-python = "{requires}"\n# dependencies = []\n# ///\n'


def skills(root: Path) -> Path:
    folder = root / "skills" / "audit"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: audit\ndescription: audits.\n---\nRun.\n")
    files = {
        "future_ok.py": _header(">=3.99") + "print('ran anyway')\n",
        "future_fails.py": _header(">=3.99") + (
            "raise ImportError(\"cannot import name 'batched' from 'itertools'\")\n"),
        # Asks for a newer Python, and fails for a cause of its own: no note.
        "future_own.py": _header(">=3.99") + "import sys\nsys.exit('missing: in.txt')\n",
        "fine_fails.py": _header(">=3.8") + "import sys\nsys.exit('its own bug')\n",
        "plain.py": "print('no header')\n",
        "odd.py": '# /// script\n# requires-python = "not a spec"\n# ///\n',
    }
    for name, text in files.items():
        (folder / "scripts" / name).write_text(text)
    os.chmod(root, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return root / "skills"


def test_python_mismatch_reads_the_scripts_block(tmp_path: Path) -> None:
    scripts = skills(tmp_path) / "audit" / "scripts"
    running = ".".join(map(str, sys.version_info[:3]))
    assert python_mismatch(scripts / "future_ok.py") == (
        f"asks for Python >=3.99 (its # /// script requires-python); this is Python {running}")
    for name in ("fine_fails.py", "plain.py", "odd.py", "missing.py"):
        assert python_mismatch(scripts / name) is None, name


def test_a_failing_script_says_which_python_it_asked_for(tmp_path: Path) -> None:
    need_sandbox()
    folder = skills(tmp_path)

    async def go() -> None:
        async with SkillExecutionEngine(skills_dir=folder, data_dir=tmp_path / "data") as e:
            ok = await e.run_script("audit", "scripts/future_ok.py")
            assert ok.ok and ok.output["stdout"] == "ran anyway\n"  # not refused
            bad = await e.run_script("audit", "scripts/future_fails.py")
            assert bad.error is not None and bad.error.code == "script_exit"
            assert bad.error.message.startswith(
                "the script exited with status 1: Traceback") and (
                "ImportError: cannot import name 'batched' from 'itertools' (the script asks "
                "for Python >=3.99 (its # /// script requires-python); this is Python 3."
            ) in bad.error.message, bad.error.message
            assert bad.error.details["requires_python"].startswith("asks for Python >=3.99")
            own = await e.run_script("audit", "scripts/fine_fails.py")
            assert own.error is not None
            assert own.error.message == "the script exited with status 1: its own bug"
            assert "requires_python" not in own.error.details
            other = await e.run_script("audit", "scripts/future_own.py")
            assert other.error is not None
            assert other.error.message == "the script exited with status 1: missing: in.txt"

    arun(go())


def test_skills_check_names_the_scripts_that_ask_for_another_python(tmp_path: Path) -> None:
    folder = str(skills(tmp_path))
    where = ("--skills-dir", folder, "--data-dir", str(tmp_path / "data"))
    run = [sys.executable, "-m", "skillexec", "skills", "check", *where]
    doc = json.loads(subprocess.run([*run, "audit", "--json"], capture_output=True,
                                    text=True, timeout=60).stdout)
    assert sorted(doc["python"]) == ["scripts/future_fails.py", "scripts/future_ok.py",
                                     "scripts/future_own.py"]
    assert doc["ok"] is True  # said, not counted as a missing module
    p = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = " ".join(p.stdout.split())
    assert "python scripts/future_ok.py asks for Python >=3.99" in out
    assert out.endswith("1 skills checked: 1 resolve every import, 0 miss modules; "
                        "1 have scripts that ask for another Python")
