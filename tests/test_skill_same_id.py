"""A @skill function made again under the same id and version (a tool made per user or
session, as a closure) is the one ``execute(fn)`` runs: it replaces the registered one,
and never runs the other's code or captured state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skillexec import SkillExecutionEngine, TaskStatus, skill
from tests.conftest import arun


def make_tool(user: str, *, is_async: bool = False) -> Callable[..., Any]:
    if is_async:
        @skill(id="whoami")
        async def whoami_async(n: int = 0) -> str:
            await asyncio.sleep(0.001 * (n % 3))
            return f"{user}:{n}"
        return whoami_async

    @skill(id="whoami")
    def whoami(n: int = 0) -> str:
        return f"{user}:{n}"
    return whoami


def test_execute_runs_the_function_it_is_given(tmp_path: Path) -> None:
    alice, bob = make_tool("alice"), make_tool("bob")

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            assert (await engine.execute(alice, {})).output == "alice:0"
            assert (await engine.execute(bob, {})).output == "bob:0"
            # by id: the one registered last
            assert (await engine.execute("whoami", {})).output == "bob:0"
            assert (await engine.execute(alice, {"n": 1})).output == "alice:1"
            tid = await engine.submit(bob, {"n": 2})
            assert (await engine.wait(tid)).output == "bob:2"
            assert engine.skills.get("whoami").entry.func is bob
    arun(go())


def test_many_users_at_once_each_get_their_own(tmp_path: Path) -> None:
    tools = [make_tool(f"u{i}", is_async=i % 2 == 0) for i in range(40)]

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            results = await asyncio.gather(*(
                engine.execute(tools[i % 40], {"n": i}) for i in range(200)))
            for i, r in enumerate(results):
                assert r.status is TaskStatus.SUCCEEDED, r.error
                assert r.output == f"u{i % 40}:{i}"
    arun(go())


def test_registering_the_same_function_again_changes_nothing(tmp_path: Path) -> None:
    alice = make_tool("alice")

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            first = engine.register(alice)
            for n in range(3):
                assert (await engine.execute(alice, {"n": n})).output == f"alice:{n}"
            assert engine.skills.get("whoami") is first  # not registered again per call
    arun(go())


def make_cached_tool(user: str) -> Callable[..., Any]:
    @skill(id="whoami-cached", cacheable=True, idempotent=True)
    async def whoami(delay: float = 0.02) -> str:
        await asyncio.sleep(delay)
        return user
    return whoami


def test_a_cacheable_closure_answers_only_its_own_calls(tmp_path: Path) -> None:
    """The result cache and single flight were keyed by id, version and parameters: Bob's
    closure got Alice's cached answer, or shared her call in flight (reviewS)."""
    alice, bob = make_cached_tool("alice"), make_cached_tool("bob")

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            together = await asyncio.gather(*(
                engine.execute(f, {}) for f in [alice, bob] * 5))
            assert [r.output for r in together] == ["alice", "bob"] * 5
            assert (await engine.execute(bob, {})).output == "bob"  # from the cache
            assert (await engine.execute(alice, {})).output == "alice"
    arun(go())
