"""A hostile skill's declared packages: installing them must run none of their code.

A skill's author chooses its requirements, and so can publish the package they name. An
sdist's build backend is that author's code, and the installer ran it as the engine's user
(root here), with the engine's environment and its data directory in reach, outside every
sandbox the skill itself gets. Only wheels are installed unless the operator opts in.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.task import TaskStatus
from tests._isolation import need_sandbox
from tests._wheels import make_wheel
from tests.conftest import arun

pytestmark = pytest.mark.timeout(180)

PKG = "hostile-build-h14"


def sdist(links: Path, marker: Path) -> None:
    """``<links>/<PKG>-1.0.tar.gz`` whose in-tree build backend writes ``marker`` when it
    is imported (as any setup.py would run) and then fails the build."""
    backend = (f"import os\nopen({str(marker)!r}, 'w').write(str(os.getuid()))\n"
               "def get_requires_for_build_wheel(config_settings=None):\n    return []\n"
               "def build_wheel(wheel_directory, config_settings=None, "
               "metadata_directory=None):\n    raise RuntimeError('built')\n")
    top = f"{PKG.replace('-', '_')}-1.0"
    files = {
        f"{top}/PKG-INFO": f"Metadata-Version: 2.1\nName: {PKG}\nVersion: 1.0\n",
        f"{top}/pyproject.toml": (f'[project]\nname = "{PKG}"\nversion = "1.0"\n'
                                  '[build-system]\nrequires = []\n'
                                  'build-backend = "backend"\nbackend-path = ["."]\n'),
        f"{top}/backend.py": backend,
    }
    links.mkdir(parents=True)
    with tarfile.open(links / f"{top}.tar.gz", "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def engine_config(tmp_path: Path, **env: object) -> EngineConfig:
    links, marker = tmp_path / "links", tmp_path / "built-by"
    sdist(links, marker)
    folder = tmp_path / "skills" / "builder"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": "builder", "version": "1.0.0", "entry_point": "main:execute"}))
    (folder / "main.py").write_text("def execute(data):\n    return 1\n")
    (folder / "requirements.txt").write_text(f"{PKG}==1.0\n")
    return EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                        environments={"find_links": [str(links)], "no_index": True, **env})


@pytest.fixture(autouse=True)
def _own_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An installer's cache could hold a wheel built by an earlier run: each test its own.
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_declared_sdist_is_never_built(installer: str, tmp_path: Path) -> None:
    config = engine_config(tmp_path, installer=installer)

    async def go() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            r = await engine.execute("builder", {})
            assert r.status is TaskStatus.REJECTED
            assert r.error is not None and r.error.code == "install_failed"
            said.append(r.error.message)

    said: list[str] = []
    arun(go())
    assert not (tmp_path / "built-by").exists(), "the package's build code ran at install"
    assert f"'{PKG}'" in said[0]
    assert "build_from_source" in said[0]  # what the operator could change


def test_building_from_source_is_the_operators_choice(tmp_path: Path) -> None:
    config = engine_config(tmp_path, installer="uv", build_from_source=True)

    async def go() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            r = await engine.execute("builder", {})
            assert r.error is not None and r.error.code == "install_failed"
            assert "build_from_source" not in r.error.message

    arun(go())
    assert (tmp_path / "built-by").exists()  # the same sdist builds when allowed


class _SysPathSpy:
    """A meta path finder that notes, at every top-level lookup in this process, whether
    a skill environment was on sys.path (it finds nothing itself)."""

    def __init__(self, envs: Path) -> None:
        self.envs = str(envs)
        self.seen: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if path is None and any(p.startswith(self.envs) for p in sys.path):
            self.seen.append(name)


def test_a_skills_environment_never_joins_the_engines_sys_path(tmp_path: Path) -> None:
    """Finding what a skill's scripts import put its environment first on the engine's own
    sys.path for a moment: an import anywhere in the engine then (a lazy one, another
    thread's) took the skill's package of that name, run as the engine's user."""
    need_sandbox()
    links = tmp_path / "wheels"
    make_wheel(links, "shadow-h14", "1.0.0", "VALUE = 1\n", module="shadow_h14")
    folder = tmp_path / "skills" / "shadowed"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: shadowed\ndescription: d.\n---\n\nRun it.\n")
    (folder / "requirements.txt").write_text("shadow-h14==1.0.0\n")
    (folder / "scripts" / "use.py").write_text("import shadow_h14\nprint(shadow_h14.VALUE)\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill
    config = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                          environments={"find_links": [str(links)], "no_index": True})
    spy = _SysPathSpy(tmp_path / "data" / "envs")
    sys.meta_path.insert(0, spy)  # type: ignore[arg-type]

    async def go() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            r = await engine.run_script("shadowed", "scripts/use.py")
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert r.output["stdout"] == "1\n"

    try:
        arun(go())
    finally:
        sys.meta_path.remove(spy)  # type: ignore[arg-type]
    assert spy.seen == [], f"looked up with the skill's environment on sys.path: {spy.seen}"


def test_a_skills_repositorys_installer_configuration_is_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A skills repository run from its top shipped a uv.toml pointing uv at a wheel of its
    own (a higher version of a package another skill declares): environments are shared
    by requirement set, so the other skill imported the attacker's package."""
    repo = tmp_path / "repo"
    make_wheel(repo / "wheels", "sharedpkg-h14", "99.0.0", "WHO = 'attacker'\n")
    (repo / "uv.toml").write_text('[pip]\nfind-links = ["./wheels"]\n')
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "r"\nversion = "0"\n[tool.uv.pip]\nfind-links = ["./wheels"]\n')
    links = tmp_path / "links"
    make_wheel(links, "sharedpkg-h14", "1.0.0", "WHO = 'index'\n")
    folder = repo / "skills" / "victim"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": "victim", "version": "1.0.0", "entry_point": "main:execute"}))
    (folder / "main.py").write_text(
        "def execute(data):\n    import sharedpkg_h14\n    return sharedpkg_h14.WHO\n")
    (folder / "requirements.txt").write_text("sharedpkg-h14\n")
    monkeypatch.chdir(repo)
    config = EngineConfig(skills_dir=repo / "skills", data_dir=tmp_path / "data",
                          environments={"find_links": [str(links)], "no_index": True,
                                        "installer": "uv"}, isolation={"default_level":
                                                                       "process"})

    async def go() -> object:
        async with SkillExecutionEngine(config=config) as engine:
            r = await engine.execute("victim", {})
            assert r.status is TaskStatus.SUCCEEDED, r.error
            return r.output
    assert arun(go()) == "index"
