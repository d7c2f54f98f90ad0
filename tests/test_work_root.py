"""Where calls' workspaces live by default: a folder of the user's own under /var/tmp, one per
data dir, with no project above it (runtime/work_root.py). With the default data dir
(``./.skillexec``, inside the project the engine runs in) they lived in the project, and
tools a script runs that look upwards (ruff, pytest, git) found the project's files."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.runtime.work_root import default_work_root, make
from tests._isolation import need_sandbox
from tests.conftest import arun

# What a tool that walks up from its working folder would find.
_LOOK_UP = """import json, os
found, here = [], os.getcwd()
while True:
    found += [os.path.join(here, n) for n in ("pyproject.toml", ".git", "package.json")
              if os.path.lexists(os.path.join(here, n))]
    if os.path.dirname(here) == here:
        break
    here = os.path.dirname(here)
print(json.dumps({"cwd": os.getcwd(), "home": os.environ.get("HOME"), "found": found}))
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    skill = project / "skills" / "looker"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: looker\ndescription: Looks up.\n---\nRun it.\n")
    (skill / "scripts" / "look.py").write_text(_LOOK_UP)
    (project / "pyproject.toml").write_text("[tool.ruff]\nline-length = 10\n")
    (project / ".git").mkdir()
    for path in (tmp_path, *tmp_path.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return project


def test_a_script_finds_no_project_above_its_workspace(tmp_path: Path) -> None:
    """Run from a project with the default data dir (inside it), a script's workspace (and a
    session's folder) has nothing of the project above it, and lies in the user's folder."""
    need_sandbox()
    project = _project(tmp_path)
    seen: list[dict[str, object]] = []

    async def go() -> Path:
        async with SkillExecutionEngine(skills_dir=project / "skills",
                                        data_dir=project / ".skillexec") as e:
            for session in (None, e.sessions.create()):
                r = await e.run_script("looker", "scripts/look.py", session=session)
                assert r.ok, r.error
                import json
                seen.append(json.loads(r.output["stdout"]))
            return e.config.work_root
    root = arun(go())
    assert root == default_work_root(project / ".skillexec")
    mine = root.parent
    assert mine.name == f"skillexec-{os.geteuid()}", root
    for look in seen:
        assert look["found"] == [], look
        assert str(look["cwd"]).startswith(str(root) + "/"), look
        assert not str(look["cwd"]).startswith(str(project)), look
    st = os.lstat(mine)
    assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o711


def test_each_data_dir_has_a_work_root_of_its_own(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / ".skillexec", tmp_path / "b" / ".skillexec"
    here = os.getcwd()
    try:
        os.chdir(tmp_path / "..")
        relative = Path(os.path.relpath(a))
        assert default_work_root(relative) == default_work_root(a)
    finally:
        os.chdir(here)
    assert default_work_root(a) != default_work_root(b)
    assert default_work_root(a).parent == default_work_root(b).parent
    # Set, it is what it says.
    assert EngineConfig(data_dir=a, work_dir=tmp_path / "w").work_root == tmp_path / "w"


@pytest.mark.parametrize("planted", ["open to all", "a link", "a file", "another user's"])
def test_a_user_folder_made_by_someone_else_is_not_used(
        planted: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """/var/tmp is every user's: a folder made there first by another (open to all, a link
    to elsewhere, a file, owned by another uid) is never the user's work root; the data dir's
    ``work`` is, and the engine says why."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o711)
    mine = shared / f"skillexec-{os.geteuid()}"
    if planted == "open to all":
        mine.mkdir()
        os.chmod(mine, 0o777)
    elif planted == "a link":
        mine.symlink_to(elsewhere)
    elif planted == "a file":
        mine.write_text("")
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a folder to another uid takes root")
        mine.mkdir(mode=0o711)
        os.chown(mine, 12345, 12345)
    data = tmp_path / "d"
    with caplog.at_level(logging.WARNING, logger="skillexec.workspace"):
        got = default_work_root(data, bases=[str(shared)])
    assert got == data.resolve() / "work"
    assert f"{mine} is not a folder of this user's own" in caplog.text
    assert list(elsewhere.iterdir()) == []  # nothing made through the link


def test_the_user_folder_is_made_private_whatever_the_umask(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    old = os.umask(0o077)
    try:
        root = default_work_root(tmp_path / "d", bases=[str(shared)])
        assert not root.exists()  # the engine's to make: a command that runs nothing, not
        make(root)
    finally:
        os.umask(old)
    for folder in (root.parent, root):
        assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o711, folder


def test_an_engine_leaves_no_empty_work_root_behind(tmp_path: Path) -> None:
    need_sandbox()
    project = _project(tmp_path)

    async def go() -> Path:
        async with SkillExecutionEngine(skills_dir=project / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("looker", "scripts/look.py")
            assert r.ok, r.error
            return e.config.work_root
    root = arun(go())
    assert not root.exists(), list(root.rglob("*"))


def test_a_named_work_dir_keeps_what_is_not_the_engines(tmp_path: Path) -> None:
    """With work_dir set (a folder the operator may share, /tmp), closing the engine removed
    every empty folder in it, another program's (another user's, as root) among them, and
    then the folder itself."""
    need_sandbox()
    project = _project(tmp_path)
    shared = tmp_path / "shared"
    (shared / "another-program").mkdir(parents=True)
    os.chmod(shared, 0o755)

    async def go() -> None:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=project / "skills", data_dir=tmp_path / "d", work_dir=shared)) as e:
            r = await e.run_script("looker", "scripts/look.py")
            assert r.ok, r.error
    arun(go())
    assert (shared / "another-program").is_dir()
    assert not (shared / "looker").exists()  # the engine's own, empty: removed


def test_a_command_that_runs_nothing_leaves_no_work_root(tmp_path: Path) -> None:
    """`skillexec sessions list` (and other commands that run nothing) left an empty work
    root in /var/tmp/skillexec-<uid> each (136 of 357 folders there were empty)."""
    import subprocess
    import sys
    data = tmp_path / "d"
    p = subprocess.run([sys.executable, "-m", "skillexec", "sessions", "list",
                        "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert not default_work_root(data).exists()
