"""``search_skills``' ranking: past ``mcp.search_threshold`` it is the model's only way to
find a tool, so the skill it names exactly comes first, then skills matching more of its
words as whole words, then as parts of words. (Counting substrings ranked ``count.v10`` ..
``count.v18`` above ``count.v1`` for the query ``count.v1``, and ``count.v17`` above
``count.v7`` for "counter number 7".)"""

from __future__ import annotations

import re
from collections.abc import Iterable

from skillexec.mcp.catalog import SkillTool

__all__ = ["rank"]

_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _exact(query: str, t: SkillTool) -> int:
    """0: the query is the skill's id; 1: its tool name; 2: either, or its name, in
    another case; 3: none."""
    k = t.skill
    if query == k.id:
        return 0
    if query == t.name:
        return 1
    folded = query.casefold()
    return 2 if folded in {k.id.casefold(), t.name.casefold(), (k.name or "").casefold()} \
        else 3


def _key(query: str, words: list[str], t: SkillTool) -> tuple[int, int, int, int, str] | None:
    k = t.skill
    hay = " ".join([k.id, t.name, k.name or "", k.description, *k.tags, k.category]).lower()
    tokens = _words(hay)
    whole = sum(1 for w in set(words) if w in tokens)
    part = sum(1 for w in set(words) if w in hay)
    exact = _exact(query, t)
    if exact == 3 and not part:
        return None
    # occurrences break ties: a skill about the words beats one that names them once
    seen = sum(tokens.count(w) * 2 + hay.count(w) for w in words)
    return exact, -whole, -part, -seen, t.name


def rank(query: str, tools: Iterable[SkillTool], limit: int) -> list[SkillTool]:
    """The tools matching ``query``, best first, at most ``limit``."""
    query = query.strip()
    words = _words(query)
    scored = [(key, t) for t in tools if (key := _key(query, words, t)) is not None]
    return [t for _, t in sorted(scored, key=lambda pair: pair[0])[:limit]]
