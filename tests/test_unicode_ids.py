"""Skills named in any script (hermes-skills' 编程心法, 网络代理: Claude Code loads them; none
loaded here), but never an id that reads as another's (Latin mixed with look-alikes)."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.errors import ManifestError
from skillexec.mcp.names import tool_names
from skillexec.skills.loader import load_skill
from tests._isolation import need_sandbox
from tests.conftest import arun


def _skill(root: Path, folder: str, name: str | None = None) -> Path:
    path = root / "skills" / folder
    (path / "scripts").mkdir(parents=True)
    front = f"name: {name}\n" if name else ""
    (path / "SKILL.md").write_text(f"---\n{front}description: 规划.\n---\n运行脚本.\n",
                                   encoding="utf-8")
    (path / "scripts" / "hello.py").write_text("import sys\nprint('你好', *sys.argv[1:])\n",
                                               encoding="utf-8")
    os.chmod(root, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return path


def test_a_skill_named_in_chinese_loads_and_runs(tmp_path: Path) -> None:
    need_sandbox()
    _skill(tmp_path, "编程心法", name="编程心法")
    _skill(tmp_path, "网络代理")  # no name: the folder's

    async def go() -> list[str]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            assert {s.id for s in e.skills.list()} == {"编程心法", "网络代理"}
            out = []
            for sid in ("编程心法", "网络代理"):
                r = await e.run_script(sid, "scripts/hello.py", args=["世界"])
                assert r.ok, r.error
                out.append(r.output["stdout"])
            return out
    assert arun(go()) == ["你好 世界\n"] * 2
    p = subprocess.run([sys.executable, "-m", "skillexec", "script", "编程心法", "scripts/hello.py",
                        "x", "--skills-dir", str(tmp_path / "skills"),
                        "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, "你好 x\n"), p.stderr
    # MCP clients take [A-Za-z0-9_-] names only: each still gets one of its own.
    names = tool_names(["编程心法", "网络代理"])
    assert len(set(names.values())) == 2
    assert all(n.replace("_", "").isalnum() and n.isascii() for n in names.values()), names


def test_an_id_is_one_spelling_of_its_letters(tmp_path: Path) -> None:
    """A folder named on macOS (decomposed: e + combining accent) is the id typed here."""
    folder = _skill(tmp_path, unicodedata.normalize("NFD", "résumé"))
    assert load_skill(folder).id == "résumé" == unicodedata.normalize("NFC", "résumé")


@pytest.mark.parametrize("name", ["\u0440df", "pdf\u03b1", "\u0440\u0430ypal-tool"])
def test_an_id_mixing_latin_with_look_alikes_is_refused(tmp_path: Path, name: str) -> None:
    folder = _skill(tmp_path, "x", name=name)
    with pytest.raises(ManifestError, match="mixes Latin letters with"):
        load_skill(folder)


@pytest.mark.parametrize("name", ["excel-助手", "Ελληνικά", "данные"])
def test_an_id_in_one_script_or_latin_with_cjk_is_fine(tmp_path: Path, name: str) -> None:
    assert load_skill(_skill(tmp_path, "x", name=name)).id == name


@pytest.mark.parametrize("name", ["हिंदी-सहायक", "ภาษาไทย", "ক্যালকুলেটর", "x-हिंदी", "தமிழ்"])
def test_an_id_written_with_vowel_signs_loads(tmp_path: Path, name: str) -> None:
    """Hindi, Thai, Bengali and Tamil words need their scripts' combining marks, which
    ``\\w`` does not take: such a skill was refused as a bad id."""
    assert load_skill(_skill(tmp_path, "x", name=name)).id == name


@pytest.mark.parametrize("name", ["pdf\u0e31", "a\u093fb"])
def test_a_mark_on_a_letter_of_another_script_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ManifestError, match=r"mark .* on .* a letter of another script"):
        load_skill(_skill(tmp_path, "x", name=name))
