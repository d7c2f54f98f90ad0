"""``skills check`` before a skill's environment is installed (trial B, finding 6): what the
skill declares is "declared, not installed yet", not "missing"; what a declared package
brings (numpy, with pandas) is not the author's to declare; neither fails the check."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests._wheels import make_wheel
from tests.test_environments import cli

pytestmark = pytest.mark.timeout(180)

FIT = "import numpy as np\nimport pandas as pd\nfrom scipy.optimize import curve_fit\n"


def _science_skill(tmp_path: Path) -> tuple[str, ...]:
    """sci-fixture's shape: pandas and scipy declared, numpy imported too."""
    folder = tmp_path / "skills" / "fit"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: fit\ndescription: Fit a curve.\n---\n"
                                     "Run scripts/fit.py.\n")
    (folder / "scripts" / "fit.py").write_text(FIT)
    (folder / "requirements.txt").write_text("pandas\nscipy\n")
    return "--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")


def _offline(links: Path) -> dict[str, str]:
    return {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
            "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}


def _one_line(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


@pytest.fixture(autouse=True)
def _pandas_not_here() -> None:
    if importlib.util.find_spec("pandas") is not None:  # then it resolves: nothing to say
        pytest.skip("pandas is installed in skillexec's own environment")


def test_declared_packages_are_not_installed_yet_not_missing(tmp_path: Path) -> None:
    """Was: "missing module pandas", "declare them in requirements.txt, or: skillexec skills
    install fit numpy", exit 2, for a skill that declares what it imports."""
    where = _science_skill(tmp_path)
    r = cli("skills", "check", "fit", *where, cwd=tmp_path, env={})
    assert r.returncode == 0, r.stdout + r.stderr
    lines = _one_line(r.stdout)
    assert lines[:2] == ["fit: environment not installed (pandas, scipy, declared in "
                         "requirements.txt)",
                         "install it ahead of time: skillexec skills install fit"]
    assert "declared module pandas (package pandas), imported at scripts/fit.py:2: not " \
        "installed yet" in lines, lines
    assert "declared module scipy (package scipy), imported at scripts/fit.py:3: not " \
        "installed yet" in lines, lines
    numpy = next(line for line in lines if " numpy " in line)
    assert numpy.startswith("indirect module numpy (package numpy)"), numpy
    assert numpy.endswith(": a package it declares (pandas, scipy) likely brings it once "
                          "installed"), numpy
    assert "missing" not in r.stdout and "declare them" not in r.stdout, r.stdout
    doc = json.loads(cli("skills", "check", "fit", "--json", *where, cwd=tmp_path,
                         env={}).stdout)
    assert doc["ok"] is True and doc["borrows"] is False, doc
    found = {m["module"]: (m["declared"], m["likely_from"]) for m in doc["missing"]}
    assert found == {"numpy": (False, ["pandas", "scipy"]), "pandas": (True, []),
                     "scipy": (True, [])}
    whole = cli("skills", "check", *where, cwd=tmp_path, env={})
    assert whole.returncode == 0, whole.stdout
    assert _one_line(whole.stdout)[-1] == (
        "1 skills checked: 0 resolve every import, 0 miss modules, 1 import what their "
        "declared packages provide once installed")


def test_an_undeclared_package_nothing_declared_brings_is_still_asked_for(
        tmp_path: Path) -> None:
    where = _science_skill(tmp_path)
    (tmp_path / "skills" / "fit" / "scripts" / "img.py").write_text("import cv2\n")
    r = cli("skills", "check", "fit", *where, cwd=tmp_path, env={})
    assert r.returncode == 2, r.stdout
    lines = _one_line(r.stdout)
    assert "missing module cv2 (package opencv-python), imported at scripts/img.py:1" in lines
    assert lines[-1] == ("declare them in requirements.txt, or: skillexec skills install fit "
                         "opencv-python"), lines


def test_after_the_install_every_import_resolves(tmp_path: Path) -> None:
    """What check called "indirect" is what the install brought: check then says so."""
    links = tmp_path / "wheels"
    make_wheel(links, "numpy", "99.0", "VALUE = 1\n")
    make_wheel(links, "pandas", "99.0", "VALUE = 2\n", requires=("numpy",))
    make_wheel(links, "scipy", "99.0", "VALUE = 3\n", requires=("numpy",))
    where = _science_skill(tmp_path)
    env = _offline(links)
    assert cli("skills", "install", "fit", *where, cwd=tmp_path, env=env).returncode == 0
    r = cli("skills", "check", "fit", *where, cwd=tmp_path, env=env)
    assert r.returncode == 0 and "every import resolves" in r.stdout, r.stdout


def test_a_failed_install_leaves_the_declared_modules_missing(tmp_path: Path) -> None:
    """The first call does not install them: the check fails, and says why."""
    where = _science_skill(tmp_path)
    env = _offline(tmp_path / "no-wheels")
    (tmp_path / "no-wheels").mkdir()
    assert cli("skills", "install", "fit", *where, cwd=tmp_path, env=env).returncode != 0
    r = cli("skills", "check", "fit", *where, cwd=tmp_path, env=env)
    assert r.returncode == 2, r.stdout
    lines = _one_line(r.stdout)
    assert lines[0].startswith("fit: environment failed"), lines
    assert "declared module pandas (package pandas), imported at scripts/fit.py:2: not " \
        "installed: its environment failed (above)" in lines, lines
    assert "declare them" not in r.stdout
