"""``skillexec skills install`` and ``skills check`` as a new user meets them: a mistyped
package must not break the skill for good, a blank one is not "nothing", the installer's
reason is whole, and a declared package is installed, not declared again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillexec.environments.installer import InstallSettings, install
from skillexec.errors import DependencyError
from tests.test_environments import MOD, PKG, USES, cli, skill_folder, wheels


def _setup(tmp_path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    links = wheels(tmp_path)
    env = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    return ("--skills-dir", str(tmp_path / "skills"), "--data-dir",
            str(tmp_path / "data")), env


def test_a_failed_install_of_added_packages_leaves_the_skill_as_it_was(
        tmp_path: Path) -> None:
    """The package was recorded before the install: every later ``skills install`` (and
    every call) retried it, and the skill stayed unavailable with no command to undo it."""
    where, env = _setup(tmp_path)
    skill_folder(tmp_path / "skills", "undeclared", files={"main.py": USES})
    r = cli("skills", "install", "undeclared", "skillexec-no-such-pkg", *where,
            cwd=tmp_path, env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("skillexec: skill 'undeclared': installing the package "
                               "'skillexec-no-such-pkg' failed (")
    assert r.stderr.endswith("; skillexec-no-such-pkg not added: the skill's packages are "
                             "as they were\n"), r.stderr
    extras = tmp_path / "data" / "envs" / "extras.json"
    assert not extras.exists() or json.loads(extras.read_text()) == {}  # (never written)
    r = cli("skills", "install", "undeclared", PKG, *where, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "data" / "envs" / "extras.json").read_text()) == {
        "undeclared": [PKG]}


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_package_is_refused_not_dropped(tmp_path: Path, blank: str) -> None:
    where, env = _setup(tmp_path)
    skill_folder(tmp_path / "skills", "s", files={"main.py": "def execute(d):\n  return 1\n"})
    r = cli("skills", "install", "s", blank, *where, cwd=tmp_path, env=env)
    # was: "environment none needed (already installed: nothing to install)", exit 0
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("skillexec: not a package requirement: ''"), r.stderr


def test_check_asks_to_install_what_is_declared_and_to_declare_only_the_rest(
        tmp_path: Path) -> None:
    where, env = _setup(tmp_path)
    skill_folder(tmp_path / "skills", "s", files={
        "main.py": USES, "extra.py": "import cv2\n", "requirements.txt": f"{PKG}\n"})
    r = cli("skills", "check", "s", *where, cwd=tmp_path, env=env)
    assert r.returncode == 2  # cv2
    lines = [" ".join(line.split()) for line in r.stdout.splitlines()]
    assert lines[0] == f"s: environment not installed ({PKG}, declared in requirements.txt)"
    assert lines[1] == "install it ahead of time: skillexec skills install s"
    # was "missing module ...": what it declares, its first call installs
    assert f"declared module {MOD} (package {PKG}), imported at main.py:1: not installed " \
        "yet" in lines
    # was: "declare them in requirements.txt, or: ... install s opencv-python tinypkg-envs"
    assert lines[-1] == ("declare them in requirements.txt, or: skillexec skills install s "
                         "opencv-python")


def test_the_installers_reason_is_whole_when_it_wraps_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")  # uv wraps its message at this width
    (tmp_path / "links").mkdir()
    with pytest.raises(DependencyError) as caught:
        install(("skillexec-no-such-pkg==1.0",), tmp_path / "site", skill_id="s",
                settings=InstallSettings(installer="uv", no_index=True,
                                         find_links=(str(tmp_path / "links"),)))
    assert caught.value.message.endswith("we can conclude that your requirements are "
                                         "unsatisfiable."), caught.value.message


def test_install_of_a_skill_that_declares_nothing_says_what_its_imports_need(
        tmp_path: Path) -> None:
    """cat-agent-skills: 'environment none needed (already installed: nothing to install)'
    while skills check listed the imports nothing provides."""
    where, env = _setup(tmp_path)
    skill_folder(tmp_path / "skills", "bare", files={"main.py": "import cv2\n"})
    r = cli("skills", "install", "bare", *where, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert " ".join(r.stdout.split()) == (
        "bare: declares no packages: nothing to install; its imports need opencv-python: "
        "skillexec skills install bare opencv-python")


def test_added_packages_are_one_entry_each_and_can_be_removed(tmp_path: Path) -> None:
    """extras.json kept 'aiohttp', 'AIOHTTP' and 'aiohttp>=3' side by side (each spelling a
    new environment), and nothing but an edit by hand removed one."""
    where, env = _setup(tmp_path)
    skill_folder(tmp_path / "skills", "adds", files={"main.py": USES})
    extras = tmp_path / "data" / "envs" / "extras.json"
    for spelled in (PKG, PKG.upper(), f"{PKG}>=1"):
        r = cli("skills", "install", "adds", spelled, *where, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
    assert json.loads(extras.read_text()) == {"adds": [f"{PKG}>=1"]}
    r = cli("skills", "install", "adds", "--remove", "numpy", *where, cwd=tmp_path, env=env)
    assert r.returncode == 2 and "numpy was not added for adds" in r.stderr, r.stderr
    r = cli("skills", "install", "adds", "--remove", PKG.replace("-", "_").upper(), *where,
            cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(extras.read_text()) == {}
