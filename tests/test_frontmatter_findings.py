"""SKILL.md front matter that Claude Code and OpenClaw load, read leniently key by key;
``skills validate`` of a marketplace with Claude Code's ``.claude/``; ``allowed-tools`` as
a list. Real folders, the real loader and the real CLI."""

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


def _skill_md(root: Path, name: str, front: str, body: str = "Body.\n") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\n{front}---\n{body}", encoding="utf-8")
    return folder


# The three shapes of trialB's M5, each as a repository had it.
HINT = ("name: hint\ndescription: Review a PR\n"
        "argument-hint: [pr-number] [priority] [assignee]\n")  # Claude Code's documented form
EMOJI = ('name: astro\ndescription: "Astronomy. Use when: coordinates."\n'  # ScienceClaw
         'metadata: { "openclaw": { "emoji": "\\uD83D\\uDD2D", "requires": { "bins": '
         '["python3"] } } }\n')
TRIGGER = ("name: deob\n"  # ai-reverse-toolkit's ast-deobfuscate
           "description: \u7528 Babel AST \u8fd8\u539f JS \u4ee3\u7801\u3002\n"
           "  TRIGGER when: \u7528\u6237\u8981\u6c42\u89e3\u6df7\u6dc6, deobfuscate.\n"
           "  DO NOT TRIGGER when: \u4ee3\u7801\u53ea\u662f minified.\n"
           "argument-hint: [file or URL]\n")


def test_an_argument_hint_of_brackets_is_read_as_text(tmp_path: Path) -> None:
    skill = load_skill(_skill_md(tmp_path, "hint", HINT))
    assert skill.manifest["argument-hint"] == "[pr-number] [priority] [assignee]"
    assert skill.description == "Review a PR" and skill.instructions == "Body."
    [said] = [w for w in skill.warnings if "argument-hint" in w]
    assert said.startswith("SKILL.md: line 4: 'argument-hint' is not valid YAML"), said
    assert "read as plain text" in said and "quote" in said
    with pytest.raises(ManifestError, match="invalid YAML at line 4"):
        load_skill(tmp_path / "hint", strict=True)  # strict refuses what it refused


def test_metadata_json_with_surrogate_pair_escapes_is_decoded_as_json(tmp_path: Path) -> None:
    skill = load_skill(_skill_md(tmp_path, "astro", EMOJI))
    assert skill.manifest["metadata"] == {
        "openclaw": {"emoji": "\N{TELESCOPE}", "requires": {"bins": ["python3"]}}}
    assert skill.description == "Astronomy. Use when: coordinates."
    [said] = [w for w in skill.warnings if "line 4" in w]
    assert "'metadata' is not valid YAML" in said and "read as JSON" in said, said
    with pytest.raises(ManifestError, match="invalid Unicode character escape"):
        load_skill(tmp_path / "astro", strict=True)


def test_metadata_json_spread_over_lines_is_decoded_too(tmp_path: Path) -> None:
    front = ('name: astro\ndescription: d\nmetadata:\n  {\n    "openclaw":\n'
             '      { "emoji": "\\uD83E\\uDDEC" }\n  }\n')
    skill = load_skill(_skill_md(tmp_path, "astro", front))
    assert skill.manifest["metadata"] == {"openclaw": {"emoji": "\N{DNA DOUBLE HELIX}"}}


def test_a_description_continued_with_trigger_when_lines_is_read_as_text(
        tmp_path: Path) -> None:
    skill = load_skill(_skill_md(tmp_path, "deob", TRIGGER))
    assert skill.description == (
        "\u7528 Babel AST \u8fd8\u539f JS \u4ee3\u7801\u3002 TRIGGER when: "
        "\u7528\u6237\u8981\u6c42\u89e3\u6df7\u6dc6, deobfuscate. DO NOT TRIGGER when: "
        "\u4ee3\u7801\u53ea\u662f minified.")
    assert skill.manifest["argument-hint"] == ["file or URL"]  # valid YAML: as YAML reads it
    assert any("line 3: 'description' is not valid YAML" in w for w in skill.warnings)
    with pytest.raises(ManifestError, match="mapping values are not allowed"):
        load_skill(tmp_path / "deob", strict=True)


