"""``skillexec.run``: one call from a plain script, no event loop of your own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from skillexec.task import ExecutionResult

__all__ = ["run"]

_ENGINE_OPTIONS = ("skills_dir", "data_dir", "max_concurrency", "default_timeout_s")


def run(skill: str | Path | Callable[..., Any], params: Mapping[str, Any] | None = None,
        **options: Any) -> ExecutionResult:
    """Run one skill and return its result, blocking.

    ``skill`` is a skill id (from ``skills_dir``), a skill folder, or a decorated function.
    Engine options (``skills_dir``, ``data_dir``, ``max_concurrency``, ``default_timeout_s``,
    ``engine_config``) and call options (``priority``, ``timeout``, ``version``, ``config``)
    may be mixed.
    """
    from skillexec.engine import SkillExecutionEngine

    engine_kwargs = {k: options.pop(k) for k in _ENGINE_OPTIONS if k in options}
    engine_config = options.pop("engine_config", None)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=engine_config, **engine_kwargs) as engine:
            skill_id = skill
            if callable(skill) or (isinstance(skill, str | Path) and Path(skill).is_dir()
                                   and str(skill) not in engine.skills):
                skill_id = engine.register(skill).id
            return await engine.execute(str(skill_id), params, **options)

    return asyncio.run(go())
