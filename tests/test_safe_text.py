"""Skill-controlled text on the operator's terminal (issue 11, item 7; DESIGN §4.2): control
characters are escaped wherever the CLI prints what a skill said; ``--json`` stays exact."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skillexec.artifacts import safe_mime
from skillexec.cli.safe_text import cell, json_text, safe_block, safe_line
from tests.conftest import ROOT

FORGED = "\r\x1b[1A\x1b[2K\x1b[32m✓ succeeded\x1b[0m"
NASTY = ("result\x1b[2J\x1b]0;pwned\x07" + FORGED + "\u202eevil\u2066\x9b31m\x7f"
         + "\x1b[31m[green]markup[/green]")
FORGER = f"""
def execute(input_data, context):
    nasty = {NASTY!r}
    mode = input_data.get("mode")
    if mode == "fail":
        raise RuntimeError("boom\\n" + {FORGED!r} + " \\u202eevil")
    context.save_artifact("a\\x1b[31m\\u202e.txt", b"data\\x1b[2J", "text/plain\\x1b[0m")
    if mode == "dict":
        return {{"text": nasty}}
    return nasty
"""
# Nothing of this may reach the terminal raw.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture()
def skills(tmp_path: Path) -> Path:
    d = tmp_path / "skills" / "forger"
    d.mkdir(parents=True)
    (d / "main.py").write_text(textwrap.dedent(FORGER))
    (d / "skill.json").write_text(json.dumps({
        "id": "forger", "version": "1.0.0", "entry_point": "main:execute",
        "description": "forges \x1b[32m status lines",
        "parameters_schema": {"mode": {"type": "string", "default": "ok"}},
        "execution": {"isolation": "inline", "max_retries": 0}}))
    return tmp_path / "skills"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200",
           "SKILLEXEC_TRUSTED_SKILLS": '["forger"]'}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _on_a_terminal(args: list[str], *, cwd: Path) -> tuple[str, str]:
    """The command's stdout and stderr, each a terminal of its own (a pty)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    (out, out_tty), (err, err_tty) = pty.openpty(), pty.openpty()
    try:
        try:
            subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                           stdout=out_tty, stderr=err_tty, timeout=60, check=False)
        finally:
            os.close(out_tty)
            os.close(err_tty)
        got = []
        for leader in (out, err):
            data = b""
            with contextlib.suppress(OSError):  # EIO: all read, the other end closed
                while chunk := os.read(leader, 65536):
                    data += chunk
            got.append(data.decode().replace("\r\n", "\n"))  # the pty's own \r
        return got[0], got[1]
    finally:
        os.close(out)
        os.close(err)


def _clean(text: str) -> None:
    assert not RAW.search(text), f"raw control character in {text!r}"
    for line in text.splitlines():
        assert not line.lstrip().startswith("✓ succeeded"), f"a forged line: {text!r}"