def test_validate_loads_the_three_shapes_and_names_each_key(tmp_path: Path) -> None:
    for name, front in (("hint", HINT), ("astro", EMOJI), ("deob", TRIGGER)):
        _skill_md(tmp_path / "skills", name, front)
    r = cli("skills", "validate", "skills", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    found = {f["id"]: f for f in json.loads(r.stdout)}
    assert set(found) == {"hint", "astro", "deob"} and all(f["ok"] for f in found.values())
    for sid, key in (("hint", "'argument-hint'"), ("astro", "'metadata'"),
                     ("deob", "'description'")):
        assert any(key in w and "not valid YAML" in w for w in found[sid]["warnings"]), sid


@pytest.mark.parametrize(("front", "says"), [
    # A key indented under a value is a mapping meant (or a key misplaced), not text.
    ("name: x\ndescription: x\n  bad: here\n", "line 4 column 6: mapping values"),
    ("name: x\ndescription: Does X.\n  TRIGGER when: asked.\n  version: 2\n",
     "mapping values"),
    ("name: x\ndescription: Does X.\n  Use it for:\n    tags: a\n", "mapping values"),
    # What decides what runs is never guessed at, nor set aside.
    ("name: x\ndescription: d\nentry_point: [main.py] run\n", "invalid YAML"),
    ("name: x\ndescription: d\ncommand: [python3, x.py] --fast\n", "invalid YAML"),
    ("name: x\ndescription: d\nmetadata: {entry_point: run.py} extra\n", "invalid YAML"),
    # A list left open is a mistake, not text in brackets.
    ("name: x\ndescription: [this list is never closed\n", "invalid YAML"),
    # Only prose keys take continuation lines with ': ' in them.
    ("name: x\ndescription: d\nlicense: MIT\n  see the file: LICENSE\n", "mapping values"),
    # A key given twice stays refused, wherever it is.
    ("name: x\ndescription: d\nargument-hint: [a] [b]\nmetadata:\n  k: 1\n  k: 2\n",
     "invalid YAML"),
    ('name: x\ndescription: d\nmetadata: {"e": "\\uD83D\\uDD2D", "e": "x"}\n',
     "invalid YAML"),
    ("name: x\ndescription: d\nargument-hint: [a] [b]\nargument-hint: c\n", "invalid YAML"),
    # JSON's lone surrogate is no text (no JSON encoder or terminal takes it).
    ('name: x\ndescription: d\nmetadata: {"e": "\\uD83D"}\n', "not valid Unicode"),
    # Other structures are not guessed at.
    ("name: x\ndescription: d\nmetadata:\n  [a] b\n", "invalid YAML"),
    ("name: x\ndescription: \"quoted\" then more\n", "invalid YAML"),
])
def test_what_is_still_refused(tmp_path: Path, front: str, says: str) -> None:
    with pytest.raises(ManifestError, match=says):
        load_skill(_skill_md(tmp_path, "x", front))


def test_a_skillexec_field_yaml_refuses_is_set_aside_not_read_as_text(tmp_path: Path) -> None:
    """davila7's Orchestra skills: 'dependencies: [ray[data], pyarrow]' read as text would
    be no package list; set aside (as the loader sets aside a field it cannot read), the
    skill's instructions load."""
    folder = _skill_md(tmp_path, "ray", "name: ray\ndescription: Ray Data.\nversion: 1.0.0\n"
                       "dependencies: [ray[data], pyarrow, pandas]\n"
                       "permissions: [network] [filesystem]\n")
    skill = load_skill(folder)
    assert (skill.description, skill.version, skill.dependencies) == ("Ray Data.", "1.0.0", ())
    assert skill.permissions == frozenset()
    assert "dependencies" not in skill.manifest and "permissions" not in skill.manifest
    for line, key in ((5, "dependencies"), (6, "permissions")):
        assert any(w.startswith(f"SKILL.md: line {line}: {key!r} is not valid YAML")
                   and "set aside" in w for w in skill.warnings), skill.warnings
    with pytest.raises(ManifestError, match="invalid YAML at line 5"):
        load_skill(folder, strict=True)


def test_a_nested_mapping_under_a_prose_value_keeps_the_files_own_line(
        tmp_path: Path) -> None:
    folder = _skill_md(tmp_path, "x", "name: x\ndescription: x\n  bad: here\n")
    with pytest.raises(ManifestError, match=r"invalid YAML at line 4 column 6: mapping"):
        load_skill(folder)


def _marketplace(root: Path) -> Path:
    """oaustegard/claude-skills' shape: skills at the top, and Claude Code's project config
    (settings, hooks, its own skills) in .claude/."""
    top = root / "market"
    _skill_md(top, "csv-tool", "name: csv-tool\ndescription: Reads CSV files.\n")
    _skill_md(top, "img-tool", "name: img-tool\ndescription: Resizes images.\n")
    claude = top / ".claude"
    (claude / "hooks").mkdir(parents=True)
    (claude / "settings.json").write_text('{"permissions": {"allow": []}}')
    _skill_md(claude / "skills", "helper", "name: helper\ndescription: Helps.\n")
    return top


def test_validate_notes_a_hidden_folder_and_exits_0_when_every_skill_is_valid(
        tmp_path: Path) -> None:
    top = _marketplace(tmp_path)
    r = cli("skills", "validate", str(top), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "invalid" not in r.stdout and r.stdout.count("ok ") == 2, r.stdout
    [note] = [ln for ln in r.stdout.splitlines() if ln.startswith("note ")]
    assert f"{top / '.claude'}: folders whose names start with '.' are not read" in note
    assert "holds 1 skill folder: pass it as --skills-dir" in note
    r = cli("skills", "validate", str(top), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(f["id"] for f in json.loads(r.stdout)) == ["csv-tool", "img-tool"]
    assert "note: " in r.stderr and ".claude" in r.stderr  # stdout stays the JSON
    # An invalid skill beside it is still an error, and the note no error.
    _skill_md(top, "broken", "name: broken\ndescription: [unclosed\n")
    r = cli("skills", "validate", str(top), "--json", cwd=tmp_path)
    assert r.returncode == 2
    assert [f["path"] for f in json.loads(r.stdout) if not f["ok"]] == [str(top / "broken")]


def test_validate_of_a_folder_whose_skills_are_all_hidden_says_where_they_are(
        tmp_path: Path) -> None:
    top = tmp_path / "project"
    _skill_md(top / ".claude" / "skills", "helper", "name: helper\ndescription: Helps.\n")
    r = cli("skills", "validate", str(top), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "pass it as --skills-dir" in r.stderr and ".claude" in r.stderr, r.stderr


def test_allowed_tools_as_a_yaml_list_is_accepted_silently(tmp_path: Path) -> None:
    """Claude Code reads the list form (all 27 of skills-curated's skills use it)."""
    folder = _skill_md(tmp_path, "x", "name: x\ndescription: d\n"
                       "allowed-tools:\n  - Read\n  - Bash(python3:*)\n")
    skill = load_skill(folder)
    assert not [w for w in skill.warnings if "allowed-tools" in w], skill.warnings
    assert skill.manifest["allowed_tools"] == ["Read", "Bash(python3:*)"]
    r = cli("skills", "validate", str(folder), cwd=tmp_path)
    assert r.returncode == 0 and "allowed-tools" not in r.stdout, r.stdout
    with pytest.raises(ManifestError, match="'allowed-tools' must be a space-separated"):
        load_skill(folder, strict=True)  # the specification's form, in strict mode


@pytest.mark.parametrize("tools", ["[Read, 3]", "[Read, [Bash]]", "{Read: yes}", "7"])
def test_allowed_tools_that_is_not_tool_names_still_warns(tmp_path: Path, tools: str) -> None:
    skill = load_skill(_skill_md(tmp_path, "x", f"name: x\ndescription: d\n"
                                 f"allowed-tools: {tools}\n"))
    assert any("'allowed-tools' must be a space-separated string or a list of tool names"
               in w for w in skill.warnings), skill.warnings


_PIECES = ["description: a: b", "  TRIGGER when: x", "  bad: here", "argument-hint: [a] [b]",
           'metadata: {"e": "\\uD83D\\uDD2D"}', 'metadata: {"e": "\\uD83D"}', "  {", "  }",
           "dependencies: [x[y], z]", "entry_point: [m] n", "- item", "# note", "", "name: x",
           "description: **bold**", "  more text", "tags: [a", "k: {a: 1, a: 2}", "  - c",
           "hooks: [[[[", "  ]]]]", "v: 'open", "x: &a [*a]", "y: !!python/object:os.system"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_key_by_key_never_fails_on_odd_front_matter(lines: list[str]) -> None:
    """Untrusted text: read or refused (None), never an exception; a key given twice is
    never read."""
    text = "\n".join(lines)
    read = read_by_key(text)
    if read is None:
        return
    front, notes = read
    assert all(isinstance(n, str) and n.startswith("line ") for n in notes)
    keys = [ln.split(":", 1)[0] for ln in lines if ln[:1] not in ("", " ", "#", "-")]
    assert len(keys) == len(set(keys))  # a key given twice is never read
    assert set(front) <= set(keys)
