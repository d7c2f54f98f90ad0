"""EngineConfig: keyword options > skillexec.toml > SKILLEXEC_* environment variables."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("content", [b"max_concurrency = [\n", b"\xff\xfe = 1\n"])
def test_a_configuration_file_that_cannot_be_read_is_named(
        content: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Which file: the working directory's skillexec.toml, or SKILLEXEC_CONFIG's."""
    (tmp_path / "skillexec.toml").write_bytes(content)
    with pytest.raises(ConfigError, match=r"cannot read the configuration file skillexec\.toml"):
        load_config()
    other = tmp_path / "conf" / "other.toml"
    other.parent.mkdir()
    other.write_bytes(content)
    monkeypatch.setenv("SKILLEXEC_CONFIG", str(other))
    with pytest.raises(ConfigError, match=f"cannot read the configuration file {other}: "):
        load_config()


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in EngineConfig.model_fields:
        assert re.search(rf"`{name}`", readme), f"README does not document {name}"


def _readme_tables() -> tuple[set[str], dict[str, set[str]]]:
    """What the README's two configuration tables name: the first table's settings (top
    level, or ``section.key`` of a core section), then each subsystem row's keys."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    first: set[str] = set()
    tables: dict[str, set[str]] = {}
    for line in section.splitlines():
        row = re.match(r"\| `([\w.]+)` \| `SKILLEXEC_(\w+?)(__<KEY>)?` \|(.*)\|$", line)
        if row is None:
            continue
        if row.group(3):  # a subsystem: every `key` in its row
            tables[row.group(1)] = set(re.findall(r"`(\w+)`", row.group(4)))
        else:
            first.add(row.group(1))
            env = row.group(2).lower().replace("__", ".")
            assert env == row.group(1), f"{row.group(1)}: environment SKILLEXEC_{row.group(2)}"
    return first, tables


def test_readme_settings_tables_match_the_tree() -> None:
    # Both ways: every setting of the tree is in the README's tables, every row names one
    from skillexec.config import SECTIONS, TABLES

    first, tables = _readme_tables()
    tree = {n for n in EngineConfig.model_fields if n not in TABLES and n not in SECTIONS}
    tree |= {f"{s}.{k}" for s, cls in SECTIONS.items() for k in cls.model_fields}
    assert first == tree, (f"README lacks {sorted(tree - first)}; "
                           f"README has unknown {sorted(first - tree)}")
    assert set(tables) == set(TABLES)
    for name, cls in TABLES.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert tables[name] == fields, (
            f"[{name}]: README lacks {sorted(fields - tables[name])}; "
            f"README has unknown {sorted(tables[name] - fields)}")


def test_core_sections_from_every_source_and_the_former_flat_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "skillexec.toml").write_text(
        "journal = false\ndefault_isolation = 'process'\n[zygote]\nidle_s = 5\n"
        "[limits]\nmax_memory_mb = 2048\n")
    monkeypatch.setenv("SKILLEXEC_QUOTAS__MAX_ARTIFACTS", "7")
    monkeypatch.setenv("SKILLEXEC_TRUSTED_SKILLS", '["old-name"]')  # a former variable
    monkeypatch.setenv("SKILLEXEC_PERMISSIONS__ALLOWED", '["file_read"]')
    cfg = load_config(default_memory_mb=64)
    assert cfg.journal.enabled is False and not cfg.journal
    assert cfg.isolation.default_level == "process" and cfg.zygote.idle_s == 5
    assert (cfg.limits.max_memory_mb, cfg.limits.default_memory_mb) == (2048, 64)
    assert cfg.quotas.max_artifacts == 7 and cfg.isolation.trusted_skills == {"old-name"}
    assert cfg.permissions.allowed == {"file_read"}
    # the former names read through, so callers written against them keep working
    assert (cfg.default_isolation, cfg.zygote_idle_s, cfg.max_artifacts,
            cfg.default_memory_mb, cfg.trusted_skills) == ("process", 5, 7, 64, {"old-name"})
    assert cfg.isolation_settings().zygote_idle_s == 5
    assert cfg.isolation_policy().default_isolation == "process"
    # precedence holds between a former name in one source and the new one in another
    assert load_config(isolation={"trusted_skills": ["new"]}).trusted_skills == {"new"}
    monkeypatch.setenv("SKILLEXEC_ISOLATION__TRUSTED_SKILLS", '["newer"]')
    assert load_config().trusted_skills == {"newer"}
    assert load_config(trusted_skills=["kw"]).trusted_skills == {"kw"}
    with pytest.raises(ConfigError, match=r"max_memory_mb and limits\.max_memory_mb"):
        load_config(max_memory_mb=1024, limits={"max_memory_mb": 2048})
    with pytest.raises(ConfigError, match=r"limits\.nope"):
        load_config(limits={"nope": 1})
    with pytest.raises(ConfigError, match="default_memory_mb"):
        load_config(default_memory_mb=4096, max_memory_mb=1024)
    # a validated copy (model_copy(update=...) checks nothing)
    copy = cfg.with_(journal=True, max_memory_mb=512)
    assert copy.journal.enabled is True and copy.limits.max_memory_mb == 512
    with pytest.raises(ValueError, match="max_memory_mb"):
        cfg.with_(max_memory_mb=1)
    moved = cfg.model_copy(update={"trusted_skills": frozenset({"other"}), "recover": False})
    assert moved.isolation.trusted_skills == {"other"} and moved.recover is False


def test_each_table_is_a_typed_sub_model_from_every_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillexec.monitoring.settings import MonitorSettings
    from skillexec.optimization.settings import CacheSettings

    (tmp_path / "skillexec.toml").write_text(
        "[monitor]\nmax_skills = 3\nsensitive_params = ['pin']\n"
        "[resources]\nskill_concurrency = {a = 2}\n[resources.call]\nmemory_mb = 64\n")
    monkeypatch.setenv("SKILLEXEC_CACHE__MAX_ENTRIES", "5")
    monkeypatch.setenv("SKILLEXEC_SMART__RUNNERS", "process, sandbox")
    monkeypatch.setenv("SKILLEXEC_PRESSURE", '{"action": "refuse"}')
    cfg = load_config(reliability={"breaker_min_calls": 4})
    assert isinstance(cfg.monitor, MonitorSettings) and isinstance(cfg.cache, CacheSettings)
    assert cfg.monitor.max_skills == 3 and cfg.monitor.sensitive_params == frozenset({"pin"})
    assert cfg.resources.skill_concurrency == {"a": 2} and cfg.resources.call.memory_mb == 64
    assert cfg.cache.max_entries == 5 and cfg.smart.runners == ("process", "sandbox")
    assert cfg.pressure.action == "refuse" and cfg.reliability.breaker_min_calls == 4
    # the construction calls components make read the same sub-model
    assert MonitorSettings.from_config(cfg) is cfg.monitor
    assert CacheSettings.from_config(cfg) is cfg.cache is cfg.settings_of("cache")


@pytest.mark.parametrize("table", ["monitor", "reliability", "resources", "pressure", "cache",
                                   "smart"])
def test_an_unknown_key_in_any_table_is_named(table: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=f"{table}.*no_such_key"):
        load_config(**{table: {"no_such_key": 1}})
    (tmp_path / "skillexec.toml").write_text(f"[{table}]\nalso_no_such_key = 1\n")
    with pytest.raises(ConfigError, match=f"{table}.*also_no_such_key"):
        load_config()
    (tmp_path / "skillexec.toml").unlink()
    monkeypatch.setenv(f"SKILLEXEC_{table.upper()}__NOT_A_KEY", "1")
    with pytest.raises(ConfigError, match=f"{table}.*not_a_key"):
        load_config()


def test_an_error_in_a_section_does_not_echo_the_section() -> None:
    # Its other keys may be secrets (a webhook URL with a token); the wrong key is named
    with pytest.raises(ConfigError) as info:
        load_config(monitor={"webhook_url": "https://hooks.example/T0/s3cr3t", "max_skils": 1})
    assert "max_skils" in str(info.value) and "s3cr3t" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(monitor={"webhook_url": "https://hooks.example/T0/s3cr3t", "max_skills": 0})
    assert "max_skills" in str(info.value) and "s3cr3t" not in str(info.value)


def test_reliability_settings_refuse_unknown_keys_instead_of_dropping_them() -> None:
    from skillexec.reliability.settings import ReliabilitySettings

    class Cfg:
        reliability = {"breaker_min_calls": 4, "breaker_min_call": 5}

    with pytest.raises(ValueError, match=r"breaker_min_call\b"):
        ReliabilitySettings.from_config(Cfg())


def test_the_monitors_former_variables_are_an_error_naming_the_new_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MONITOR_LOG_LEVEL", "DEBUG")
    with pytest.raises(ConfigError, match="SKILLEXEC_MONITOR__LOG_LEVEL"):
        load_config()


def _former_value(old: str) -> st.SearchStrategy[Any]:
    """A valid value for a former flat setting (each maximum at least its default)."""
    from skillexec.config import FORMER_NAMES, SECTIONS

    section, key = FORMER_NAMES[old]
    default = SECTIONS[section].model_fields[key].default
    if isinstance(default, bool):
        return st.booleans()
    if key.startswith("max_") and isinstance(default, int | float):
        return st.integers(int(default), int(default) * 4)
    if key.startswith("default_") and isinstance(default, int | float) and key != "default_level":
        return st.integers(16, int(default))
    if key == "trusted_skills":
        return st.frozensets(st.sampled_from(["a", "b-c", "d_e"]))
    if key in ("allowed", "per_skill"):
        perms = st.frozensets(st.sampled_from(["file_read", "file_write", "network_access"]))
        return perms if key == "allowed" else st.dictionaries(
            st.sampled_from(["a", "b-c"]), perms, max_size=2)
    if key == "default_level":
        return st.sampled_from(["inline", "process", "sandbox"])
    if key == "synchronous":
        return st.sampled_from(["normal", "full"])
    if isinstance(default, int | float) and not isinstance(default, bool):
        return st.integers(max(1, int(default) // 2), int(default) * 2)
    return st.just(default)


@st.composite
def _former_settings(draw: st.DrawFn) -> dict[str, Any]:
    from skillexec.config import FORMER_NAMES

    names = draw(st.sets(st.sampled_from(sorted(FORMER_NAMES)), max_size=8))
    return {old: draw(_former_value(old)) for old in sorted(names)}


@settings(max_examples=60, deadline=None)
@given(_former_settings())
def test_a_former_name_means_exactly_its_new_place(given_: dict[str, Any]) -> None:
    # Any mix of former flat names gives the same tree as the same values in their sections
    from skillexec.config import FORMER_NAMES

    nested: dict[str, dict[str, Any]] = {}
    for old, value in given_.items():
        section, key = FORMER_NAMES[old]
        nested.setdefault(section, {})[key] = value
    old_way, new_way = EngineConfig(**given_), EngineConfig(**nested)
    assert old_way == new_way
    for old, value in given_.items():
        assert getattr(old_way, old) == value


def test_a_variable_that_is_not_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # pydantic-settings says 'error parsing value for field "service" from source
    # "EnvSettingsSource"': which variable, and what it wanted, was left to guess.
    monkeypatch.setenv("SKILLEXEC_SERVICE__HOST_NOTE", "plain")  # no JSON, not the problem
    monkeypatch.setenv("SKILLEXEC_SERVICE__CORS_ORIGINS", "[http://localhost:5173")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(err.value).startswith("SKILLEXEC_SERVICE__CORS_ORIGINS is not valid JSON")
    monkeypatch.delenv("SKILLEXEC_SERVICE__HOST_NOTE")
    monkeypatch.setenv("SKILLEXEC_SERVICE__CORS_ORIGINS", "http://localhost:5173")
    with pytest.raises(ConfigError, match="SKILLEXEC_SERVICE__CORS_ORIGINS is not valid JSON"):
        load_config()
