"""A script's PEP 723 block is read as the PEP's reference regex reads it, in linear time.

The regex, run by ``finditer``, scanned to the end of a run of comment lines from every
opening line: a script of 20,000 "# /// script" lines and no closing one (260 KB) delayed
the engine's start by 37 s and held its loop 33 s at each failed call (reviewH).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec.environments.requirements import _pep723_blocks, pep723_block

_REFERENCE = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def _reference(text: str) -> list[tuple[str, list[str]]]:
    return [(m.group("type"), m.group("content").splitlines())
            for m in _REFERENCE.finditer(text)]


_LINES = st.sampled_from(["# /// script", "# /// pyproject", "# ///", "#", "# x = 1",
                          '# dependencies = ["a"]', "import os", "", "#no space",
                          "  # /// script", "# /// script ", "x = 1  # ///"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINES, max_size=14), st.booleans())
def test_the_blocks_are_the_reference_regexs(lines: list[str], newline_at_end: bool) -> None:
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    assert list(_pep723_blocks(text)) == _reference(text)


def test_a_run_of_openings_without_a_close_takes_linear_time(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("# /// script\n" * 75_000)  # ~1 MiB, the most that is read
    t0 = time.process_time()
    assert pep723_block(script) == {}
    assert time.process_time() - t0 < 2.0  # was ~30 min (quadratic)


def test_a_block_is_read(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text('# /// script\n# requires-python = ">=3.10"\n# dependencies = [\n'
                      '#   "pypdf>=4",\n# ]\n# ///\nimport pypdf\n')
    assert pep723_block(script) == {"requires-python": ">=3.10", "dependencies": ["pypdf>=4"]}
