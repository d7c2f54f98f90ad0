"""Bundled scripts in their skill's environment (DESIGN §3.5, §3.6): a script-only skill's
requirements (requirements.txt, PEP 723 blocks) installed from a LOCAL wheel at the first
script call, shared with every script of the skill, in the sandbox; an undeclared import
ends the call ``missing_module`` naming the package. Run as root and, in scripts/test.sh,
again as nobody."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.environments.manager import MARKER
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._channels import Conn
from skillexec.runtime.runners._script_end import read_to_end
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests._wheels import make_wheel
from tests.conftest import arun

pytestmark = pytest.mark.timeout(180)

PKG, MOD = "tinypkg-scripts", "tinypkg_scripts"
PEP, PEP_MOD = "tinypkg-pep", "tinypkg_pep"
SKILL = "pdf-tools"


@pytest.fixture()
def _sandbox() -> None:
    need_sandbox()


def script_skill(root: Path, files: dict[str, str]) -> Path:
    """A skill of instructions and scripts only (Agent Skills' shape: no entry)."""
    folder = root / "skills" / SKILL
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {SKILL}\ndescription: tools.\n---\n\n"
                                     "Run scripts/use.py.\n")
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    os.chmod(root, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return folder


def config(root: Path) -> EngineConfig:
    links = root / "wheels"
    make_wheel(links, PKG, "1.0.0", "VALUE = 'from the wheel'\n", module=MOD)
    make_wheel(links, PEP, "2.0.0", "VALUE = 'from the pep 723 wheel'\n", module=PEP_MOD)
    return EngineConfig(skills_dir=root / "skills", data_dir=root / "data",
                        environments={"find_links": [str(links)], "no_index": True})


USE = f"import {MOD}\nprint({MOD}.VALUE, {MOD}.__file__)\n"


@pytest.mark.usefixtures("_sandbox")
def test_a_script_only_skill_gets_its_environment_at_the_first_script_call(
        tmp_path: Path) -> None:
    script_skill(tmp_path, {"requirements.txt": f"{PKG}==1.0.0\n", "scripts/use.py": USE,
                            "scripts/other.py": f"import {MOD}\nprint('other', {MOD}.VALUE)\n"})
    cfg = config(tmp_path)

    async def go() -> tuple[list[ExecutionResult], ExecutionResult, int]:
        async with SkillExecutionEngine(config=cfg) as e:
            assert e.environments.status(e.skills.get(SKILL)).state == "not installed"
            # Concurrent first calls: one install, every call sees it.
            first = await asyncio.gather(*(e.run_script(SKILL, "scripts/use.py")
                                           for _ in range(3)))
            other = await e.run_script(SKILL, "scripts/other.py")
            return list(first), other, e.environments.installs

    first, other, installs = arun(go())
    for r in first:
        assert r.status is TaskStatus.SUCCEEDED, r.error
        assert r.output["stdout"].startswith("from the wheel ")
        assert str(tmp_path / "data" / "envs") in r.output["stdout"]  # not the engine's
    assert other.status is TaskStatus.SUCCEEDED, other.error
    assert other.output["stdout"] == "other from the wheel\n"
    assert installs == 1
    assert len(list((tmp_path / "data" / "envs").glob(f"*/{MARKER}"))) == 1

    async def again() -> tuple[ExecutionResult, int]:
        async with SkillExecutionEngine(config=cfg) as e:
            return await e.run_script(SKILL, "scripts/use.py"), e.environments.installs

    r, installs = arun(again())  # a second start: found made, nothing installed
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert installs == 0


@pytest.mark.usefixtures("_sandbox")
def test_a_pep_723_script_s_dependencies_belong_to_its_skill(tmp_path: Path) -> None:
    script_skill(tmp_path, {
        "scripts/declares.py": (f"# /// script\n# dependencies = ['{PEP}>=2']\n# ///\n"
                                f"import {PEP_MOD}\nprint({PEP_MOD}.VALUE)\n"),
        # Declares nothing itself: the skill's set is every script's.
        "scripts/uses.py": f"import {PEP_MOD}\nprint('uses', {PEP_MOD}.VALUE)\n"})
    cfg = config(tmp_path)

    async def go() -> tuple[ExecutionResult, ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            uses = await e.run_script(SKILL, "scripts/uses.py")  # the first call provisions
            return uses, await e.run_script(SKILL, "scripts/declares.py")

    uses, declares = arun(go())
    assert uses.status is TaskStatus.SUCCEEDED, uses.error
    assert uses.output["stdout"] == "uses from the pep 723 wheel\n"
    assert declares.status is TaskStatus.SUCCEEDED, declares.error


@pytest.mark.usefixtures("_sandbox")
def test_a_failed_install_refuses_the_script_naming_the_package(tmp_path: Path) -> None:
    script_skill(tmp_path, {"requirements.txt": "tinypkg-absent==9.9\n",
                            "scripts/use.py": "print('never')\n"})
    cfg = config(tmp_path)

    async def go() -> tuple[ExecutionResult, ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            return (await e.run_script(SKILL, "scripts/use.py"),
                    await e.run_script(SKILL, "scripts/use.py"))

    for r in arun(go()):
        assert r.status is TaskStatus.REJECTED  # refused before anything ran
        assert r.error is not None and r.error.type.value == "dependency_error"
        assert r.error.code == "install_failed"
        assert "tinypkg-absent" in r.error.message
    assert not list((tmp_path / "data" / "envs").glob(f"*/{MARKER}"))


@pytest.mark.usefixtures("_sandbox")
def test_an_undeclared_import_is_missing_module_naming_the_package(tmp_path: Path) -> None:
    script_skill(tmp_path, {
        "scripts/vision.py": "print('starting')\nimport cv2.data\n",
        "scripts/deep.py": ("def load():\n    import docx\n"
                            "try:\n    load()\nexcept ImportError as exc:\n"
                            "    raise RuntimeError('cannot open documents') from exc\n"),
        # Caught by the script itself: its own business, not a missing package.
        "scripts/optional.py": ("try:\n    import fitz\nexcept ImportError:\n"
                                "    fitz = None\nprint('without fitz')\n"),
        # A name missing from a module that exists is a bug, not a package to declare.
        "scripts/badname.py": "from os import no_such_name\n"})
    cfg = config(tmp_path)

    async def go() -> dict[str, ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            return {s: await e.run_script(SKILL, f"scripts/{s}.py")
                    for s in ("vision", "deep", "optional", "badname")}

    r = arun(go())
    vision = r["vision"].error
    assert vision is not None and vision.type.value == "dependency_error"
    assert vision.code == "missing_module"
    assert vision.message.startswith(f"skill {SKILL!r} imports the module 'cv2', which is "
                                      "not installed: declare the package 'opencv-python'")
    assert f"skillexec skills install {SKILL} opencv-python" in vision.message
    assert vision.details["module"] == "cv2" and vision.details["package"] == "opencv-python"
    assert vision.details["exit_code"] == 1 and vision.details["stdout"] == "starting\n"
    assert "ModuleNotFoundError" in vision.details["stderr"]
    deep = r["deep"].error
    assert deep is not None and deep.code == "missing_module"
    assert deep.details["package"] == "python-docx"
    assert r["optional"].status is TaskStatus.SUCCEEDED, r["optional"].error
    bad = r["badname"].error
    assert bad is not None and bad.code == "script_exit"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), st.integers(-(2**63), 2**63 - 1), st.none(),
                 st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(\.[a-z_]{1,5}){0,3}",
                               fullmatch=True)),
       st.sampled_from(["missing_module", "setup_failed", None]))
