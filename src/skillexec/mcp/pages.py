"""Pages of the prompts and resources lists: a catalog of 5,000 instructions-only skills
was one 2 MB ``prompts/list`` answer (hosts that make prompts slash commands took 5,000 at
once). A cursor is where the next page starts, opaque to the client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import mcp_types as types
from mcp import MCPError

__all__ = ["PAGE", "page"]

PAGE = 500  # items a page (about 200 kB of prompts)
T = TypeVar("T")


def page(items: Sequence[T], params: types.PaginatedRequestParams | None,
         ) -> tuple[list[T], str | None]:
    """The page ``params.cursor`` names (the first without one), and the next's cursor."""
    cursor = params.cursor if params is not None else None
    start = 0
    if cursor is not None:
        if not cursor.isdigit() or int(cursor) > len(items):
            raise MCPError(types.INVALID_PARAMS, f"invalid cursor {cursor!r}: pass the "
                           "nextCursor of the previous page, or none for the first")
        start = int(cursor)
    end = start + PAGE
    return list(items[start:end]), (str(end) if end < len(items) else None)
