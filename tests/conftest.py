from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

# PostgreSQL fixtures (pg_database, pg_url, fresh_pg): a database per test session.
pytest_plugins = ["tests._postgres"]

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "skills"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The long tests (marked slow) first: on several workers (scripts/test.sh) one of them
    # started last would keep its worker busy alone after the others have run out of tests.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def arun(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> Iterator[None]:
    # Engines default to ./.skillexec and ./skillexec.toml: keep every test in its own folder,
    # and keep the developer's SKILLEXEC_* settings out of the tests.
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("SKILLEXEC_") and not key.startswith("SKILLEXEC_REQUIRE"):
            monkeypatch.delenv(key)
    yield
    if request.node.get_closest_marker("deep_tree") is not None:
        # pytest removes old test folders with a recursive walk, which a tree this deep
        # ends with a RecursionError (failing the whole run): gone now, pass or fail.
        from skillexec.runtime.workspace import remove_tree

        monkeypatch.chdir(ROOT)
        for entry in tmp_path.iterdir():
            remove_tree(str(entry))


@pytest.fixture
def anyio_backend() -> str:
    """The backend of the ``anyio``-marked tests (the MCP SDK's): asyncio, as the engine."""
    return "asyncio"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Any]:
    """An MCP server (``McpServer``) over an engine of tests._mcp's skills; a test module
    that serves other skills defines its own."""
    from skillexec import SkillExecutionEngine
    from skillexec.mcp.server import McpServer
    from tests._mcp import write_skills

    skills = write_skills(tmp_path / "skills")
    async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)
