"""journal_url: which journal a configuration names, from every source; its password is
never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.config import load_config
from skillexec.errors import ConfigError
from skillexec.storage.sqlite import SQLiteStore
from skillexec.storage.url import check, kind, redacted, sqlite_path
from tests.conftest import arun

PG = "postgresql://postgres@127.0.0.1:5432/x"


def test_every_source_names_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config().journal.url is None and not load_config().journal_is_shared
    assert load_config(journal_url=PG).journal.url == PG
    monkeypatch.setenv("SKILLEXEC_JOURNAL_URL", PG)
    assert load_config().journal_is_shared
    monkeypatch.delenv("SKILLEXEC_JOURNAL_URL")
    monkeypatch.setenv("SKILLEXEC_JOURNAL__URL", "postgres://h/db")
    assert load_config().journal.url == "postgres://h/db"
    monkeypatch.delenv("SKILLEXEC_JOURNAL__URL")
    (tmp_path / "skillexec.toml").write_text(f'[journal]\nurl = "{PG}"\n')
    assert load_config().journal.url == PG


@pytest.mark.parametrize("bad", ["mysql://h/db", "journal.db", "sqlite://x.db", "sqlite:///"])
def test_what_is_not_a_journal_url_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"journal\.url"):
        load_config(journal_url=bad)


def test_a_sqlite_url_puts_the_file_where_it_says(tmp_path: Path) -> None:
    where = tmp_path / "elsewhere" / "j.db"

    @skill(id="one")
    def one() -> int:
        return 1

    async def go() -> object:
        cfg = EngineConfig(data_dir=tmp_path / "d", journal_url=f"sqlite:///{where}")
        async with SkillExecutionEngine(config=cfg) as e:
            e.register(one)
            assert isinstance(e.journal, SQLiteStore)
            return (await e.execute("one")).output

    assert arun(go()) == 1 and where.exists()
    assert not (tmp_path / "d" / "journal.db").exists()
    assert sqlite_path("sqlite:///rel/j.db", Path("x")) == Path("rel/j.db")
    assert sqlite_path(None, Path("x")) == Path("x")


_word = st.text(st.characters(blacklist_characters="@/:?&= \t\n", codec="utf-8"), min_size=1,
                max_size=20)


@given(user=_word, password=_word, host=_word)
def test_a_password_never_survives_redaction(user: str, password: str, host: str) -> None:
    url = f"postgresql://{user}:{password}@{host}:5432/db"
    shown = redacted(url)
    assert shown == f"postgresql://{user}:***@{host}:5432/db"
    assert check(url) == url and kind(url) == "postgresql"
    param = redacted(f"postgresql://{host}/db?user={user}&password={password}&sslmode=x")
    assert param == f"postgresql://{host}/db?user={user}&password=***&sslmode=x"


def test_a_bad_url_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(journal_url="mysql://me:hunter2@h/db")
    assert "hunter2" not in str(caught.value) and "me:***@h/db" in str(caught.value)
