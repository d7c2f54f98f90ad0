"""The engine's own arguments beside ``config=`` are checked as the config's fields are:
``data_dir="/x"`` with a config crashed at start (TypeError: str / str), and a
``max_concurrency`` below 1 went through (reviewH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillexec import ConfigError, EngineConfig, SkillExecutionEngine, skill
from tests.conftest import arun


@skill(id="one")
def one() -> int:
    return 1


def test_a_data_dir_string_beside_a_config(tmp_path: Path) -> None:
    async def go() -> int:
        async with SkillExecutionEngine(data_dir=str(tmp_path / "d"),
                                        config=EngineConfig(max_concurrency=3)) as e:
            assert e.config.data_dir == tmp_path / "d" and e.config.max_concurrency == 3
            return (await e.execute(one, {})).output  # type: ignore[no-any-return]
    assert arun(go()) == 1


def test_a_bad_argument_beside_a_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_concurrency"):
        SkillExecutionEngine(max_concurrency=0, config=EngineConfig(data_dir=tmp_path))
