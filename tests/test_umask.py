"""An engine run under ``umask 077`` runs sandboxed calls: the folders a skill's uid passes
through to reach its workspace (its skill's folder under the work root, the sessions'
folder) are 0711 whatever the umask. Made with it, 0700, every sandboxed call failed
"the sandbox could not be applied: FileNotFoundError" (reviewH)."""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from tests._isolation import need_sandbox
from tests.conftest import arun


def test_sandboxed_calls_run_under_umask_077(tmp_path: Path) -> None:
    need_sandbox()
    folder = tmp_path / "skills" / "nodeps"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: nodeps\ndescription: N.\n---\nRun it.\n")
    (folder / "scripts" / "a.py").write_text("open('made.txt', 'w').write('x')\nprint('ok')\n")
    for path in (tmp_path, *tmp_path.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)

    async def go() -> list[str]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            sid = e.sessions.create()
            out = []
            for session in (None, sid, sid):
                r = await e.run_script("nodeps", "scripts/a.py", session=session)
                assert r.ok, r.error
                out.append(r.output["stdout"])
            return out

    before = os.umask(0o077)
    try:
        assert arun(go()) == ["ok\n"] * 3
    finally:
        os.umask(before)
