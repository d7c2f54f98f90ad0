"""``search_skills`` ranks the skill a query names exactly first, then whole words over parts
of words: searching ``count.v1`` among count.v1..count.v70 and Count.V1 listed Count.V1 and
count.v10..count.v18 and left count.v1 out of the first ten; "counter number 7" ranked
count.v17..count.v67 above count.v7."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer
from skillexec.skills.decorator import skill

pytestmark = pytest.mark.timeout(300)


def _make(skill_id: str, description: str, tags: tuple[str, ...] = ()) -> Callable[..., Any]:
    def count(n: int = 1) -> int:
        return n
    return skill(skill_id, description=description, tags=tags)(count)


async def _search(data: Path, skills: list[Callable[..., Any]],
                  queries: list[str]) -> list[list[str]]:
    async with SkillExecutionEngine(data_dir=data) as engine:
        for fn in skills:
            engine.register(fn)
        async with Client(McpServer(engine).server,  # type: ignore[arg-type]
                          mode="legacy") as client:
            found = []
            for q in queries:
                res = await client.call_tool("search_skills", {"query": q})
                assert not res.is_error, res.content
                found.append([m["skill_id"] for m in
                              res.structured_content["matches"]])  # type: ignore[index]
            return found


def test_the_exact_id_and_whole_words_come_first(tmp_path: Path) -> None:
    skills = [_make(f"count.v{i}", f"Counter number {i}") for i in range(1, 71)]
    skills.append(_make("Count.V1", "Counter number 1, in capitals"))
    by_id, by_words, by_tool = anyio.run(
        _search, tmp_path / "data", skills, ["count.v1", "counter number 7", "count_v7"])
    assert by_id[0] == "count.v1"
    assert by_id[1] == "Count.V1"  # the same in another case
    assert by_words[0] == "count.v7"
    assert by_tool[0] == "count.v7"  # its tool name


_ID = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,3}([._-][A-Za-z0-9]{1,3}){0,2}", fullmatch=True)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ids=st.lists(_ID, min_size=1, max_size=10, unique=True), data=st.data())
def test_the_exact_id_is_always_first(tmp_path_factory: pytest.TempPathFactory,
                                      ids: list[str], data: st.DataObject) -> None:
    # Descriptions and tags full of the other ids (and their parts): the most substrings
    # another skill can hold.
    others = st.lists(st.sampled_from(ids), max_size=12).map(" ".join)
    skills = [_make(i, data.draw(others), tuple(data.draw(st.lists(st.sampled_from(ids),
                                                                   max_size=3))))
              for i in ids]
    found = anyio.run(_search, tmp_path_factory.mktemp("data"), skills, ids)
    for skill_id, matches in zip(ids, found, strict=True):
        assert matches and matches[0] == skill_id, (skill_id, matches)
