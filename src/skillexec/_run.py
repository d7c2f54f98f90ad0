"""``skillexec.run``: one call from a plain script, no event loop of your own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from skillexec.task import ExecutionResult

__all__ = ["run"]

_ENGINE_OPTIONS = ("skills_dir", "data_dir", "max_concurrency", "default_timeout_s")
_CONFIG_OPTIONS = ("journal",)


def run(skill: str | Path | Callable[..., Any], params: Mapping[str, Any] | None = None,
        **options: Any) -> ExecutionResult:
    """Run one skill and return its result, blocking.

    ``skill`` is a skill id (from ``skills_dir``), a skill folder, or a decorated function.
    Engine options (``skills_dir``, ``data_dir``, ``max_concurrency``, ``default_timeout_s``,
    ``journal``, ``engine_config``) and call options (``priority``, ``timeout``,
    ``deadline``, ``version``, ``config``) may be mixed.

    Where it writes: like every engine, in its data directory — ``data_dir``, else the
    ``data_dir`` setting (``skillexec.toml`` / ``SKILLEXEC_DATA_DIR``), else ``.skillexec``
    in the working directory: the journal (``journal.db``: ``skillexec tasks show
    <result.task_id>`` finds the call there, as it finds a CLI ``run``) and the call's
    artifacts. ``journal=False`` keeps the journal in memory instead (gone when ``run``
    returns; the data directory still holds artifacts and the engine's lock).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # none: the plain script run() is for
        pass
    else:
        raise RuntimeError(
            "skillexec.run() blocks, so it cannot be called inside a running event loop "
            "(Jupyter, an async app): there, use `async with SkillExecutionEngine(...) as "
            "engine:` and `await engine.execute(skill, params)`")
    from skillexec.config import load_config
    from skillexec.engine import SkillExecutionEngine

    engine_kwargs = {k: options.pop(k) for k in _ENGINE_OPTIONS if k in options}
    engine_config = options.pop("engine_config", None)
    config_updates = {k: options.pop(k) for k in _CONFIG_OPTIONS if k in options}
    if config_updates:
        engine_config = (load_config() if engine_config is None
                         else engine_config).with_(**config_updates)

    async def go() -> ExecutionResult:
        engine = SkillExecutionEngine(config=engine_config, **engine_kwargs)
        if isinstance(skill, str | Path):
            engine.prepare_only(str(skill))  # one call: no other skill is warmed
        async with engine:
            skill_id = skill
            if callable(skill) or (isinstance(skill, str | Path) and Path(skill).is_dir()
                                   and str(skill) not in engine.skills):
                skill_id = engine.register(skill).id
            return await engine.execute(str(skill_id), params, **options)

    return asyncio.run(go())
