"""EngineConfig: keyword options > skillexec.toml > SKILLEXEC_* environment variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skillexec import ConfigError, EngineConfig, SkillExecutionEngine
from skillexec.config import load_config
from tests.conftest import ROOT


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MAX_CONCURRENCY", "7")
    monkeypatch.setenv("SKILLEXEC_DEFAULT_TIMEOUT_S", "9")
    monkeypatch.setenv("SKILLEXEC_QUEUE_AGING_S", "3")
    assert load_config().max_concurrency == 7
    (tmp_path / "skillexec.toml").write_text("max_concurrency = 11\ndefault_timeout_s = 4.5\n")
    cfg = load_config()
    assert (cfg.max_concurrency, cfg.default_timeout_s, cfg.queue_aging_s) == (11, 4.5, 3.0)
    cfg = load_config(max_concurrency=13)
    assert cfg.max_concurrency == 13 and cfg.default_timeout_s == 4.5
    other = tmp_path / "other.toml"
    other.write_text("max_concurrency = 17\n")
    monkeypatch.setenv("SKILLEXEC_CONFIG", str(other))
    assert load_config().max_concurrency == 17


def test_engine_keyword_options_win(tmp_path: Path) -> None:
    (tmp_path / "skillexec.toml").write_text("max_concurrency = 3\n")
    engine = SkillExecutionEngine(max_concurrency=5, data_dir=tmp_path / "d")
    assert engine.config.max_concurrency == 5
    assert engine.config.data_dir == tmp_path / "d"
    engine = SkillExecutionEngine(config=EngineConfig(max_concurrency=8), default_timeout_s=2)
    assert engine.config.max_concurrency == 8 and engine.config.default_timeout_s == 2


@pytest.mark.parametrize(("setup", "named"), [
    ({"env": ("SKILLEXEC_MAX_CONCURRENCY", "lots")}, "max_concurrency"),
    ({"env": ("SKILLEXEC_DEFAULT_PRIORITY", "12")}, "default_priority"),
    ({"toml": "default_isolation = 'vm'\n"}, "default_isolation"),
    ({"toml": "no_such_setting = 1\n"}, "no_such_setting"),
    ({"toml": "max_concurrency = [\n"}, "configuration"),
    ({"kw": {"default_timeout_s": -1}}, "default_timeout_s"),
])
def test_invalid_settings_name_what_is_wrong(setup: dict[str, object], named: str,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if "env" in setup:
        key, value = setup["env"]  # type: ignore[misc]
        monkeypatch.setenv(key, value)
    if "toml" in setup:
        (tmp_path / "skillexec.toml").write_text(str(setup["toml"]))
    with pytest.raises(ConfigError) as info:
        load_config(**setup.get("kw", {}))  # type: ignore[arg-type]
    assert named in str(info.value)


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in EngineConfig.model_fields:
        assert re.search(rf"`{name}`", readme), f"README does not document {name}"