def test_run_escapes_output_artifacts_and_errors(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "forger", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _clean(r.stdout)
    _clean(r.stderr)
    assert "\\u001b[2J" in r.stdout and "\\u202eevil" in r.stdout
    assert "(application/octet-stream, 8 B)" in r.stderr  # the invalid mime was not stored

    bad = cli("run", "forger", "-p", "mode=fail", "--skills-dir", str(skills), cwd=tmp_path)
    assert bad.returncode == 1
    _clean(bad.stderr)
    assert bad.stderr.count("\n") == 1, bad.stderr  # one sentence, one line
    assert "boom\\u000a\\u000d" in bad.stderr


def test_json_output_is_exact_json_and_safe(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "forger", "--json", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _clean(r.stdout)
    assert json.loads(r.stdout)["output"] == NASTY  # exact: the same value, escaped
    d = cli("run", "forger", "-p", "mode=dict", "--skills-dir", str(skills), cwd=tmp_path)
    _clean(d.stdout)
    assert json.loads(d.stdout) == {"text": NASTY}  # the human view of a dict is JSON too


def test_tasks_batch_and_skills_views_are_escaped(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "forger", "-p", "mode=fail", "--json", "--skills-dir", str(skills),
            cwd=tmp_path)
    task_id = json.loads(r.stdout)["task_id"]
    show = cli("tasks", "show", task_id, cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    _clean(show.stdout)
    assert "boom" in show.stdout
    listed = cli("tasks", "list", cwd=tmp_path)
    _clean(listed.stdout)
    lines = tmp_path / "b.jsonl"
    lines.write_text('{"skill": "forger"}\n{"skill": "forger", "params": {"mode": "fail"}}\n')
    batch = cli("batch", str(lines), "--skills-dir", str(skills), cwd=tmp_path)
    _clean(batch.stdout)
    _clean(batch.stderr)
    assert "[green]markup" in batch.stdout  # printed as text, not obeyed as markup
    for args in (("skills", "list"), ("skills", "show", "forger")):
        out = cli(*args, "--skills-dir", str(skills), cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        _clean(out.stdout)
    for args in (("report", "summary"), ("report", "task", task_id), ("report", "errors"),
                 ("report", "summary", "-f", "json")):
        out = cli(*args, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        _clean(out.stdout)
        assert "boom" in out.stdout or args[1] != "task", out.stdout


def test_artifacts_get_escapes_for_a_terminal_only(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "forger", "--json", "--skills-dir", str(skills), cwd=tmp_path)
    art = json.loads(r.stdout)["artifacts"][0]["id"]
    piped = subprocess.run([sys.executable, "-m", "skillexec", "artifacts", "get", art],
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                           capture_output=True, timeout=60, check=False)
    assert piped.stdout == b"data\x1b[2J"  # to a pipe: the bytes, exactly
    main, sub = pty.openpty()
    try:
        subprocess.run([sys.executable, "-m", "skillexec", "artifacts", "get", art],
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                       stdout=sub, stderr=subprocess.PIPE, timeout=60, check=True)
        os.close(sub)
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
    assert b"\x1b" not in seen and b"data\\u001b[2J" in seen, seen


def test_a_scripts_colours_are_dropped_and_the_rest_escaped(tmp_path: Path) -> None:
    """What a script that colours its messages printed reads as text on the terminal (it
    showed ``\\u001b[0;31mError``); a control sequence that is no colour is still escaped;
    to a pipe and with ``--json`` every byte is kept."""
    d = tmp_path / "skills" / "colours"
    (d / "scripts").mkdir(parents=True)
    (d / "SKILL.md").write_text("---\nname: colours\ndescription: prints in colour\n---\n")
    (d / "scripts" / "say.py").write_text(
        "import sys\n"
        "print('\\033[1;32mdone\\033[0m: 3 files\\033[2J')\n"
        "print('\\033[0;31mError: x.pdf not found\\033[0m', file=sys.stderr)\n"
        "sys.exit(1)\n")
    argv = ["script", "colours", "scripts/say.py", "--skills-dir", str(tmp_path / "skills")]
    out, err = _on_a_terminal(argv, cwd=tmp_path)
    assert out == "done: 3 files\\u001b[2J\n"
    _clean(out)
    _clean(err)
    assert err.startswith("Error: x.pdf not found\n"), err
    r = cli(*argv, cwd=tmp_path)  # a pipe: the script's bytes (a CSV's \r\n, its colours)
    assert r.returncode == 1, r.stderr
    assert r.stdout == "\x1b[1;32mdone\x1b[0m: 3 files\x1b[2J\n"
    assert r.stderr.startswith("\x1b[0;31mError: x.pdf not found\x1b[0m\n"), r.stderr
    j = cli("script", "colours", "scripts/say.py", "--json", "--skills-dir",
            str(tmp_path / "skills"), cwd=tmp_path)
    assert json.loads(j.stdout)["error"]["details"]["stdout"] == \
        "\x1b[1;32mdone\x1b[0m: 3 files\x1b[2J\n"


# -- the helpers, for any text ----------------------------------------------------------------


@given(st.text())
def test_safe_line_leaves_nothing_raw(text: str) -> None:
    out = safe_line(text)
    assert not RAW.search(out) and "\n" not in out and "\t" not in out
    assert "\x1b" not in cell(text)


@given(st.text())
def test_safe_block_keeps_lines_and_tabs_only(text: str) -> None:
    out = safe_block(text)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)
    assert out.count("\n") == text.count("\n") and out.count("\t") == text.count("\t")


@given(st.text(), st.lists(st.sampled_from(["\x1b[0m", "\x1b[31m", "\x1b[1;32m",
                                            "\x1b[38:5:208m", "\x1b[m"]), max_size=4))
def test_colour_codes_are_dropped_and_nothing_else(text: str, codes: list[str]) -> None:
    """A script's coloured messages read as text (escaped, ``\\u001b[0;31mError`` buried
    them); dropping a code never leaves a control character raw, even where dropping one
    joins what was around it into another."""
    coloured = "".join(c + t for c, t in zip(codes, [text] * len(codes), strict=True)) + text
    plain = text * (len(codes) + 1)
    assert safe_block(coloured) == safe_block(plain) or "\x1b" in text
    assert safe_line(coloured) == safe_line(plain) or "\x1b" in text
    for out in (safe_block("\x1b" + coloured), safe_line("\x1b\x1b[31m[m" + coloured)):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)
    assert safe_block("\x1b[0;31mError: no x.pdf\x1b[0m\n\x1b[2J") == \
        "Error: no x.pdf\n\\u001b[2J"


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(), inner, max_size=3), max_leaves=10))
def test_json_text_is_the_same_json(value: Any) -> None:
    out = json_text(orjson.dumps(value).decode())
    assert not RAW.search(out)
    assert json.loads(out) == value


@given(st.text(max_size=300))
def test_safe_mime_accepts_only_the_grammar(text: str) -> None:
    out = safe_mime(text)
    if out is not None:
        assert out == text and len(out) <= 255 and "/" in out and not RAW.search(out)
        assert not any(c.isspace() and c not in " \t" for c in out)


@pytest.mark.parametrize("mime, ok", [
    ("text/plain", True), ("image/svg+xml", True), ("text/html; charset=utf-8", True),
    ("application/vnd.ms-excel", True), ("text/\x1b[31m", False), ("a/b/c", False),
    ("text", False), ("/plain", False), ("text/plain\n", False), ("a" * 128 + "/b", False),
])
def test_safe_mime_examples(mime: str, ok: bool) -> None:
    assert (safe_mime(mime) == mime) is ok
