"""A key given twice in a manifest is refused, naming the key and the file (every reader
used to keep the last silently: a reviewer reading the first saw another skill)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec.errors import ManifestError
from skillexec.skills import load_skill
from skillexec.skills.loader import check_skill


def _folder(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "dup"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(("name", "text", "says"), [
    ("skill.json", '{"id": "a", "version": "1.0.0", "id": "b"}',
     "skill.json: the key 'id' is given twice in one object"),
    ("skill.json", '{"id": "a", "version": "1.0.0", "execution": {"timeout": 5, '
     '"timeout": 500}}', "skill.json: the key 'timeout' is given twice in one object"),
    ("skill.yaml", "id: a\nversion: 1.0.0\nexecution:\n  timeout: 5\n  timeout: 500\n",
     "skill.yaml: the key 'timeout' is given twice (lines 4 and 5)"),
    ("skill.yml", "id: a\nversion: 1.0.0\nid: b\n",
     "skill.yml: the key 'id' is given twice (lines 1 and 3)"),
    # The front matter's lines are the file's: it starts on line 2, after '---'.
    ("SKILL.md", "---\nname: dup\ndescription: one\ndescription: two\n---\nBody\n",
     "SKILL.md: the key 'description' is given twice (lines 3 and 4)"),
])
def test_a_key_given_twice_refuses_the_manifest_naming_key_and_file(
        tmp_path: Path, name: str, text: str, says: str) -> None:
    folder = _folder(tmp_path, name, text)
    with pytest.raises(ManifestError) as caught:
        load_skill(folder)
    assert says in caught.value.message
    assert caught.value.message.startswith(str(folder.resolve() / name))
    skill, problems = check_skill(folder)  # `skills validate` says the same
    assert skill is None and any(says in p for p in problems)


def test_yaml_merge_keys_and_the_same_key_in_other_mappings_are_not_duplicates(
        tmp_path: Path) -> None:
    folder = _folder(tmp_path, "skill.yaml", (
        "id: a\nversion: 1.0.0\nbase: &b {timeout: 1}\n"
        "execution:\n  <<: *b\n  timeout: 7\nother:\n  timeout: 9\n"))
    assert load_skill(folder).execution.timeout_s == 7.0


def test_a_yaml_syntax_error_in_skill_md_names_the_files_own_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "SKILL.md", "---\nname: dup\ndescription: x\n  bad: here\n---\n")
    with pytest.raises(ManifestError, match=r"invalid YAML at line 4 column 6: mapping"):
        load_skill(folder)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["id", "version", "name", "tags", "x"]), min_size=1,
                max_size=8))
def test_json_is_refused_exactly_when_a_key_repeats(tmp_path_factory: pytest.TempPathFactory,
                                                    keys: list[str]) -> None:
    base = {"id": "a", "version": "1.0.0"}
    pairs = [f'"{k}": {json.dumps(base.get(k, "v"))}' for k in keys]
    text = "{" + ", ".join(['"description": "d"', *pairs]) + "}"
    folder = _folder(tmp_path_factory.mktemp("p"), "skill.json", text)
    repeated = len(set(keys)) < len(keys)
    try:
        load_skill(folder)
        refused = False
    except ManifestError as exc:
        refused = "is given twice" in exc.message
    assert refused == repeated
