"""What the help and the usage errors say to a new user: a flag is shown without a type (it
takes no value), and pydantic's "Value error, " never reaches the sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import cli


@pytest.mark.parametrize("command", [("run",), ("skills", "list"), ("tasks", "list"), ()])
def test_a_flag_in_the_help_takes_no_value(tmp_path: Path, command: tuple[str, ...]) -> None:
    r = cli(*command, "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "--help" in r.stdout and "<bool>" not in r.stdout, r.stdout  # was "--json <bool>"


def test_a_value_with_typed_options_still_shows_its_type(tmp_path: Path) -> None:
    r = cli("run", "--help", cwd=tmp_path)
    assert "<float>" in r.stdout and "--timeout" in r.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("report", "summary", "-f", "xml"),
     "Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'json', 'html'."),
    (("tasks", "list", "--status", "nope"), "Invalid value for '--status': 'nope' is not one"),
])
def test_a_bad_choice_is_one_sentence_without_pydantics_prefix(
        tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    r = cli(*args, "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"skillexec: {says}"), r.stderr
    assert "Value error" not in r.stderr and len(r.stderr.splitlines()) == 1