def test_the_child_s_word_on_a_missing_module_is_checked(module: object,
                                                          kind: str | None) -> None:
    """What a failed script's child says is untrusted: a module name is taken only when it
    is a dotted Python name in a ``missing_module`` frame; anything else is no word."""
    async def go() -> str | None:
        engine_end, child_end = socket.socketpair()
        with engine_end, child_end:
            engine_end.setblocking(False)
            child_end.sendall(proto.encode_frame({"t": kind, "module": module}))
            child_end.close()
            exited: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            return (await read_to_end(Conn(engine_end), engine_end, exited)).missing_module
    got = arun(go())
    valid = (kind == "missing_module" and isinstance(module, str)
             and re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module, re.ASCII) is not None
             and module.count(".") <= 20)
    assert got == (module if valid else None)


@pytest.mark.usefixtures("_sandbox")
def test_the_pythons_a_script_starts_see_its_environment(tmp_path: Path) -> None:
    """classic-text-adventure's smoke test re-runs Python with sys.executable, and many
    skills' .sh wrappers call python3: the installed packages were the warm parent's alone,
    and they were told 'No module named ...' after skills install."""
    script_skill(tmp_path, {
        "requirements.txt": f"{PKG}==1.0.0\n",
        "scripts/wrap.sh": f"exec python3 -c 'import {MOD}; print({MOD}.VALUE)'\n",
        "scripts/again.py": ("import subprocess, sys\nsubprocess.run([sys.executable, '-c', "
                             f"'import {MOD}; print({MOD}.VALUE)'], check=True)\n")})
    cfg = config(tmp_path)

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            return [await e.run_script(SKILL, s) for s in ("scripts/again.py",
                                                            "scripts/wrap.sh")]
    for r in arun(go()):
        assert r.status is TaskStatus.SUCCEEDED, r.error
        assert r.output["stdout"] == "from the wheel\n"


@pytest.mark.usefixtures("_sandbox")
def test_a_wrappers_python_ending_on_a_missing_module_names_the_package(
        tmp_path: Path) -> None:
    """scnet-chat's SKILL.md runs ./scripts/run, a bash wrapper that execs python3: its
    missing package ended as a plain script_exit (exit 1, no package named), where the .py
    run directly said missing_module and how to install it."""
    script_skill(tmp_path, {
        "scripts/run": "#!/bin/bash\nexec python3 -c 'import bs4.element'\n",
        # The script's own words after it: its failure, not a package to declare.
        "scripts/later.sh": ("python3 -c 'import bs4' || true\n"
                             "echo 'no parser found' >&2\nexit 3\n")})
    cfg = config(tmp_path)

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            return [await e.run_script(SKILL, s) for s in ("scripts/run", "scripts/later.sh")]
    wrapped, later = arun(go())
    err = wrapped.error
    assert err is not None and err.code == "missing_module", err
    assert err.details["module"] == "bs4" and err.details["package"] == "beautifulsoup4"
    assert f"skillexec skills install {SKILL} beautifulsoup4" in err.message
    assert later.error is not None and later.error.code == "script_exit"
    assert later.error.details["exit_code"] == 3
