"""Artifact names keep the folders a skill wrote them in (out/a.txt and b/a.txt are two
names), safely: no ``..``, no absolute path, nothing reached through a link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillContext, SkillExecutionEngine, skill
from skillexec.task import TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import FIXTURES, arun

pytestmark = pytest.mark.timeout(120)


def test_a_scripts_files_keep_their_relative_paths(tmp_path: Path) -> None:
    need_sandbox()

    async def go() -> tuple[dict[str, bytes], list[str]]:
        async with SkillExecutionEngine(skills_dir=FIXTURES / "scripts",
                                        data_dir=tmp_path / "data") as e:
            r = await e.run_script("pdf-forms", "scripts/nested_outputs.py")
            assert r.status is TaskStatus.SUCCEEDED, r.error
            return ({a.name: await e.artifacts.read(a.id) for a in r.artifacts},
                    [a.name for a in r.artifacts])
    by_name, names = arun(go())
    assert names == ["b/a.txt", "out/a.txt"]  # the links and what they reach are not kept
    assert by_name == {"b/a.txt": b"from b", "out/a.txt": b"from out"}


@skill(id="saver")
def saver(context: SkillContext) -> int:
    for name in ("out/a.txt", "b/a.txt", "../../etc/passwd", "/abs/path/y.txt",
                 "x/../../z.txt", "./c/./d.txt", "e\\f.txt", "..", "dir/\x1b[2Jclear.txt"):
        context.save_artifact(name, name)
    return 0


def test_a_skills_saved_names_keep_folders_but_never_climb_or_start_at_root(
        tmp_path: Path) -> None:
    async def go() -> list[Any]:
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e:
            r = await e.execute(saver)
            assert r.ok, r.error
            return [a.name for a in r.artifacts]
    assert arun(go()) == ["out/a.txt", "b/a.txt", "passwd", "y.txt", "z.txt", "c/d.txt",
                          "e/f.txt", "artifact", "dir/_[2Jclear.txt"]


def test_a_download_names_a_nested_artifact_by_its_whole_path(tmp_path: Path) -> None:
    """A browser saves one file name: out/a.txt and b/a.txt download as out_a.txt and
    b_a.txt, not both as a.txt (nor as a path)."""
    from tests._http import running

    async def add() -> None:
        srv.engine.register(saver)

    with running(tmp_path) as srv:
        srv.call(add())
        with srv.client(srv.key("admin")) as c:
            r = c.post("/api/skills/saver/execute", json={"parameters": {}})
            assert r.status_code == 200, r.text
            arts = r.json()["data"]["artifacts"]
            got = [c.get(f"/api/artifacts/{a['id']}").headers["content-disposition"]
                   for a in arts[:2]]
    assert [a["name"] for a in arts[:2]] == ["out/a.txt", "b/a.txt"]
    assert got == ['attachment; filename="out_a.txt"', 'attachment; filename="b_a.txt"']


def test_an_unpacked_office_files_parts_keep_their_names(tmp_path: Path) -> None:
    """Py Copilot's ``docx/ooxml/scripts/unpack.py``: every Office file holds
    ``[Content_Types].xml`` and ``_rels/.rels``; they came back as ``_Content_Types_.xml``
    and ``_rels/rels``, names a repacked file cannot use."""
    need_sandbox()
    folder = tmp_path / "skills" / "office"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: office\ndescription: Unpack. Use it.\n---\n")
    (folder / "scripts" / "unpack.py").write_text(
        "import pathlib\n"
        "for name in ('un/[Content_Types].xml', 'un/_rels/.rels', 'un/word/document.xml'):\n"
        "    p = pathlib.Path(name); p.parent.mkdir(parents=True, exist_ok=True)\n"
        "    p.write_text(name)\n")

    async def go() -> list[str]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "data") as e:
            r = await e.run_script("office", "scripts/unpack.py")
            assert r.status is TaskStatus.SUCCEEDED, r.error
            return sorted(a.name for a in r.artifacts)
    assert arun(go()) == ["un/[Content_Types].xml", "un/_rels/.rels", "un/word/document.xml"]
