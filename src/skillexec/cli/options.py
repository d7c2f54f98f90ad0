"""What every command shares: where skills and data are, and how failures are told."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from skillexec.cli.safe_text import safe_line
from skillexec.config import EngineConfig, load_config
from skillexec.engine import SkillExecutionEngine
from skillexec.errors import SkillExecError
from skillexec.storage.sqlite import SQLiteStore

__all__ = ["DataDir", "SkillsDir", "config", "engine", "fail", "run_async", "with_journal"]

T = TypeVar("T")

SkillsDir = Annotated[Path | None, typer.Option(
    "--skills-dir", help="Folder of skill folders (default: ./skills, or SKILLEXEC_SKILLS_DIR).")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Journal and artifacts (default: ./.skillexec).")]


def fail(message: str, code: int = 2) -> NoReturn:
    sys.stderr.write(f"skillexec: {safe_line(message)}\n")
    raise typer.Exit(code)


def config(*, skills_dir: Path | None, data_dir: Path | None,
           concurrency: int | None = None) -> EngineConfig:
    cfg = load_config(data_dir=data_dir, max_concurrency=concurrency)
    if skills_dir is not None:
        if not skills_dir.is_dir():
            fail(f"--skills-dir {skills_dir}: "
                 + ("is a file, not a folder" if skills_dir.exists() else "no such folder"))
        return cfg.model_copy(update={"skills_dir": skills_dir})
    if cfg.skills_dir is None and Path("skills").is_dir():
        return cfg.model_copy(update={"skills_dir": Path("skills")})
    return cfg


def engine(*, skills_dir: Path | None, data_dir: Path | None,
           concurrency: int | None = None) -> SkillExecutionEngine:
    try:
        cfg = config(skills_dir=skills_dir, data_dir=data_dir, concurrency=concurrency)
    except SkillExecError as exc:
        fail(str(exc))
    return SkillExecutionEngine(config=cfg)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except SkillExecError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)


def with_journal(cfg: EngineConfig, make: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    """Open the journal of ``cfg`` (it must exist), run ``make`` on it, close it."""
    if not cfg.journal_path.exists():
        fail(f"no journal at {cfg.journal_path}: nothing has run here yet")

    async def go() -> T:
        store = SQLiteStore(cfg.journal_path)
        await store.open()
        try:
            return await make(store)
        finally:
            await store.close()

    return run_async(go())
