"""What a script leaves in its temporary folder is not its output.

A script's TMPDIR was its workspace: a failed one's ``tmpmq1kk6xr.svg`` became an
artifact, and in a session temporary files piled up among the files the next call reads.
TMPDIR is now ``.tmp`` in the workspace, left out of the artifacts as HOME's caches are.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from tests._isolation import need_sandbox
from tests.conftest import arun


def test_temporary_files_are_not_artifacts(tmp_path: Path) -> None:
    need_sandbox()
    folder = tmp_path / "skills" / "render"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: render\ndescription: R.\n---\nRun it.\n")
    (folder / "scripts" / "render.py").write_text(
        "import os, tempfile\n"
        "fd, name = tempfile.mkstemp(suffix='.svg')\nos.write(fd, b'<svg/>')\n"
        "with tempfile.NamedTemporaryFile('w', delete=False) as f:\n    f.write('x')\n"
        "print(os.path.relpath(os.path.dirname(name)), os.environ['TMPDIR'] == "
        "os.path.join(os.getcwd(), '.tmp'))\n"
        "open('out.txt', 'w').write('made')\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> tuple[str, list[str], list[str]]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("render", "scripts/render.py")
            assert r.ok, r.error
            sid = e.sessions.create()
            s = await e.run_script("render", "scripts/render.py", session=sid)
            assert s.ok, s.error
            return (str(r.output["stdout"]), [a.name for a in r.artifacts],
                    [a.name for a in s.artifacts])
    out, plain, session = arun(go())
    assert out == ".tmp True\n"
    assert plain == session == ["out.txt"]


def test_a_reused_workspace_keeps_a_writable_tmpdir(tmp_path: Path) -> None:
    """An attempt that made nothing leaves its workspace, empty TMPDIR included, to the
    next attempt of the skill (no rmdir, no mkdir on either's path): that TMPDIR is the
    next call's to write (as root, handed to the skill's uid again) and still no output."""
    need_sandbox()
    folder = tmp_path / "skills" / "scratch"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: scratch\ndescription: S.\n---\nRun it.\n")
    (folder / "scripts" / "scratch.py").write_text(
        "import os, tempfile\n"
        "with tempfile.TemporaryFile() as f:\n    f.write(b'x')\n"
        "fd, name = tempfile.mkstemp()\nos.close(fd)\nos.unlink(name)\n"
        "print(os.getcwd(), os.path.dirname(name) == os.environ['TMPDIR'], "
        "os.access('.tmp', os.W_OK))\n")
    os.chmod(tmp_path, 0o755)

    async def go() -> tuple[list[tuple[str, list[str]]], bool]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            environment = e._pipeline.attempts.environment
            out = []
            for _ in range(3):
                r = await e.run_script("scratch", "scripts/scratch.py")
                assert r.ok, r.error
                out.append((str(r.output["stdout"]), [a.name for a in r.artifacts]))
                await environment.recycled()  # the workspace kept before the next call
            # Kept only where the runner can tell the call's processes are gone (cgroups).
            return out, getattr(e._pipeline.runners["sandbox"], "zygotes").cgroups is not None
    runs, settled = arun(go())
    assert [arts for _out, arts in runs] == [[], [], []]
    cwds = {out.split()[0] for out, _a in runs}
    assert all(out.split()[1:] == ["True", "True"] for out, _a in runs), runs
    assert len(cwds) == (1 if settled else 3), cwds
