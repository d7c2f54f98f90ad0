"""A skill's packages' commands are on its scripts' PATH, as in an activated venv.

``tabulate`` (declared in requirements.txt, installed in the skill's environment) was not
found by a script that ran it by name, while the engine's own tools (celery, uv, pip) were:
science skills call their packages' commands (mageck, multiqc, jupyter) by name.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine
from tests._isolation import need_sandbox
from tests._wheels import make_wheel
from tests.conftest import arun


def test_a_packages_command_runs_by_name(tmp_path: Path) -> None:
    need_sandbox()
    links = tmp_path / "wheels"
    make_wheel(links, "tinycli", "1.0.0", "def main():\n    print('tiny says hi')\n",
               module="tinycli", console_scripts={"tinycli": "tinycli:main"})
    folder = tmp_path / "skills" / "tables"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tables\ndescription: T.\n---\nRun it.\n")
    (folder / "requirements.txt").write_text("tinycli==1.0.0\n")
    (folder / "scripts" / "show.py").write_text(
        "import shutil, subprocess\nimport tinycli\n"
        "print(shutil.which('tinycli') is not None)\n"
        "subprocess.run(['tinycli'], check=True)\n")
    (folder / "scripts" / "show.sh").write_text("#!/bin/bash\nset -e\ntinycli\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                       environments={"find_links": [str(links)], "no_index": True})

    async def go() -> list[str]:
        async with SkillExecutionEngine(config=cfg) as e:
            out = []
            for script in ("scripts/show.py", "scripts/show.sh"):
                r = await e.run_script("tables", script)
                assert r.ok, r.error
                out.append(str(r.output["stdout"]))
            return out
    assert arun(go()) == ["True\ntiny says hi\n", "tiny says hi\n"]
