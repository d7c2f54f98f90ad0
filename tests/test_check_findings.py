"""``skills check`` and ``skills show`` as a new user met them on third-party skills
(trial A: H2, M2, M3, M4, L5): which imports are packages to install, which are not, and
what a skill declares."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.environments.import_scan import read_imports
from tests._isolation import need_sandbox
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)


def skill(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    """An Agent Skill (SKILL.md) under ``tmp_path/skills``, readable by the sandbox's user."""
    folder = tmp_path / "skills" / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: tools.\n---\n"
                                     "Use the scripts.\n")
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return folder


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args, "--skills-dir",
                           str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def check(tmp_path: Path, skill_id: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    """``skills check ID``: its exit code, what ``--json`` found by module, and the text
    (one line per finding, however the terminal wraps)."""
    js = cli(tmp_path, "skills", "check", skill_id, "--json")
    assert js.stderr == "", js.stderr
    text = cli(tmp_path, "skills", "check", skill_id)
    assert text.returncode == js.returncode, text.stdout
    found = {m["module"]: m for m in json.loads(js.stdout)["missing"]}
    return js.returncode, found, text.stdout


def suggestion(text: str) -> list[str]:
    """The packages of the check's "or: skillexec skills install ID PKG..." line."""
    line = next((x for x in text.splitlines() if "or: skillexec skills install" in x), "")
    return line.split("skills install ", 1)[1].split()[1:] if line else []


def absent(*modules: str) -> None:
    # Named packages that skillexec's own environment does not hold: there, they would be
    # borrowed, not missing.
    for module in modules:
        if importlib.util.find_spec(module) is not None:
            pytest.skip(f"{module} is installed beside skillexec here")


# -- H2: a sibling skill's module is no package to install -----------------------------------


def test_a_sibling_skills_module_is_outside_the_skill_not_a_package(tmp_path: Path) -> None:
    """oaustegard's image-to-svg puts ``../flowing/scripts`` on sys.path and imports
    ``flowing``, a skill beside it; check said "skillexec skills install image-to-svg
    flowing": the index's 'flowing' is an unrelated project (dependency confusion), and the
    sandbox hides the sibling, so that package is what the import would then run."""
    absent("tabulate")
    skill(tmp_path, "flowing_h2", {"scripts/flowing_h2.py": "class Flow:\n    pass\n",
                                   "scripts/chain_h2.py": "X = 1\n"})
    skill(tmp_path, "img", {
        "scripts/pipeline.py": (
            "import sys\nfrom pathlib import Path\nimport tabulate\n"
            "_SKILLS_DIR = Path(__file__).resolve().parent.parent.parent\n"
            "sys.path.insert(0, str(_SKILLS_DIR / 'flowing_h2' / 'scripts'))\n"
            "from flowing_h2 import Flow\nimport chain_h2\n"),
        # Written for another machine: its skills folder is /mnt/skills/user there.
        "scripts/portrait.py": ("import sys\nsys.path.insert(0, '/mnt/skills/user/flowing_h2"
                                "/scripts')\nfrom chain_h2 import X\n"),
        # Where it puts nothing on sys.path, a skill's name beside it is still no package.
        "scripts/plain.py": "import flowing_h2\n",
        # A folder only running it tells: a module only guessed into a package may be
        # there; a known package (tabulate) is still one to install.
        "scripts/dyn.py": ("import sys\ndef add(p):\n    sys.path.insert(0, p)\n"
                           "import helper_h2_lib\nimport tabulate\n")})
    code, found, text = check(tmp_path, "img")
    assert code == 2, text  # tabulate is missing; flowing_h2 and chain_h2 fail to import
    assert found["flowing_h2"]["outside"] == (
        "it names the skill 'flowing_h2' beside this one, outside this skill's folder")
    assert found["chain_h2"]["outside"] == (
        "scripts/pipeline.py puts ../flowing_h2/scripts on sys.path, outside the skill's "
        "folder, and it is there")
    assert found["helper_h2_lib"]["outside_unsure"] is True
    assert not found["tabulate"]["outside"]
    assert suggestion(text) == ["tabulate"], text
    assert ("outside module flowing_h2, imported at scripts/pipeline.py:6, scripts/plain.py:1:"
            " it names the skill 'flowing_h2' beside this one, outside this skill's folder: "
            "not a package to install") in text, text
    assert "unresolved module helper_h2_lib, imported at scripts/dyn.py:4" in text
    assert "(package flowing_h2" not in text and "(package chain-h2" not in text


def test_a_folder_a_script_puts_on_sys_path_inside_the_skill_provides_modules(
        tmp_path: Path) -> None:
    """What a script's sys.path change reaches inside the skill is the skill's own: a
    namespace folder there, imported bare, is no package either."""
    skill(tmp_path, "inner", {
        "lib/nsdir_h2/data.txt": "x\n",
        "tests/test_it.py": ("import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname("
                             "os.path.abspath(__file__)), '..', 'lib'))\nimport nsdir_h2\n")})
    code, found, text = check(tmp_path, "inner")
    assert (code, found) == (0, {}), text


def test_the_folders_a_script_puts_on_sys_path_are_told_from_its_syntax(
        tmp_path: Path) -> None:
    """The forms skills use (seen in the trial's four repositories), never run."""
    file = tmp_path / "sk" / "scripts" / "x.py"
    code = (
        "import os, site, sys\nfrom pathlib import Path\n"
        "ROOT = Path(__file__).resolve().parents[1]\n"
        "sys.path.insert(0, str(ROOT / 'lib'))\n"
        "sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'a'))\n"
        "sys.path[:0] = [str(Path(__file__).parent.parent.parent / 'sib' / 'scripts')]\n"
        "sys.path.extend(['/opt/abs', 'relative/to/the/workspace'])\n"
        "site.addsitedir(os.path.dirname(__file__))\n"
        "def f(p):\n    if p not in sys.path:\n        sys.path.insert(0, p)\n")
    read = read_imports(ast.parse(code), file)
    sk = str(tmp_path / "sk")
    assert read.paths == (f"{sk}/lib", f"{sk}/a", f"{tmp_path}/sib/scripts", "/opt/abs",
                          f"{sk}/scripts")
    assert read.unknown_paths == 2  # the workspace-relative path, and f's argument


# -- M2: what a skill declares is not borrowed -------------------------------------------------


def test_a_declared_package_the_engine_provides_is_neither_borrowed_nor_undeclared(
        tmp_path: Path) -> None:
    """x-research declares httpx in scripts/pyproject.toml, skill-creator yaml in a PEP 723
    block: check called each module "borrowed" (skillexec's own environment provides it,
    not the skill's) and show said "none declared"."""
    absent("tabulate")
    skill(tmp_path, "declares", {
        "scripts/pyproject.toml": "[project]\nname = 'x'\nversion = '1'\n"
                                  "dependencies = ['pyyaml']\n",
        "scripts/use.py": "import yaml\n"})
    skill(tmp_path, "inline", {
        "scripts/use.py": ("# /// script\n# dependencies = ['pyyaml>=5']\n# ///\n"
                           "import yaml\n")})
    skill(tmp_path, "borrows", {"scripts/use.py": "import yaml\n"})
    # (with the file each declares them in)
    for name, requires in (("declares", "pyyaml, declared in scripts/pyproject.toml"),
                           ("inline", "pyyaml>=5, declared in scripts/use.py")):
        code, found, text = check(tmp_path, name)
        assert (code, found) == (0, {}), text
        assert text.splitlines() == [
            f"{name}: environment none needed: skillexec's own environment provides what "
            f"it requires ({requires})", "  every import resolves"]
        shown = cli(tmp_path, "skills", "show", name)
        assert shown.returncode == 0, shown.stderr
        assert (f"environment    none needed: skillexec's own environment provides what it "
                f"requires ({requires})") in shown.stdout, shown.stdout
        assert "none declared" not in shown.stdout
    code, found, text = check(tmp_path, "borrows")  # imported, not declared: borrowed
    assert code == 0 and found["yaml"]["borrowed"] is True, text
    assert suggestion(text) == ["pyyaml"]
    shown = cli(tmp_path, "skills", "show", "borrows")
    assert "environment    none declared (skillexec skills check borrows lists" in shown.stdout


# -- M3: a folder named like a package is no module of the skill's ---------------------------


def test_a_folder_named_like_a_package_is_not_the_skills_module(tmp_path: Path) -> None:
    """openai-spreadsheet's ``references/examples/openpyxl/`` holds examples that import
    openpyxl: check said "every import resolves", for any folder name anywhere was taken
    for a module of the skill's own."""
    absent("openpyxl", "xlsxwriter")
    skill(tmp_path, "sheets", {
        "references/examples/openpyxl/create.py": "from openpyxl import Workbook\n",
        "scripts/tools/xlsxwriter/demo.py": "import xlsxwriter\n",
        # Its own modules stay its own: a package, a namespace folder beside the importer,
        # and one whose file the import names.
        "scripts/mylib/__init__.py": "THING = 1\n",
        "scripts/nslib/util.py": "X = 1\n",
        "scripts/run.py": "from mylib import THING\nimport nslib\nfrom nslib.util import X\n",
        "tests/test_run.py": "import nslib.util\nimport mylib\n"})
    code, found, text = check(tmp_path, "sheets")
    assert set(found) == {"openpyxl", "xlsxwriter"}, found
    assert found["openpyxl"]["reference"] is True  # examples for a model, not code it runs
    assert found["openpyxl"]["package"] == "openpyxl" and not found["openpyxl"]["outside"]
    assert code == 2 and suggestion(text) == ["xlsxwriter"], text


def test_a_guessed_name_of_a_folder_of_the_skill_is_never_offered_as_a_package(
        tmp_path: Path) -> None:
    """oaustegard's tracking-todos: ``from scripts import config_get`` (Muninn's scripts
    package) where the skill's own scripts/ holds only todos.py. 'scripts' on the index is
    someone else's project: named, never proposed for install."""
    skill(tmp_path, "todos", {"scripts/todos.py": "from scripts import config_get\n"})
    code, found, text = check(tmp_path, "todos")
    assert code == 2 and found["scripts"]["outside_unsure"] is True, text
    assert "it names the skill's folder scripts/, which is not on the importing file's " \
        "path" in text
    assert suggestion(text) == []


def test_a_script_missing_a_package_named_like_its_folder_is_told_to_install_it(
        tmp_path: Path) -> None:
    """The run-time error said "'openpyxl', a name of the skill's own files, not a package
    to install": the opposite of the fix (skills install ID openpyxl)."""
    need_sandbox()
    absent("openpyxl")
    skill(tmp_path, "sheets", {
        "references/examples/openpyxl/create.py": "from openpyxl import Workbook\n",
        # ns_m3/ is found in the skill's folder (last on sys.path), its module is not.
        "scripts/tools.py": "from ns_m3.not_here import call\n",
        "ns_m3/call_api.py": "def call():\n    pass\n"})
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")

    async def go() -> dict[str, Any]:
        async with SkillExecutionEngine(config=cfg) as e:
            return {s: (await e.run_script("sheets", s)).error
                    for s in ("references/examples/openpyxl/create.py", "scripts/tools.py")}

    errors = arun(go())
    example = errors["references/examples/openpyxl/create.py"]
    assert example is not None and example.code == "missing_module"
    assert example.details["package"] == "openpyxl"
    assert "(or run: skillexec skills install sheets openpyxl)" in example.message
    own = errors["scripts/tools.py"]  # ns_m3/ is the skill's: no package to install
    assert own is not None and own.details.get("own") is True, own


# -- M4: an ImportError handler that ends the program leaves the import required -------------


def test_an_import_whose_handler_exits_is_required_not_optional(tmp_path: Path) -> None:
    """qr-code-generator: ``try: import qrcode`` / ``except ImportError: print(...);
    sys.exit(1)``: check said optional and left qrcode out of its suggestion; the script
    then exits 1 at its first call."""
    code = (
        "import sys\n"
        "try:\n    import req_exit_m4\nexcept ImportError:\n    print('no');\n    sys.exit(1)\n"
        "try:\n    import req_sysexit_m4\nexcept ImportError as e:\n"
        "    raise SystemExit(f'Missing dep ({e.name})')\n"
        "try:\n    import req_raise_m4\nexcept ImportError:\n"
        "    raise ImportError('pip install req-raise-m4')\n"
        "try:\n    import req_bare_m4\nexcept (ImportError, OSError):\n    raise\n"
        "try:\n    import req_first_m4\nexcept ModuleNotFoundError:\n    exit(2)\n"
        "except ImportError:\n    pass\n"
        "try:\n    import opt_flag_m4\n    HAS = True\nexcept ImportError:\n    HAS = False\n"
        "try:\n    import opt_pass_m4\nexcept ImportError:\n    pass\n"
        "try:\n    import opt_maybe_m4\nexcept ImportError:\n    if '--strict' in sys.argv:\n"
        "        sys.exit(1)\n    opt_maybe_m4 = None\n"
        "def f():\n    try:\n        import opt_func_m4\n    except ImportError:\n"
        "        return None\n")
    skill(tmp_path, "qr", {"scripts/generate_qr.py": code})
    returncode, found, text = check(tmp_path, "qr")
    optional = {m for m, f in found.items() if f["optional"]}
    assert optional == {"opt_flag_m4", "opt_pass_m4", "opt_maybe_m4", "opt_func_m4"}
    assert returncode == 2
    # Their packages only guessed, they are named as modules to find a package for, in
    # no command to paste (trialA 14).
    assert suggestion(text) == [], text
    assert "find the package of modules req_bare_m4, req_exit_m4, req_first_m4, " \
        "req_raise_m4, req_sysexit_m4 (" in " ".join(text.split()), text


# -- L5: what only the skill's tests import is not proposed ----------------------------------


def test_imports_only_tests_make_are_listed_not_proposed(tmp_path: Path) -> None:
    """takusaotome's skills: check's "or: skillexec skills install ID pytest", where only
    scripts/tests/ imports pytest."""
    absent("tabulate")
    skill(tmp_path, "tested", {
        "scripts/tool.py": "import tabulate\n",
        "scripts/tests/conftest.py": "import pytest\nimport tabulate\n",
        "scripts/tests/test_tool.py": "import hypothesis_l5\n",
        "scripts/test_other.py": "import freezegun_l5\n",
        "tests/helper_test.py": "import responses_l5\n"})
    code, found, text = check(tmp_path, "tested")
    assert {m for m, f in found.items() if f["tests"]} >= {
        "hypothesis_l5", "freezegun_l5", "responses_l5"}
    assert not found["tabulate"]["tests"]  # the script imports it too
    assert code == 2 and suggestion(text) == ["tabulate"], text
    assert "tests' module hypothesis_l5 (package hypothesis-l5" in text
    skill(tmp_path, "only-tests", {"scripts/tool.py": "import json\n",
                                   "tests/test_tool.py": "import hypothesis_l5\n"})
    code, found, text = check(tmp_path, "only-tests")
    assert code == 0 and found["hypothesis_l5"]["tests"] and suggestion(text) == [], text


def test_a_skill_named_after_a_library_beside_it_is_not_that_library(tmp_path: Path) -> None:
    """K-Dense names its skills after the libraries they teach: 'import seaborn' in one
    skill, beside a 'seaborn' skill of instructions, was "outside, not a package to install"
    (14 wrong verdicts), and left out of the install line the script then needed."""
    absent("tabulate")
    skill(tmp_path, "tabulate", {"references/api.md": "How to use tabulate.\n"})
    skill(tmp_path, "stats", {"scripts/report.py": "import tabulate\n"})
    code, found, text = check(tmp_path, "stats")
    assert code == 2, text
    assert not found["tabulate"]["outside"], found
    assert suggestion(text) == ["tabulate"], text
