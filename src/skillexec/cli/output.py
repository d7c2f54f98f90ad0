"""How a command's table reaches stdout: whole, in a terminal or in a pipe.

In a terminal a table is drawn by Rich at the terminal's width, unless that would cut or
wrap a cell of a ``no_wrap`` column (ids: what a reader copies into the next command); then,
and whenever stdout is not a terminal, it is printed plain: one line per row, columns
aligned and separated by two spaces, every cell whole, no markup — what ``| cat``,
``| grep`` and ``| cut`` expect.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.errors import MarkupError
from rich.table import Table
from rich.text import Text

__all__ = ["plain_table", "print_report", "print_table"]


def _plain(cell: object) -> str:
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        try:
            text = Text.from_markup(cell).plain
        except MarkupError:  # not markup after all: a "[/x]" in the data itself
            text = cell
    else:
        text = str(cell)
    return " ".join(text.split())  # one line per row, whatever the cell held


def plain_table(table: Table) -> str:
    """The table as aligned plain text, every cell whole (the last column unpadded)."""
    columns = table.columns
    header = [_plain(c.header) for c in columns]
    rows = [header] if table.show_header else []
    rows += [[_plain(cell) for cell in cells]
             for cells in zip(*(c.cells for c in columns), strict=True)]
    if not rows:
        return ""
    # Terminal cells, not characters: a CJK character or an emoji takes two.
    widths = [max(cell_len(r[i]) for r in rows) for i in range(len(columns))]
    right = [c.justify == "right" for c in columns]
    lines = []
    for r in rows:
        cells = [" " * (w - cell_len(v)) + v if rj else v + " " * (w - cell_len(v))
                 for v, w, rj in zip(r, widths, right, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _fits(console: Console, table: Table) -> bool:
    """True when Rich's drawing keeps every ``no_wrap`` cell whole on one line."""
    with console.capture() as capture:
        console.print(table)
    drawn = capture.get()
    lines = drawn.splitlines()
    for column in table.columns:
        if not column.no_wrap:
            continue
        for cell in column.cells:
            value = _plain(cell)
            if value and not any(value in line for line in lines):
                return False
    return True


def print_table(table: Table, *, console: Console | None = None) -> None:
    """Print ``table`` on ``console``: drawn in a terminal where it fits, else plain."""
    console = console or Console(highlight=False, soft_wrap=False, emoji=False)
    if console.record or (console.is_terminal and _fits(console, table)):
        console.print(table)  # a recording console is written to a file at its own width
        return
    if table.title and console.is_terminal:
        console.print(Text(str(table.title), style="bold"))
    console.print(plain_table(table), markup=False, highlight=False, soft_wrap=True, end="")


def print_report(report: RenderableType, *, console: Console | None = None) -> None:
    """A report of several tables (a Rich ``Group``): each through :func:`print_table`; in a
    pipe each plain table is headed by its title, which tells the tables apart."""
    console = console or Console(highlight=False, soft_wrap=False, emoji=False)
    parts = list(report.renderables) if isinstance(report, Group) else [report]
    for part in parts:
        if not isinstance(part, Table):
            console.print(part)
            continue
        if part.title and not console.is_terminal and not console.record:
            console.print(f"# {Text(str(part.title)).plain}", markup=False, highlight=False)
        print_table(part, console=console)
