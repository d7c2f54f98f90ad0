"""A serving command run where there is no skills folder says so.

``skillexec mcp --print-config`` run outside a project printed a config with no
``--skills-dir``: pasted into a host (which starts the server in a working directory of its
own) it served no skill, and nothing said why. ``skillexec mcp`` itself, and ``serve``,
started and answered the same way, silently. Each now says it on stderr, naming the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NOTE = ("skillexec: note: no skills folder (no --skills-dir, SKILLEXEC_SKILLS_DIR or "
        "./skills here): {serves} no skill; pass --skills-dir DIR\n")


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SKILLEXEC_SKILLS_DIR"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_print_config_without_a_skills_folder_says_it_would_serve_none(
        tmp_path: Path) -> None:
    p = _cli(tmp_path, "mcp", "--print-config")
    assert p.returncode == 0
    assert "--skills-dir" not in json.loads(p.stdout)["mcpServers"]["skillexec"]["args"]
    assert p.stderr == NOTE.format(serves="the server this starts serves")

    (tmp_path / "skills").mkdir()
    found = _cli(tmp_path, "mcp", "--print-config")
    assert (found.returncode, found.stderr) == (0, "")
    assert str(tmp_path / "skills") in json.loads(found.stdout)["mcpServers"]["skillexec"][
        "args"]


def test_the_stdio_server_without_a_skills_folder_says_it_serves_none(
        tmp_path: Path) -> None:
    p = _cli(tmp_path, "mcp", "--data-dir", str(tmp_path / "data"))  # stdin closed: it ends
    assert (p.returncode, p.stdout) == (0, "")
    assert p.stderr == NOTE.format(serves="it serves")


def test_serve_without_a_skills_folder_says_it_serves_none(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SKILLEXEC_SKILLS_DIR"}
    proc = subprocess.Popen([sys.executable, "-m", "skillexec", "serve", "--port", "0",
                             "--insecure-no-auth", "--data-dir", str(tmp_path / "data")],
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        said = [proc.stderr.readline() for _ in range(3)]  # said once it started
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert said[0].startswith("skillexec: serving http://127.0.0.1:"), said
    assert said[1].startswith("skillexec: WARNING: authentication is DISABLED"), said
    assert said[2] == NOTE.format(serves="it serves")


def test_run_and_script_without_a_skills_folder_say_where_skills_come_from(
        tmp_path: Path) -> None:
    """`skillexec run unit-convert` from another folder than the project's: "no skill
    'unit-convert'; no skills are loaded", and not why none were. Each now names the fix."""
    fix = ("no skills folder (no --skills-dir, SKILLEXEC_SKILLS_DIR or ./skills here): pass "
           "--skills-dir DIR")
    for args in (("run", "unit-convert", "-p", "value=1"), ("script", "pdf", "scripts/a.py")):
        p = _cli(tmp_path, *args, "--data-dir", str(tmp_path / "data"))
        assert p.returncode == 2, p.stderr
        assert p.stderr.startswith("skillexec: rejected: no skill ") and p.stderr.endswith(
            f"; {fix}\n"), p.stderr
        assert len(p.stderr.splitlines()) == 1
    (tmp_path / "skills").mkdir()
    p = _cli(tmp_path, "run", "unit-convert", "--data-dir", str(tmp_path / "data"))
    assert p.returncode == 2 and "no skills folder" not in p.stderr, p.stderr


def test_a_project_whose_skills_are_where_claude_code_keeps_them_is_told_so(
        tmp_path: Path) -> None:
    """A Claude Code project keeps its skills in ``.claude/skills``: run there, skillexec
    said "pass --skills-dir DIR" and left the user to guess which."""
    skill = tmp_path / ".claude" / "skills" / "hello"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: hello\ndescription: Says hi.\n---\nSay hi.\n")
    fix = ("no skills folder (no --skills-dir, SKILLEXEC_SKILLS_DIR or ./skills here): pass "
           "--skills-dir .claude/skills (its skills are there)")
    listed = _cli(tmp_path, "skills", "list")
    assert (listed.returncode, listed.stderr) == (2, f"skillexec: {fix}\n")
    ran = _cli(tmp_path, "script", "hello", "scripts/a.py", "--data-dir", str(tmp_path / "d"))
    assert ran.returncode == 2 and ran.stderr.endswith(f"; {fix}\n"), ran.stderr
    found = _cli(tmp_path, "skills", "list", "--skills-dir", ".claude/skills")
    assert found.returncode == 0 and "hello" in found.stdout, found.stderr


def test_print_config_names_only_the_engines_variables(tmp_path: Path) -> None:
    """A test's or a shell's own SKILLEXEC_* variable (SKILLEXEC_REQUIRE_SERVICES, which CI
    sets) is no setting of the server's: the note named it all the same."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")},
           "SKILLEXEC_REQUIRE_SERVICES": "1", "SKILLEXEC_LIMITS__MAX_PARAM_BYTES": "9000000"}
    p = subprocess.run([sys.executable, "-m", "skillexec", "mcp", "--print-config",
                        "--skills-dir", str(tmp_path)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert "SKILLEXEC_LIMITS__MAX_PARAM_BYTES" in p.stderr, p.stderr
    assert "SKILLEXEC_REQUIRE_SERVICES" not in p.stderr, p.stderr
