"""What a script skill's warm parent imports ahead (runtime/runners/_spec, scripts.
preload_modules): only what runs the same as under ``python script.py``, and nothing for a
command that makes one call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.scripts import _top_imports
from tests._isolation import need_sandbox
from tests._wheels import make_wheel
from tests.conftest import arun

pytestmark = pytest.mark.timeout(180)

# A package that reads the environment as it is imported (as matplotlib reads MPLBACKEND,
# huggingface_hub HF_HUB_OFFLINE, numpy OMP_NUM_THREADS).
MODE = "import os\nMODE = os.environ.get('TINY_MODE', 'default')\n"
SLOW = "import time\ntime.sleep(60)\n"


def _skill(root: Path, files: dict[str, str]) -> Path:
    folder = root / "skills" / "modal"
    for rel, text in {"SKILL.md": "---\nname: modal\ndescription: M.\n---\nRun them.\n",
                      **files}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    os.chmod(root, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    links = root / "wheels"
    make_wheel(links, "tinymode", "1.0.0", MODE, module="tinymode")
    make_wheel(links, "tinyslow", "1.0.0", SLOW, module="tinyslow")
    return links


def test_a_script_that_sets_the_environment_before_an_import_sees_it(tmp_path: Path) -> None:
    """A script that sets an environment variable and then imports the package that reads
    it got the package as the warm parent had imported it, ahead, without the variable."""
    need_sandbox()
    links = _skill(tmp_path, {
        "requirements.txt": "tinymode==1.0.0\n",
        "scripts/configured.py": ("import os\nos.environ['TINY_MODE'] = 'set by the script'\n"
                                  "import tinymode\nprint(tinymode.MODE)\n"),
        "scripts/plain.py": "import tinymode\nprint(tinymode.MODE)\n"})
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                       environments={"find_links": [str(links)], "no_index": True})

    async def go() -> list[str]:
        async with SkillExecutionEngine(config=cfg) as e:
            out = []
            for script in ("scripts/plain.py", "scripts/configured.py", "scripts/plain.py"):
                r = await e.run_script("modal", script)
                assert r.ok, r.error
                out.append(r.output["stdout"])
            return out
    assert arun(go()) == ["default\n", "set by the script\n", "default\n"]


def test_a_one_call_command_imports_nothing_of_the_skills_other_scripts(
        tmp_path: Path) -> None:
    """``skillexec script`` made the warm parent import what every script of the skill
    imports: a sibling's slow import (anthropic's) made a 1 s script take 8-11 s. Here the
    sibling's import takes a minute, past the import timeout: it would fail the call."""
    need_sandbox()
    links = _skill(tmp_path, {
        "requirements.txt": "tinyslow==1.0.0\n",
        "scripts/quick.py": "print('quick')\n",
        "scripts/heavy.py": "import tinyslow\n"})
    env = {**os.environ, "SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true",
           "SKILLEXEC_ZYGOTE__IMPORT_TIMEOUT_S": "5"}
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "skillexec", "script", "modal", "scripts/quick.py",
                        "--skills-dir", str(tmp_path / "skills"),
                        "--data-dir", str(tmp_path / "data")],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "quick\n"
    assert time.monotonic() - started < 60


@pytest.mark.parametrize(("source", "imported"), [
    ("import os, json\nimport pypdf\n", {"os", "json", "pypdf"}),
    ("import os\nBASE = os.path.dirname(__file__)\nKEY = os.environ.get('K')\nimport pypdf\n",
     {"os", "pypdf"}),
    ("import os\nos.environ['MPLBACKEND'] = 'svg'\nimport matplotlib\n", {"os"}),
    ("import os\nos.environ.setdefault('A', 'b')\nimport heavy\n", {"os"}),
    ("from os import environ\nenviron['A'] = 'b'\nimport heavy\n", {"os"}),
    ("import os\nos.putenv('A', 'b')\nimport heavy\n", {"os"}),
    ("import sys\nsys.path.insert(0, '/x')\nimport heavy\n", {"sys"}),
    ("from dotenv import load_dotenv\nload_dotenv()\nimport openai\n", {"dotenv"}),
    ("import os\nos.chdir('/')\nimport heavy\n", {"os"}),
    ("try:\n    import fast\nexcept ImportError:\n    fast = None\nimport heavy\n",
     {"fast", "heavy"}),
])
def test_imports_after_a_statement_that_configures_them_are_left_to_the_script(
        source: str, imported: set[str]) -> None:
    assert _top_imports(source)[0] == imported


def test_a_submodule_a_script_imports_is_imported_ahead(tmp_path: Path) -> None:
    """``from scipy.optimize import curve_fit`` and ``import matplotlib.pyplot``: the warm
    parent imported only ``scipy`` and ``matplotlib``, so every call imported the heavy
    part itself (5.5-6.5 s a call against 3 s plainly, matplotlib's font list rebuilt in
    each call's fresh HOME). The submodules written are imported ahead too."""
    need_sandbox()
    links = tmp_path / "wheels"
    make_wheel(links, "tinypkg", "1.0.0", "", module="tinypkg",
               submodules={"heavy": "import os\nPID = os.getpid()\n"})
    folder = tmp_path / "skills" / "fits"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: fits\ndescription: F.\n---\nRun it.\n")
    (folder / "requirements.txt").write_text("tinypkg==1.0.0\n")
    (folder / "scripts" / "fit.py").write_text(
        "import os\nfrom tinypkg.heavy import PID\nprint('ahead' if PID != os.getpid() "
        "else 'in the call')\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                       environments={"find_links": [str(links)], "no_index": True})

    async def go() -> str:
        async with SkillExecutionEngine(config=cfg) as e:
            r = await e.run_script("fits", "scripts/fit.py")
            assert r.ok, r.error
            return str(r.output["stdout"])
    assert arun(go()) == "ahead\n"


def test_a_packages_main_is_never_imported_ahead(tmp_path: Path) -> None:
    """``import unittest.__main__`` runs unittest as a program at import: the warm parent
    would have run it (and met its SystemExit) before any call."""
    from skillexec.scripts import preload_modules

    script = tmp_path / "a.py"
    script.write_text("import unittest.__main__\nimport json.decoder\n")
    assert preload_modules([script], set()) == ("json.decoder",)
