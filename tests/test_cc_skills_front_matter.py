"""Front matter of the cc-skills family, read for what it is (trialA fault 9).

rickydwilson-dcs/claude-skills' SKILL.md give ``dependencies: {scripts: [...],
references: [...], assets: [...]}``, the skill's own files: ``skills show`` warned that
``scripts`` had "an invalid version specifier ['dashboard_generator.py', ...]" (a package
named scripts). And ``compatibility: {python-version: 3.8+, platforms: [...]}`` was told
it "must be text of at most 500 characters", as if it were too long."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillexec.errors import ManifestError
from skillexec.skills.loader import load_skill
from tests.test_environments import cli

FRONT = """---
name: senior-pm
description: Senior PM toolkit. Use for planning.
dependencies:
  scripts: [dashboard_generator.py, risk_matrix.py]
  references:
    - pm-guide.md
  assets: []
compatibility:
  python-version: 3.8+
  platforms: [macos, linux, windows]
---
# Senior PM
Run `python scripts/dashboard_generator.py`.
"""


def cc_skill(root: Path, front: str = FRONT) -> Path:
    folder = root / "skills" / "senior-pm"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(front)
    (folder / "scripts" / "dashboard_generator.py").write_text("print('dash')\n")
    return folder


def test_own_files_are_no_packages_and_compatibility_is_said_to_be_text(
        tmp_path: Path) -> None:
    cc_skill(tmp_path)
    where = ("--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data"))
    r = cli("skills", "show", "senior-pm", "--json", *where, cwd=tmp_path, env={})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dependencies"] == [] and doc["environment"]["requirements"] == []
    said = " ".join(doc["warnings"])
    assert "version specifier" not in said and "'scripts'" not in said, said
    assert ("'compatibility' must be text, not a mapping: one sentence of at most 500 "
            "characters, such as 'python-version 3.8+; platforms macos, linux, windows'"
            in said), said
    assert "at most 500 characters" in said and "must be text of at most" not in said
    assert ("front matter key 'dependencies' lists the skill's own files (cc-skills' "
            "shape), not packages") in said
    r = cli("skills", "check", "senior-pm", *where, cwd=tmp_path, env={})
    assert r.returncode == 0 and "scripts" not in r.stdout.split("\n")[0], r.stdout


def test_strict_mode_names_the_mapping_not_the_length(tmp_path: Path) -> None:
    folder = cc_skill(tmp_path)
    with pytest.raises(ManifestError) as caught:
        load_skill(folder, strict=True)
    assert "'compatibility' must be text, not a mapping" in caught.value.message


def _with(deps: str) -> str:
    return FRONT.split("dependencies:")[0] + deps + "---\nbody\n"


def test_a_mapping_of_packages_is_still_read_as_packages(tmp_path: Path) -> None:
    """Only a mapping of the skill's folders to lists of files is its own files: a
    package named like a folder, with a version, is a package."""
    folder = cc_skill(tmp_path, _with("dependencies:\n  scripts: '>=1.0'\n"))
    assert [(d.name, d.specifier) for d in load_skill(folder).dependencies] == [
        ("scripts", ">=1.0")]


def test_files_beside_a_package_are_no_own_files_listing(tmp_path: Path) -> None:
    folder = cc_skill(tmp_path, _with("dependencies:\n  scripts: [a.py]\n  requests: "
                                      "'>=2'\n"))
    warnings = " ".join(load_skill(folder).warnings)
    assert "dependencies gives 'scripts' an invalid version specifier" in warnings, warnings
