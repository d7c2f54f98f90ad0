"""A Node skill's npm packages in ``skills list``, ``show``, ``check`` and ``install``
(trialA fault 8).

camoa's generating-infographics has a package.json listing six npm packages and no
node_modules: ``skills list`` said "none needed", ``skills check`` exited 0 with
"environment none needed", and the first call failed ``missing_module``. Each now says the
packages are declared and not installed, and where to run npm install (the run-time
error's words); check exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_environments import cli

PACKAGE_JSON = json.dumps({"name": "infographic-generator", "main": "generate.js",
                           "dependencies": {"@antv/infographic": "^0.1.2",
                                            "jsdom": "^25.0.1"},
                           "devDependencies": {"eslint": "^9"}})


def node_skill(root: Path, *, installed: tuple[str, ...] = ()) -> Path:
    folder = root / "skills" / "infographic"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: infographic\ndescription: Make "
                                     "infographics.\n---\nRun `node generate.js`.\n")
    (folder / "generate.js").write_text('const { JSDOM } = require("jsdom");\n')
    (folder / "package.json").write_text(PACKAGE_JSON)
    for name in installed:
        (folder / "node_modules" / name).mkdir(parents=True)
        (folder / "node_modules" / name / "package.json").write_text(f'{{"name": "{name}"}}')
    return folder


def _where(tmp_path: Path) -> tuple[str, ...]:
    return "--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")


def test_list_show_and_check_say_the_npm_packages_are_not_installed(tmp_path: Path) -> None:
    folder = node_skill(tmp_path)
    advice = (f"@antv/infographic, jsdom, which package.json lists but nobody installed: "
              f"run npm install in {folder}")
    r = cli("skills", "list", *_where(tmp_path), cwd=tmp_path, env={})
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("infographic "))
    assert "npm not installed" in row and "none needed" not in row, row
    assert f"npm not installed infographic: {advice}" in r.stdout, r.stdout
    r = cli("skills", "list", "--json", *_where(tmp_path), cwd=tmp_path, env={})
    npm = json.loads(r.stdout)[0]["environment"]["npm"]
    assert npm == {"file": "package.json", "folder": str(folder), "installed": False,
                   "declared": {"@antv/infographic": "^0.1.2", "jsdom": "^25.0.1"},
                   "missing": ["@antv/infographic", "jsdom"]}
    r = cli("skills", "show", "infographic", *_where(tmp_path), cwd=tmp_path, env={})
    env_line = next(line for line in r.stdout.splitlines() if line.startswith("environment"))
    assert f"npm packages not installed: {advice}" in env_line, r.stdout
    r = cli("skills", "check", "infographic", *_where(tmp_path), cwd=tmp_path, env={})
    assert r.returncode == 2, r.stdout  # not ready: its first call would fail
    assert "infographic: environment npm packages not installed" in r.stdout, r.stdout
    assert f"missing npm packages {advice}" in r.stdout
    r = cli("skills", "check", "--json", "infographic", *_where(tmp_path), cwd=tmp_path,
            env={})
    assert r.returncode == 2 and json.loads(r.stdout)["ok"] is False
    # the whole folder: shown, counted, exit 2
    r = cli("skills", "check", *_where(tmp_path), cwd=tmp_path, env={})
    assert r.returncode == 2 and "1 have npm packages not installed" in r.stdout, r.stdout
    r = cli("skills", "install", "infographic", *_where(tmp_path), cwd=tmp_path, env={})
    assert r.returncode == 0, r.stderr
    assert "declares no Python packages: nothing to install" in r.stdout
    assert f"npm packages not installed: {advice}" in r.stdout, r.stdout


def test_installed_npm_packages_are_said_installed_and_check_passes(tmp_path: Path) -> None:
    # (eslint, a devDependency, is its author's tool: never asked for)
    node_skill(tmp_path, installed=("@antv/infographic", "jsdom"))
    r = cli("skills", "check", "infographic", *_where(tmp_path), cwd=tmp_path, env={})
    assert r.returncode == 0, r.stdout
    assert "infographic: environment npm packages installed" in r.stdout, r.stdout
    r = cli("skills", "list", *_where(tmp_path), cwd=tmp_path, env={})
    row = next(line for line in r.stdout.splitlines() if line.startswith("infographic "))
    assert "npm installed" in row, row


def test_node_modules_above_the_skill_count_as_installed(tmp_path: Path) -> None:
    """Node looks for node_modules from the script's folder up (a monorepo's top)."""
    node_skill(tmp_path)
    for name in ("@antv/infographic", "jsdom"):
        (tmp_path / "node_modules" / name).mkdir(parents=True)
        (tmp_path / "node_modules" / name / "package.json").write_text("{}")
    r = cli("skills", "check", "infographic", *_where(tmp_path), cwd=tmp_path, env={})
    assert r.returncode == 0, r.stdout
