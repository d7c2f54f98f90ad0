"""Skill environments (DESIGN §3.6): what a skill declares, installed from a LOCAL wheel
(no index) at its first call or with ``skills install``, shared, reused, never
half-made; undeclared imports named with their package."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.environments.manager import MARKER
from skillexec.environments.modules import package_for
from skillexec.environments.requirements import parse_requirement_lines, requirement_set
from skillexec.skills.loader import load_skill
from skillexec.task import TaskStatus
from tests._wheels import make_wheel
from tests.conftest import ROOT, arun

PKG, MOD = "tinypkg-envs", "tinypkg_envs"


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200", **env}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120)


def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    make_wheel(folder, PKG, "1.2.0", "VALUE = 42\n", module=MOD)
    return folder


def skill_folder(root: Path, sid: str, *, files: dict[str, str], manifest: dict[str, object]
                 | None = None) -> Path:
    folder = root / sid
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": sid, "version": "1.0.0", "entry_point": "main:execute", **(manifest or {})}))
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


USES = ("import tinypkg_envs\n"
        "def execute(data):\n"
        "    return {'value': tinypkg_envs.VALUE, 'file': tinypkg_envs.__file__}\n")


def config(tmp_path: Path, links: Path, **env: object) -> EngineConfig:
    return EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                        environments={"find_links": [str(links)], "no_index": True, **env})


# -- what a skill declares ---------------------------------------------------------------


def test_requirements_from_every_place_a_skill_declares_them(tmp_path: Path) -> None:
    folder = skill_folder(tmp_path, "many", manifest={"dependencies": [
        {"package_name": "Pillow", "version": ">=9", "source": "pypi"},
        {"package_name": "left-pad", "version": "1", "source": "npm"}]}, files={
        "main.py": "def execute(d):\n    return 1\n",
        "requirements.txt": "# pinned\nnumpy>=1.21  # arrays\n-r other.txt\n"
                            "--prefer-binary\n"  # (an index of its own is refused)
                            "pywin32; sys_platform == 'win32'\n",
        "other.txt": "PyYAML>=6\n-r requirements.txt\n",  # included, and back: once each
        "scripts/requirements.txt": "imageio>=2.31\n",
        "scripts/tool.py": ("# /// script\n# requires-python = '>=3.11'\n"
                            "# dependencies = ['Requests[socks]>=2', 'numpy<3']\n# ///\n"
                            "print('hi')\n")})
    reqs = requirement_set(load_skill(folder), ["rich"])
    assert reqs.requirements == ("imageio>=2.31", "numpy<3,>=1.21", "pillow>=9",
                                 "pyyaml>=6", "requests[socks]>=2", "rich")
    assert reqs.sources == ("manifest", "requirements.txt", "scripts/requirements.txt",
                            "scripts/tool.py", "skills install")


@given(st.permutations(["numpy>=1", "Pillow", "rich<99", "PyYAML>=5 ; python_version>='3'"]))
def test_the_set_and_its_key_do_not_depend_on_order_or_spelling(lines: list[str]) -> None:
    reqs = parse_requirement_lines("\n".join(lines), where="r.txt")
    assert sorted(str(r.name).lower() for r in reqs) == ["numpy", "pillow", "pyyaml", "rich"]
    from skillexec.environments.requirements import _normalize
    assert _normalize(reqs) == ("numpy>=1", "pillow", "pyyaml>=5", "rich<99")


def test_an_include_outside_the_folder_or_missing_is_named(tmp_path: Path) -> None:
    """``-r`` is followed inside the skill's folder only (a skill whose requirements.txt
    was ``-r base.txt`` used to be provisioned with nothing, and fail on its imports)."""
    from skillexec.errors import ManifestError
    (tmp_path / "secret.txt").write_text("leftpad\n")
    out = skill_folder(tmp_path / "a", "out", files={
        "main.py": "def execute(d):\n    return 1\n", "requirements.txt": "-r ../../secret.txt\n"})
    with pytest.raises(ManifestError, match=r"line 1: '../../secret.txt' is outside the skill"):
        requirement_set(load_skill(out))
    gone = skill_folder(tmp_path / "b", "gone", files={
        "main.py": "def execute(d):\n    return 1\n", "requirements.txt": "--requirement=x.txt\n"})
    with pytest.raises(ManifestError, match=r"the included file 'x.txt' does not exist"):
        requirement_set(load_skill(gone))


def test_a_requirements_file_linked_out_of_the_folder_is_not_read(tmp_path: Path) -> None:
    """A skill folder someone else made (a clone, an archive) with requirements.txt, or
    its scripts/ folder, a symlink out of it: the engine (maybe root) read the target, any
    file it may read, and a call's error (to an HTTP or MCP caller) quoted its first line
    as 'not a valid requirement'; a line that parsed was sent to the index as a package."""
    from skillexec.errors import ManifestError
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$s3cr3t-hash:19000:0:99999:7:::\n")
    secret.chmod(0o600)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "requirements.txt").symlink_to(secret)
    top = skill_folder(tmp_path / "a", "top", files={"main.py": "def execute(d):\n    return 1\n"})
    (top / "requirements.txt").symlink_to(secret)
    nested = skill_folder(tmp_path / "b", "nested", files={
        "main.py": "def execute(d):\n    return 1\n"})
    (nested / "scripts").symlink_to(tmp_path / "elsewhere")
    for folder, rel in ((top, "requirements.txt"), (nested, "scripts/requirements.txt")):
        with pytest.raises(ManifestError) as info:
            requirement_set(load_skill(folder))
        assert "s3cr3t" not in str(info.value) and "s3cr3t" not in repr(info.value.details)
        assert f"{rel}: a symlink out of the skill's folder" in str(info.value)


def test_a_bad_requirement_line_is_named(tmp_path: Path) -> None:
    from skillexec.errors import ManifestError
    with pytest.raises(ManifestError, match=r"r.txt: line 2: 'numpy>=>1' is not a valid"):
        parse_requirement_lines("rich\nnumpy>=>1\n", where="r.txt")
    # pip's URL and path lines say what they are (packaging said "Expected semicolon")
    for line in ("git+https://github.com/o/r.git", "https://x.org/p-1.0.tar.gz", ".",
                 "./vendor/pkg", "../shared", "/opt/wheels/p-1.0-py3-none-any.whl",
                 "dist/p-1.0-py3-none-any.whl", "hg+https://x.org/r"):
        with pytest.raises(ManifestError, match=r"is a URL or a path, not a package"):
            parse_requirement_lines(f"rich\n{line}\n", where="r.txt")
    assert [str(r) for r in parse_requirement_lines(
        "torch.utils==1\nzope.interface>=5\n", where="r.txt")] == [
            "torch.utils==1", "zope.interface>=5"]


# -- provisioning ------------------------------------------------------------------------


def test_first_call_provisions_and_a_second_engine_reuses(tmp_path: Path) -> None:
    links = wheels(tmp_path)
    skill_folder(tmp_path / "skills", "uses-tiny", files={
        "main.py": USES, "requirements.txt": f"{PKG}>=1.0\n"})
    skill_folder(tmp_path / "skills", "also-tiny", files={
        "main.py": USES}, manifest={"dependencies": {PKG: ">=1.0"}})

    async def go() -> None:
        async with SkillExecutionEngine(config=config(tmp_path, links)) as engine:
            before = engine.skills.get("uses-tiny")
            assert before.env_paths == ()
            results = await asyncio.gather(*(engine.execute("uses-tiny", {})
                                              for _ in range(3)))
            assert [r.status for r in results] == [TaskStatus.SUCCEEDED] * 3, results[0].error
            assert engine.environments.installs == 1  # concurrent first calls: one install
            out = results[0].output
            assert out["value"] == 42
            env_dir = Path(out["file"]).parents[2]
            assert env_dir.parent == tmp_path / "data" / "envs"
            marker = json.loads((env_dir / MARKER).read_text())
            assert marker["requirements"] == [f"{PKG}>=1.0"]
            assert marker["resolved"] == [f"{PKG}==1.2.0"]
            assert engine.skills.get("uses-tiny").env_paths == (str(env_dir / "site-packages"),)
            # The same set: the same environment, no second install.
            other = await engine.execute("also-tiny", {})
            assert other.status is TaskStatus.SUCCEEDED and other.output == out
            assert engine.environments.installs == 1
        async with SkillExecutionEngine(config=config(tmp_path, links)) as engine:
            assert engine.skills.get("uses-tiny").env_paths  # found at load: ready
            again = await engine.execute("uses-tiny", {})
            assert again.status is TaskStatus.SUCCEEDED and again.output == out
            assert engine.environments.installs == 0
        leftovers = [p.name for p in (tmp_path / "data" / "envs").iterdir()
                     if p.name.startswith(".tmp-")]
        assert leftovers == []

    arun(go())


def test_the_sandbox_reads_its_environment_but_cannot_write_it(tmp_path: Path) -> None:
    links = wheels(tmp_path)
    skill_folder(tmp_path / "skills", "writer", files={"requirements.txt": f"{PKG}\n",
        "main.py": ("import os, tinypkg_envs\n"
                    "def execute(data):\n"
                    "    target = os.path.join(os.path.dirname(tinypkg_envs.__file__), 'x.py')\n"
                    "    try:\n"
                    "        open(target, 'w').write('VALUE = 0')\n"
                    "    except OSError as exc:\n"
                    "        return {'read': tinypkg_envs.VALUE, 'write': type(exc).__name__}\n"
                    "    return {'read': tinypkg_envs.VALUE, 'write': 'allowed'}\n")},
        manifest={"execution": {"isolation": "sandbox"}})

    async def go() -> None:
        async with SkillExecutionEngine(config=config(tmp_path, links)) as engine:
            if not engine.runner_allows("sandbox", engine.skills.get("writer")):
                pytest.skip("the sandbox is not available on this machine")
            r = await engine.execute("writer", {})
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert r.output["read"] == 42 and r.output["write"] != "allowed"

    arun(go())


def test_a_failed_install_leaves_nothing_and_the_skill_unavailable(tmp_path: Path) -> None:
    links = wheels(tmp_path)
    skill_folder(tmp_path / "skills", "broken", files={
        "main.py": USES, "requirements.txt": f"{PKG}\nno-such-package-3f9a>=1\n"})

    async def go() -> None:
        async with SkillExecutionEngine(config=config(tmp_path, links)) as engine:
            r = await engine.execute("broken", {})
            assert r.status is TaskStatus.REJECTED
            assert r.error is not None and r.error.type.value == "dependency_error"
            assert r.error.code == "install_failed"
            assert "'no-such-package-3f9a'" in r.error.message
            assert "'tinypkg-envs'" not in r.error.message  # the one at fault, not the set
            again = await engine.execute("broken", {})  # not retried: unavailable until fixed
            assert again.error is not None and again.error.code == "install_failed"
            assert "stays unavailable" in again.error.message
            assert engine.environments.installs == 0

    arun(go())
    envs = tmp_path / "data" / "envs"
    assert not [p for p in envs.iterdir() if p.is_dir()]  # nothing half-installed
    # (under the same installer settings: a failure under others is not this one's)
    r = cli("skills", "list", "--json", "--skills-dir", str(tmp_path / "skills"),
            "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env={
                "SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
                "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"})
    [listed] = json.loads(r.stdout)
    assert listed["environment"]["state"] == "failed"
    assert "no-such-package-3f9a" in listed["environment"]["reason"]


def test_skills_install_ahead_of_time_with_extra_packages_kept(tmp_path: Path) -> None:
    links = wheels(tmp_path)
    skill_folder(tmp_path / "skills", "undeclared", files={"main.py": USES})
    env = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    where = ("--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data"))
    r = cli("skills", "check", "undeclared", *where, cwd=tmp_path, env=env)
    assert r.returncode == 2
    assert (f"missing module {MOD} (package {PKG}, guessed from the module's name)"
            in " ".join(r.stdout.split()))  # declared, it would be the author's word
    # Not "none needed" above a module it needs.
    assert "environment none declared" in r.stdout and "none needed" not in r.stdout
    r = cli("skills", "install", "undeclared", PKG, "--json", *where, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["installs"] == 1 and body["environment"]["state"] == "ready"
    assert json.loads((tmp_path / "data" / "envs" / "extras.json").read_text()) == {
        "undeclared": [PKG]}
    r = cli("skills", "check", "undeclared", *where, cwd=tmp_path, env=env)
    assert r.returncode == 0 and "every import resolves" in r.stdout
    r = cli("skills", "install", "undeclared", "--json", *where, cwd=tmp_path, env=env)
    assert json.loads(r.stdout)["installs"] == 0  # kept, and already there
    r = cli("skills", "install", "undeclared", PKG, *where, cwd=tmp_path, env=env)
    assert r.returncode == 0 and "from its next call of this skill" in r.stdout

    async def go() -> None:
        cfg = config(tmp_path, links)
        async with SkillExecutionEngine(config=cfg) as engine:
            res = await engine.execute("undeclared", {})
            assert res.status is TaskStatus.SUCCEEDED and res.output["value"] == 42
            assert engine.environments.installs == 0

    arun(go())


def test_a_relative_data_dir_gives_absolute_env_paths(tmp_path: Path) -> None:
    links = wheels(tmp_path)
    skill_folder(tmp_path / "skills", "rel", files={"main.py": USES,
                                                    "requirements.txt": f"{PKG}\n"})

    async def go() -> None:  # the tests run in tmp_path: "data" is relative to it
        cfg = EngineConfig(skills_dir=Path("skills"), data_dir=Path("data"),
                           environments={"find_links": [str(links)], "no_index": True})
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("rel", {})
            assert r.status is TaskStatus.SUCCEEDED, r.error
            [path] = engine.skills.get("rel").env_paths
            assert Path(path).is_absolute() and Path(path).is_dir()

    arun(go())


def test_a_bad_requirements_file_refuses_each_call_with_the_line(tmp_path: Path) -> None:
    skill_folder(tmp_path / "skills", "typo", files={"main.py": USES,
                                                     "requirements.txt": "rich\nnumpy>=>1\n"})

    async def go() -> None:
        cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("typo", {})
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.code == "invalid_requirements"
            assert "requirements.txt: line 2: 'numpy>=>1' is not a valid requirement" \
                in r.error.message

    arun(go())


def test_pip_is_the_fallback_installer(tmp_path: Path) -> None:
    links = wheels(tmp_path)
    skill_folder(tmp_path / "skills", "via-pip", files={
        "main.py": USES, "requirements.txt": f"{PKG}==1.2.0\n"})

    async def go() -> None:
        async with SkillExecutionEngine(config=config(tmp_path, links,
                                                      installer="pip")) as engine:
            r = await engine.execute("via-pip", {})
            assert r.status is TaskStatus.SUCCEEDED, r.error
        marker = next((tmp_path / "data" / "envs").glob(f"*/{MARKER}"))
        assert json.loads(marker.read_text())["installer"] == "pip"

    arun(go())


# -- undeclared imports ------------------------------------------------------------------


def test_an_undeclared_import_ends_the_call_missing_module(tmp_path: Path) -> None:
    skill_folder(tmp_path / "skills", "vision", files={
        "main.py": "import cv2\ndef execute(data):\n    return 1\n"})
    skill_folder(tmp_path / "skills", "late", files={
        "main.py": "def execute(data):\n    import docx.shared\n    return 1\n"})
    skill_folder(tmp_path / "skills", "inline-late", files={
        "main.py": "def execute(data):\n    from bs4 import BeautifulSoup\n    return 1\n"},
        manifest={"execution": {"isolation": "inline"}})

    async def go() -> None:
        cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                           isolation={"trusted_skills": ["inline-late"]})
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("vision", {})
            assert r.error is not None and r.error.type.value == "dependency_error"
            assert r.error.code == "missing_module"
            assert "the module 'cv2'" in r.error.message
            assert "'opencv-python'" in r.error.message
            late = await engine.execute("late", {})  # imported at call time
            assert late.error is not None and late.error.code == "missing_module"
            assert "'docx'" in late.error.message and "'python-docx'" in late.error.message
            inline = await engine.execute("inline-late", {})  # in the engine's own process
            assert inline.error is not None and inline.error.code == "missing_module"
            assert inline.error.message.startswith("skill 'inline-late' imports the module "
                                                   "'bs4', which is not installed")
            assert inline.error.details["package"] == "beautifulsoup4"

    arun(go())


def test_skills_check_lists_imports_nothing_provides(tmp_path: Path) -> None:
    skill_folder(tmp_path / "skills", "mixed", files={
        "main.py": ("import os, json\nimport helpers\nfrom core.frames import f\n"
                    "import yaml\n"
                    "def execute(data):\n    from docx import Document\n    import bs4\n"
                    "    return 1\n"),
        "helpers.py": "X = 1\n",
        "core/frames.py": "def f():\n    pass\n",
        "scripts/opt.py": "try:\n    import fitz\nexcept ImportError:\n    fitz = None\n"})
    r = cli("skills", "check", "mixed", "--json", "--skills-dir", str(tmp_path / "skills"),
            "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env={})
    assert r.returncode == 2
    body = json.loads(r.stdout)
    found = {m["module"]: m for m in body["missing"]}
    assert set(found) == {"docx", "bs4", "fitz", "yaml"}  # the rest are local
    # yaml: skillexec's own environment provides it here, the skill declares none (where
    # it is installed without skillexec's, it fails): said, not counted as missing.
    assert found["yaml"]["borrowed"] is True and found["yaml"]["package"] == "pyyaml"
    assert not any(found[m]["borrowed"] for m in ("docx", "bs4", "fitz"))
    assert found["docx"]["package"] == "python-docx"
    assert found["docx"]["files"] == ["main.py:6"]
    assert found["bs4"]["package"] == "beautifulsoup4"
    assert found["fitz"] == {"module": "fitz", "package": "pymupdf",
                             "files": ["scripts/opt.py:2"], "optional": True,
                             "reference": False, "borrowed": False, "tests": False,
                             "outside": None, "outside_unsure": False, "guessed": False,
                             "declared": False, "likely_from": [], "elsewhere": False}
    r = cli("skills", "check", "mixed", "--skills-dir", str(tmp_path / "skills"),
            "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env={})
    assert "borrowed module yaml (package pyyaml), imported at main.py:4: here skillexec's " \
        "own environment provides it, not the skill's" in r.stdout, r.stdout
    assert "skillexec skills install mixed beautifulsoup4 python-docx pyyaml" in r.stdout


def test_skills_check_names_no_package_for_the_skills_own_modules_or_templates(
        tmp_path: Path) -> None:
    """Seen in terrylica/cc-skills: Notion's skill has tests that put ``../scripts`` on the
    path and ``import add_blocks``, and a template in ``references/`` has ``import
    your_module``. ``skills check`` called both missing and told the user to install the
    packages ``add-blocks`` and ``your-module``: whatever the index holds under those names."""
    skill_folder(tmp_path / "skills", "notion", files={
        "scripts/add_blocks.py": "import notion_client\n",
        "scripts/lib/util.py": "X = 1\n",
        "tests/test_blocks.py": "import sys\nimport add_blocks\nfrom lib.util import X\n",
        "references/template.py": "import your_module\nimport notion_client\n",
        "assets/example.py": "import pandas_ta\n"})
    where = ("--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data"))
    r = cli("skills", "check", "notion", "--json", *where, cwd=tmp_path, env={})
    assert r.returncode == 2, r.stderr
    found = {m["module"]: m for m in json.loads(r.stdout)["missing"]}
    assert set(found) == {"notion_client", "your_module", "pandas_ta"}
    assert found["notion_client"]["reference"] is False  # scripts/ imports it too
    assert found["your_module"]["reference"] and found["pandas_ta"]["reference"]
    text = " ".join(cli("skills", "check", "notion", *where, cwd=tmp_path, env={})
                    .stdout.split())
    assert ("reference-only module your_module (package your-module, guessed from the "
            "module's name)") in text
    assert text.endswith("skillexec skills install notion notion-client")


def checked(tmp_path: Path, skill_id: str) -> tuple[int, dict[str, Any]]:
    """``skills check ID --json`` of tmp_path's skills: its exit code, and what it found
    missing by module."""
    r = cli("skills", "check", skill_id, "--json", "--skills-dir", str(tmp_path / "skills"),
            "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env={})
    return r.returncode, {m["module"]: m for m in json.loads(r.stdout)["missing"]}


def test_skills_check_takes_an_import_error_fallback_as_optional(tmp_path: Path) -> None:
    """takusaotome's timezone tracker: ``try: from zoneinfo import ZoneInfo`` / ``except
    ImportError: from backports.zoneinfo import ZoneInfo``. The fallback was called missing
    (package 'backports'), though zoneinfo is in the standard library."""
    code = ("try:\n    from zoneinfo import ZoneInfo\nexcept ImportError:\n"
            "    from backports.zoneinfo import ZoneInfo\n"
            "try:\n    import orjson as json\nexcept (ImportError, OSError):\n"
            "    import simplejson as json\n"
            "try:\n    import missing_first\nexcept ValueError:\n    import missing_second\n"
            "from fpdf import FPDF\n")
    skill_folder(tmp_path / "skills", "tz", files={"scripts/track.py": code})
    returncode, found = checked(tmp_path, "tz")
    assert found["backports.zoneinfo"]["optional"] and found["simplejson"]["optional"]
    assert found["backports.zoneinfo"]["package"] == "backports-zoneinfo"
    assert not found["missing_second"]["optional"]  # ValueError's handler: not a fallback
    assert found["fpdf"]["package"] == "fpdf2"  # PyFPDF ("fpdf") is unmaintained since 2017
    assert returncode == 2  # missing_first, missing_second, fpdf


def test_skills_check_names_a_namespace_packages_distribution(tmp_path: Path) -> None:
    """``from google.cloud import storage`` was reported as the module 'google', package
    'google': an unrelated project on the index. Under a namespace package the package is
    named by the next parts."""
    code = ("from google.cloud import storage\nimport google.auth.transport.requests\n"
            "from google import genai_never_installed\nimport azure.storage.blob\n"
            "from azure.identity import DefaultAzureCredential\nimport google.protobuf\n"
            "import os.path\n")
    skill_folder(tmp_path / "skills", "cloud", files={"scripts/up.py": code})
    found = {module: m["package"] for module, m in checked(tmp_path, "cloud")[1].items()}
    assert "google" not in found and "azure" not in found, found
    assert found["google.cloud.storage"] == "google-cloud-storage"
    assert found["google.genai_never_installed"] == "google-genai-never-installed"
    assert found["azure.storage.blob"] == "azure-storage-blob"
    assert found["azure.identity"] == "azure-identity"
    assert "os" not in found
    # Installed here or not: where missing, each is named by its package.
    assert found.get("google.auth", "google-auth") == "google-auth"
    assert found.get("google.protobuf", "protobuf") == "protobuf"


def test_skills_check_without_an_id_checks_the_whole_folder(tmp_path: Path) -> None:
    """A folder of 163 Agent Skills could only be checked one id at a time: without an id,
    every skill is checked; those with something to do are shown, then a count."""
    skills = tmp_path / "skills"
    skill_folder(skills, "fine", files={"main.py": "import json\ndef execute(d):\n    "
                                                   "return 1\n"})
    skill_folder(skills, "needs", files={"main.py": "import bs4\ndef execute(d):\n    "
                                                    "return 1\n"})
    where = ("--skills-dir", str(skills), "--data-dir", str(tmp_path / "data"))
    r = cli("skills", "check", *where, cwd=tmp_path, env={})
    assert r.returncode == 2, r.stderr
    out = " ".join(r.stdout.split())
    assert "missing module bs4 (package beautifulsoup4)" in out
    assert "fine:" not in out  # nothing to do for it: not shown
    assert out.endswith("2 skills checked: 1 resolve every import, 1 miss modules")
    body = json.loads(cli("skills", "check", "--json", *where, cwd=tmp_path, env={}).stdout)
    assert {d["id"]: d["ok"] for d in body} == {"fine": True, "needs": False}
    both = cli("skills", "check", "fine", "needs", *where, cwd=tmp_path, env={})
    assert both.returncode == 2 and "fine: environment none needed" in both.stdout
    one = cli("skills", "check", "fine", *where, cwd=tmp_path, env={})
    assert one.returncode == 0 and "every import resolves" in one.stdout


def test_skills_install_without_an_id_provisions_every_skill_not_ready(
        tmp_path: Path) -> None:
    """Ahead of a folder's first calls: every skill whose declared environment is not
    installed, in turn; one that cannot be installed says why, fails the command (exit 1),
    and leaves the others installed."""
    links = wheels(tmp_path)
    skills = tmp_path / "skills"
    for sid in ("one", "two"):  # the same set of packages: one environment, shared
        skill_folder(skills, sid, files={"main.py": USES, "requirements.txt": f"{PKG}\n"})
    skill_folder(skills, "bad", files={"main.py": "def execute(d):\n    return 1\n",
                                       "requirements.txt": "no-such-package-3f9a\n"})
    skill_folder(skills, "plain", files={"main.py": "def execute(d):\n    return 1\n"})
    env = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    where = ("--skills-dir", str(skills), "--data-dir", str(tmp_path / "data"))
    r = cli("skills", "install", *where, cwd=tmp_path, env=env)
    assert r.returncode == 1, r.stderr
    out = " ".join(r.stdout.split())
    assert "one: environment ready" in out and "two:" not in out  # shared: ready already
    assert "bad: not installed:" in out and "no-such-package-3f9a" in out
    assert "plain" not in out  # nothing declared: nothing to install
    assert out.endswith("1 environments installed, 1 failed")
    listed = {d["id"]: d["environment"]["state"] for d in json.loads(cli(
        "skills", "list", "--json", *where, cwd=tmp_path, env=env).stdout)}
    assert listed == {"one": "ready", "two": "ready", "bad": "failed", "plain": "none needed"}


def test_package_table() -> None:
    assert [package_for(m) for m in ("PIL", "yaml", "cv2", "docx", "pptx", "bs4", "sklearn",
                                     "fitz", "numpy", "google.protobuf", "my_mod")] == [
        "pillow", "pyyaml", "opencv-python", "python-docx", "python-pptx", "beautifulsoup4",
        "scikit-learn", "pymupdf", "numpy", "protobuf", "my-mod"]
    # Import names whose package is named otherwise, seen in real skills' imports.
    assert [package_for(m) for m in ("Bio", "tdc", "umap", "fpdf", "git")] == [
        "biopython", "pytdc", "umap-learn", "fpdf2", "gitpython"]
    assert [package_for(m) for m in ("backports.zoneinfo", "google.cloud.storage.blob",
                                     "google.oauth2.credentials", "azure.core.exceptions",
                                     "numpy.linalg")] == [
        "backports-zoneinfo", "google-cloud-storage", "google-auth", "azure-core", "numpy"]


@pytest.mark.network
def test_a_real_package_from_the_index(tmp_path: Path) -> None:
    skill_folder(tmp_path / "skills", "real", files={
        "requirements.txt": "tomli-w==1.0.0\n",
        "main.py": "import tomli_w\ndef execute(data):\n    return tomli_w.dumps({'a': 1})\n"})

    async def go() -> None:
        cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")
        async with SkillExecutionEngine(config=cfg) as engine:
            r = await engine.execute("real", {})
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert r.output == "a = 1\n" and engine.environments.installs == 1

    arun(go())


def test_a_symlink_stored_as_text_is_read_as_the_include_it_stands_for(tmp_path: Path) -> None:
    """richfrem's 66 skills ship requirements.txt holding only '../../requirements.txt' (a
    symlink git stored as text): every call was refused 'not a valid requirement'."""
    from skillexec.errors import ManifestError
    plugin = tmp_path / "plug"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text('{"name": "plug"}')
    (plugin / "requirements.txt").write_text("# standard library only\nrich>=13\n")
    folder = plugin / "skills" / "task"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: task\ndescription: T.\n---\nRun it.\n")
    (folder / "requirements.txt").write_text("../../requirements.txt")
    assert requirement_set(load_skill(folder)).requirements == ("rich>=13",)
    # In a plain skill, inside its folder only; one out of it is a path, not a package
    # (whether it exists there is not said: that told a skill's author what the machine
    # holds).
    alone = skill_folder(tmp_path / "a", "alone", files={
        "main.py": "def execute(d):\n    return 1\n", "requirements.txt": "../outside.txt\n"})
    (tmp_path / "a" / "outside.txt").write_text("leftpad\n")
    with pytest.raises(ManifestError, match=r"'../outside.txt' is a URL or a path"):
        requirement_set(load_skill(alone))
    (alone / "requirements.txt").write_text("../missing.txt\n")
    with pytest.raises(ManifestError, match=r"'../missing.txt' is a URL or a path"):
        requirement_set(load_skill(alone))


def test_check_counts_a_suffixless_shell_script_it_did_not_read(tmp_path: Path) -> None:
    """scnet-chat's scripts/run, a bash wrapper its SKILL.md runs: not counted among the
    shell scripts whose commands check does not read."""
    folder = tmp_path / "skills" / "wrap"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: wrap\ndescription: W.\n---\nRun it.\n")
    (folder / "scripts" / "run").write_text("#!/bin/bash\nexec python3 tool.py\n")
    (folder / "scripts" / "tool.py").write_text("print(1)\n")
    r = cli("skills", "check", "wrap", "--json", "--skills-dir", str(tmp_path / "skills"),
            "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env={})
    assert json.loads(r.stdout)["read"]["shell_scripts_not_checked"] == 1, r.stdout


def test_check_suggests_no_guessed_package_while_declared_ones_are_not_installed(
        tmp_path: Path) -> None:
    """A skill declaring sgmllib3k (which provides sgmllib) was told to install 'sgmllib',
    a guessed name that does not exist: its declared packages come first."""
    folder = tmp_path / "skills" / "feeds"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: feeds\ndescription: F.\n---\nRun it.\n")
    (folder / "scripts" / "use.py").write_text("import sgmllib\n")
    (folder / "requirements.txt").write_text("sgmllib3k\n")
    r = cli("skills", "check", "feeds", "--skills-dir", str(tmp_path / "skills"),
            "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env={})
    assert "a package it declares may provide it once installed" in r.stdout, r.stdout
    assert "skillexec skills install feeds sgmllib" not in r.stdout
    assert "install it ahead of time: skillexec skills install feeds" in r.stdout


def test_a_folders_check_counts_the_skills_that_borrow_the_engines_packages(
        tmp_path: Path) -> None:
    """A whole folder's check counted a skill importing only what skillexec's own
    environment provides (yaml here) among those that 'resolve every import'."""
    skill_folder(tmp_path / "skills", "borrower", files={
        "main.py": "import yaml\ndef execute(d):\n    return 1\n"})
    where = ("--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data"))
    r = cli("skills", "check", *where, cwd=tmp_path, env={})
    assert r.returncode == 0, r.stderr
    assert "1 skills checked: 0 resolve every import, 0 miss modules, 1 import what only " \
        "skillexec's own environment provides here" in r.stdout, r.stdout
    assert "borrowed module yaml" in r.stdout
    r = cli("skills", "check", "--json", *where, cwd=tmp_path, env={})
    [doc] = json.loads(r.stdout)
    assert doc["ok"] is True and doc["borrows"] is True
