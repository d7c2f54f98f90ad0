"""Dependency hints a user pastes (trialA 14): ``skills check`` proposed ``skillexec skills
install socks elftools ...`` (the module elftools is pyelftools'; "elftools" on the index is
not it), the run-time missing-module message did the same with any unknown module, a
script whose own ``pip install --user pdfplumber`` failed got no install hint, and
svg_generator's ``except ImportError: svgwrite = None`` (then ``if svgwrite is None: raise
ImportError``) was called optional."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.environments.import_scan import read_imports
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)


def skill(tmp_path: Path, name: str, files: dict[str, str]) -> None:
    folder = tmp_path / "skills" / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: tools.\n---\nUse.\n")
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args, "--skills-dir",
                           str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def lines(text: str) -> list[str]:
    return [" ".join(x.split()) for x in text.splitlines()]


def absent(module: str) -> None:
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")


def test_check_puts_no_guessed_package_into_the_install_command(tmp_path: Path) -> None:
    absent("elftools")
    skill(tmp_path, "socks-t3", {"scripts/fw.py": "import elftools\nimport nowhere_mod_t3\n"})
    r = cli(tmp_path, "skills", "check", "socks-t3")
    assert r.returncode == 2, r.stdout
    said = lines(r.stdout)
    [command] = [x for x in said if "or: skillexec skills install" in x]
    assert command.endswith("skillexec skills install socks-t3 pyelftools")
    [find] = [x for x in said if x.startswith("find the package")]
    assert find == ("find the package of module nowhere_mod_t3 (none is known here; a package "
                    "of the same name may be another project), then: skillexec skills "
                    "install socks-t3 PACKAGE")
    assert not any("nowhere-mod-t3" in x and "skills install" in x for x in said)
    # skills install with nothing declared says the same.
    r = cli(tmp_path, "skills", "install", "socks-t3")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "skillexec skills install socks-t3 pyelftools;" in text
    assert "find the package of nowhere_mod_t3 (none is known here)" in text


def test_an_optional_import_the_script_then_requires_is_needed(tmp_path: Path) -> None:
    """svg_generator's shape: the fallback binds None, and the class every run makes
    raises ImportError on it. One refused only for an option stays optional."""
    code = (
        "try:\n    import svgw_t3\n    from svgw_t3 import cm\nexcept ImportError:\n"
        "    svgw_t3 = None\n    print('Warning: run pip install svgw_t3')\n"
        "try:\n    import yamlish_t3\n    HAS_YAML = True\nexcept ImportError:\n"
        "    HAS_YAML = False\n"
        "try:\n    import fastjson_t3 as fj\nexcept ImportError:\n    fj = None\n"
        "class Drawing:\n    def __init__(self, fmt):\n"
        "        if svgw_t3 is None:\n"
        "            raise ImportError('svgw_t3 required: pip install svgw_t3')\n"
        "        if not HAS_YAML and fmt == 'yaml':\n            raise SystemExit('no yaml')\n"
        "        if fj is None:\n            print('slow json')\n")
    read = read_imports(ast.parse(code), Path("/s/scripts/gen.py"))
    optional = {i.dotted: i.optional for i in read.imports}
    assert optional == {"svgw_t3": False, "svgw_t3.cm": False, "yamlish_t3": True,
                        "fastjson_t3": True}
    skill(tmp_path, "floor-t3", {"scripts/gen.py": code})
    r = cli(tmp_path, "skills", "check", "floor-t3")
    said = lines(r.stdout)
    assert r.returncode == 2, r.stdout
    assert any(x.startswith("missing module svgw_t3 ") for x in said), said
    assert any(x.startswith("optional module yamlish_t3 ") for x in said), said


def run(tmp_path: Path, skill_id: str, script: str) -> ExecutionResult:
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=cfg) as e:
            return await e.run_script(skill_id, script)

    return arun(go())


def test_a_missing_modules_message_pastes_only_a_known_package(tmp_path: Path) -> None:
    need_sandbox()
    absent("elftools")
    skill(tmp_path, "hw-t3", {"scripts/known.py": "import elftools.elf\n",
                              "scripts/unknown.py": "import nowhere_mod_t3\n"})
    known = run(tmp_path, "hw-t3", "scripts/known.py").error
    assert known is not None and known.code == "missing_module"
    assert known.message.endswith("(or run: skillexec skills install hw-t3 pyelftools)")
    unknown = run(tmp_path, "hw-t3", "scripts/unknown.py").error
    assert unknown is not None and unknown.code == "missing_module"
    assert "skills install hw-t3 nowhere" not in unknown.message
    assert unknown.message == (
        "skill 'hw-t3' imports the module 'nowhere_mod_t3', which is not installed: find the "
        "package that provides it and declare that in its dependencies or requirements.txt "
        "(then: skillexec skills install hw-t3 PACKAGE); none is known for it here, and "
        "'nowhere-mod-t3' (guessed from the module's name) may be another project")


SELF_INSTALL = """\
import subprocess, sys
print("selfpkg_t3 not found. Installing...", file=sys.stderr)
try:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--user", "--no-index",
                           "--quiet", "selfpkg-t3>=1.0"])
except subprocess.CalledProcessError as e:
    print(f"Failed to install selfpkg_t3: {e}", file=sys.stderr)
    print("Please run: pip install selfpkg-t3>=1.0", file=sys.stderr)
    sys.exit(1)
"""


def test_a_script_whose_own_pip_install_failed_is_told_skills_install(tmp_path: Path) -> None:
    """parsepdf's extract_tables.py runs ``pip install --user pdfplumber`` itself."""
    need_sandbox()
    skill(tmp_path, "pdf-t3", {"scripts/extract.py": SELF_INSTALL})
    err = run(tmp_path, "pdf-t3", "scripts/extract.py").error
    assert err is not None and err.code == "script_exit", err
    hint = ("the script tried to install selfpkg-t3 itself, which fails here: skillexec "
            "installs a skill's packages, so run skillexec skills install pdf-t3 selfpkg-t3, "
            "or declare them in its requirements.txt")
    assert err.details["install"] == hint and hint in err.message
    # The terminal's one line says it too.
    skill(tmp_path / "cli", "pdf-t3", {"scripts/extract.py": SELF_INSTALL})
    r = cli(tmp_path / "cli", "script", "pdf-t3", "scripts/extract.py")
    assert r.returncode != 0 and f"({hint})" in " ".join(r.stderr.split())
