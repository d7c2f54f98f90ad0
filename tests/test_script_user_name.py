"""A sandboxed script's user has a name.

As root the sandbox runs a skill as a uid of its own, which no passwd entry names: with
``USER`` and ``LOGNAME`` unset, ``getpass.getuser()`` raised ``KeyError('getpwuid(): uid
not found: 61003')`` (trialA's probe; torch's caches and some loggers call it), where plain
python printed ``root``. ``USER`` and ``LOGNAME`` are now set: the uid's own name where it
has one (the user the engine runs as, without root), else ``skill``.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from skillexec import SkillExecutionEngine
from tests._isolation import need_sandbox
from tests.conftest import arun


def test_getuser_works_in_the_sandbox(tmp_path: Path) -> None:
    need_sandbox()
    folder = tmp_path / "skills" / "who"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: who\ndescription: W.\n---\nRun it.\n")
    (folder / "scripts" / "who.py").write_text(
        "import getpass, os, subprocess\n"
        "print(getpass.getuser(), os.environ['USER'], os.environ['LOGNAME'], os.getuid())\n"
        "print(subprocess.run(['sh', '-c', 'echo $USER'], capture_output=True,"
        " text=True).stdout.strip())\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> str:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("who", "scripts/who.py")
            assert r.ok, r.error
            return str(r.output["stdout"])
    first, second = arun(go()).splitlines()
    name, user, logname, uid = first.split()
    try:
        expected = pwd.getpwuid(int(uid)).pw_name
    except KeyError:
        expected = "skill"
    assert name == user == logname == second == expected, (first, second)
