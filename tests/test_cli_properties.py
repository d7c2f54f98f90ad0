"""Properties of the CLI's dense bits: the plain table and the batch line parser."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.markup import render
from rich.table import Table

from skillexec.cli.batch_cmd import _BATCH_KEYS, _parse_line
from skillexec.cli.output import plain_table
from skillexec.cli.safe_text import escape_markup as escape

cell = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5).flatmap(
    lambda n: st.tuples(st.lists(cell, min_size=n, max_size=n),
                        st.lists(st.lists(cell, min_size=n, max_size=n), max_size=8))))
def test_plain_table_keeps_every_cell_whole_one_row_per_line(
        data: tuple[list[str], list[list[str]]]) -> None:
    header, rows = data
    table = Table()
    for h in header:
        table.add_column(escape(h))
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    lines = plain_table(table).splitlines()
    assert len(lines) == 1 + len(rows)
    for line, values in zip(lines, [header, *rows], strict=True):
        at = 0
        for value in values:  # each cell, whitespace folded, appears whole and in order
            folded = " ".join(value.split())
            found = line.find(folded, at)
            assert found >= 0, (line, folded)
            at = found + len(folded)


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from("\\[]/#@=a :"), max_size=12) | cell)
def test_escaped_markup_renders_as_the_text_itself(text: str) -> None:
    """A skill's text in a table or a coloured line is printed as it is: Rich's escape
    lost the backslash of a '\\[' that opens no tag."""
    # Left as Rich has it: a trailing backslash is doubled, so that a closing tag after
    # it stays a tag; with nothing after it, it shows twice.
    if not text.endswith("\\"):
        assert render(escape(text), emoji=False).plain == text
        assert render(f"[red]{escape(text)}[/red]", emoji=False).plain == text
    assert render(escape("\\["), emoji=False).plain == "\\["


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10_000), st.dictionaries(
    st.sampled_from([*_BATCH_KEYS, "prio", "tiemout", "id", ""]), json_value, max_size=6))
def test_a_batch_line_is_a_call_or_a_problem_naming_its_line(number: int,
                                                             spec: dict[str, Any]) -> None:
    call = _parse_line(number, json.dumps(spec))
    unknown = set(spec) - set(_BATCH_KEYS)
    if call.problem:
        assert call.problem.startswith(f"line {number}: ")
        assert not call.options
        if unknown and isinstance(spec.get("skill"), str):
            assert "unknown key" in call.problem
            assert all(repr(k) in call.problem for k in unknown)
    else:
        assert not unknown and isinstance(spec.get("skill"), str)
        assert call.skill == spec["skill"] and isinstance(call.options["params"], dict)
        assert set(call.options) <= set(_BATCH_KEYS[1:])
