"""A batch line whose version is not text is that line's refusal: it ended the whole batch
with "internal error: AttributeError" (and the lines that had run were not printed)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli_errors import cli, inline_skill


def test_a_batch_line_with_a_version_that_is_not_text_is_refused_alone(tmp_path: Path) -> None:
    inline_skill(tmp_path)
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(line) for line in (
        {"skill": "one"}, {"skill": "one", "version": 7}, {"skill": "one", "version": ["1"]},
        {"skill": "one", "version": "^1"})) + "\n")
    r = cli(tmp_path, "batch", "b.jsonl", "--json", "--keep-going")
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stderr
    got = {d["line"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert [got[n]["status"] for n in (1, 2, 3, 4)] == ["succeeded", "rejected", "rejected",
                                                        "succeeded"]
    assert {got[n]["error"]["code"] for n in (2, 3)} == {"invalid_version_requirement"}
