"""A SKILL.md whose prose value starts with what YAML reads as a block indicator or a tag
(``description: | Use when...``, ``description: ![](logo.png) ...``: 9,018 of the 9,022
YAML refusals in tomevault-io/skills-registry), or whose ``metadata`` holds an unquoted
``: `` (``author: github: Raishin``), loads in lenient mode as Claude Code reads it, the
key read as plain text with a warning naming its line; what a non-prose key accepts is not
widened. Real folders, the real loader and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec.errors import ManifestError
from skillexec.skills import load_skill
from skillexec.skills.front_matter import read_by_key
from tests.test_cli import cli


def _skill_md(root: Path, name: str, front: str, body: str = "# Title\n\nBody.\n") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    return folder


# trialA's four shapes, as tomevault has them.
SHAPES = {
    "block-inline": ("name: block-inline\ndescription: | Use when this capability is needed."
                     "\nmetadata:\n  author: someone\n"),
    "gt-inline": "name: gt-inline\ndescription: >- Fold this text. Use when needed.\n",
    "bang-desc": ("name: bang-desc\n"
                  "description: ![](http://x/y.png) Use when this capability is needed.\n"),
    "meta-colon": ("name: meta-colon\ndescription: A fine description.\nmetadata:\n"
                   "  author: github: Raishin\n  version: 0.1.0\n"),
}


@pytest.mark.parametrize(("name", "description", "line", "key", "why"), [
    # Claude Code retries the front matter with such a line quoted: the text as written.
    ("block-inline", "| Use when this capability is needed.", 3, "description",
     "a '|' starts a YAML block"),
    ("gt-inline", ">- Fold this text. Use when needed.", 3, "description",
     "a '>' starts a YAML block"),
    ("bang-desc", "![](http://x/y.png) Use when this capability is needed.", 3,
     "description", "YAML reads a leading '!' as a tag"),
    ("meta-colon", "A fine description.", 5, "metadata.author", "an unquoted ': '"),
])
def test_the_skill_loads_and_the_warning_names_the_line(
        tmp_path: Path, name: str, description: str, line: int, key: str, why: str) -> None:
    folder = _skill_md(tmp_path, name, SHAPES[name])
    skill = load_skill(folder)
    assert (skill.id, skill.description, skill.instructions) == (name, description,
                                                                 "# Title\n\nBody.")
    [said] = [w for w in skill.warnings if "not valid YAML" in w]
    assert said.startswith(f"SKILL.md: line {line}: {key!r} is not valid YAML ({why}"), said
    assert "read as plain text" in said
    with pytest.raises(ManifestError, match="invalid YAML"):
        load_skill(folder, strict=True)  # strict mode keeps the specification's rule


def test_metadata_keeps_its_other_entries(tmp_path: Path) -> None:
    skill = load_skill(_skill_md(tmp_path, "meta-colon", SHAPES["meta-colon"]))
    assert skill.manifest["metadata"] == {"author": "github: Raishin", "version": "0.1.0"}
    assert skill.version == "0.1.0"  # metadata.version, read as YAML, is still the version
    skill = load_skill(_skill_md(tmp_path, "block-inline", SHAPES["block-inline"]))
    assert skill.manifest["metadata"] == {"author": "someone"}


def test_list_and_validate_load_all_four(tmp_path: Path) -> None:
    for name, front in SHAPES.items():
        _skill_md(tmp_path / "skills", name, front)
    r = cli("skills", "validate", "skills", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    found = {f["id"]: f for f in json.loads(r.stdout)}
    assert set(found) == set(SHAPES) and all(f["ok"] for f in found.values()), found
    r = cli("skills", "list", "--skills-dir", "skills", "--json", cwd=tmp_path)
    assert r.returncode == 0 and "not loaded" not in r.stderr, r.stderr
    assert sorted(s["id"] for s in json.loads(r.stdout)) == sorted(SHAPES)


def test_other_prose_keys_and_text_after_the_indicator(tmp_path: Path) -> None:
    front = ("name: x\ndescription: |Use when asked.\n  Also when told.\n"
             "compatibility: >= Python 3.10\nwhen_to_use: ![badge](b.svg) first\n")
    skill = load_skill(_skill_md(tmp_path, "x", front))
    assert skill.description == "|Use when asked. Also when told."
    assert skill.manifest["compatibility"] == ">= Python 3.10"
    assert skill.manifest["when_to_use"] == "![badge](b.svg) first"
    assert [w.split(":")[1] for w in skill.warnings if "not valid YAML" in w] == [
        " line 3", " line 5", " line 6"], skill.warnings


@pytest.mark.parametrize(("front", "says"), [
    # A block's indicator alone: its text is on the lines below, and a mistake there is
    # no text to read.
    ("name: x\ndescription: |\n  Use when.\n bad indent\n", "invalid YAML"),
    ("name: x\ndescription: >- # folded\n  Use when.\n bad indent\n", "invalid YAML"),
    # Only prose keys: a non-prose key YAML refuses for a leading indicator or tag stays
    # refused...
    ("name: x\ndescription: d\nlicense: | MIT\n", "invalid YAML"),
    ("name: x\ndescription: d\nallowed-tools: ![](a.png) Read\n", "invalid YAML"),
    ("name: x\ndescription: d\nallowed-tools: | Read Write\n", "invalid YAML"),
    # ... and what decides what runs is read as YAML or not at all, in metadata too.
    ("name: x\ndescription: d\nentry_point: | main.py\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata:\n  entry_point: run.py: main\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata:\n  command: python3 run.py: go\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata:\n  entry_point: | run.py\n", "invalid YAML"),
    # metadata still refuses what it did: a key given twice, an entry indented by mistake,
    # a structure below an entry, an entry that is no key.
    ("name: x\ndescription: d\nmetadata:\n  a: b: c\n  a: d\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata:\n  a: b: c\n    bad: here\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata:\n  a: b: c\n b: d\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata:\n  a: b: c\n  - item\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata:\n\ta: b: c\n", "invalid YAML|tab"),
])
def test_what_is_still_refused(tmp_path: Path, front: str, says: str) -> None:
    with pytest.raises(ManifestError, match=says):
        load_skill(_skill_md(tmp_path, "x", front))


def test_a_skillexec_field_yaml_refuses_is_still_set_aside(tmp_path: Path) -> None:
    """permissions and metadata.version: set aside as before, never read as text."""
    front = ("name: x\ndescription: d\npermissions: | network\n"
             "metadata:\n  author: a: b\n  version: 1.0: beta\n")
    skill = load_skill(_skill_md(tmp_path, "x", front))
    assert skill.permissions == frozenset() and "permissions" not in skill.manifest
    assert skill.manifest["metadata"] == {"author": "a: b"}
    assert skill.version != "1.0: beta"
    assert any(w.startswith("SKILL.md: line 4: 'permissions' is not valid YAML")
               and "set aside" in w for w in skill.warnings), skill.warnings
    assert any(w.startswith("SKILL.md: line 7: 'metadata.version' is not valid YAML")
               and "set aside" in w for w in skill.warnings), skill.warnings


_PIECES = ["description: | Use when", "description: ![](a.png) x", "description: >- y",
           "metadata:", "  author: a: b", "  entry_point: run.py: main", "  version: 1: 2",
           "  k: v", "  k: w", "    deeper: x", "  - item", "\ta: b", "license: | MIT",
           "entry_point: | main.py", "compatibility: >= 3", "# note", "", "name: x",
           "  more text", "command: | run x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_key_by_key_never_fails_nor_reads_an_entry_from_text(lines: list[str]) -> None:
    """Untrusted text: read or refused (None), never an exception; an entry or a command
    YAML refused is never read, at the top or in metadata."""
    read = read_by_key("\n".join(lines))
    if read is None:
        return
    front, notes = read
    assert all(isinstance(n, str) and n.startswith("line ") for n in notes)
    assert "entry_point" not in front and "command" not in front
    meta = front.get("metadata")
    if isinstance(meta, dict):
        assert "entry_point" not in meta and meta.get("version") != "1: 2"
