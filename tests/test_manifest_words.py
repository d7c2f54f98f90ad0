"""A manifest that is a JSON/YAML value other than an object is named in JSON's words:
``null`` was reported as Python's ``NoneType``, a list as ``list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillexec.errors import ManifestError
from skillexec.skills.loader import load_skill


@pytest.mark.parametrize(("name", "text", "says"), [
    ("skill.json", "null", "not null (an empty document)"),
    ("skill.json", "[1, 2]", "not a list"),
    ("skill.json", "42", "not a number"),
    ("skill.json", '"x"', "not text"),
    ("skill.yaml", "~\n", "not null (an empty document)"),
    ("skill.yaml", "- a\n- b\n", "not a list"),
    ("skill.yaml", "true\n", "not a boolean"),
])
def test_a_manifest_that_is_not_an_object_is_named_in_json_words(
        tmp_path: Path, name: str, text: str, says: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / name).write_text(text)
    with pytest.raises(ManifestError, match="must be an object of fields") as err:
        load_skill(folder)
    assert says in str(err.value), str(err.value)
    assert "NoneType" not in str(err.value)
