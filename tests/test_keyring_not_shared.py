"""Two data directories sharing one journal with encryption on, each with its own
keyring.json: reading a task the other sealed says that this node's keyring lacks the key
and that nodes must share the submitters' keyring.json, not that the key "was destroyed
(purged)" when nothing was purged."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.errors import ResourceError
from tests.conftest import arun

SKILL = "async def execute(input_data, context):\n    return {'n': input_data['n']}\n"
MANIFEST = ('{"id": "echo", "version": "1.0.0", "entry_point": "main:execute", '
            '"execution": {"isolation": "inline"}}')


def test_a_row_sealed_with_another_keyring_is_named_so(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    skills = tmp_path / "skills"
    (skills / "echo").mkdir(parents=True)
    (skills / "echo" / "main.py").write_text(SKILL)
    (skills / "echo" / "skill.json").write_text(MANIFEST)
    monkeypatch.setenv("SKILLEXEC_ISOLATION__TRUSTED_SKILLS", '["echo"]')
    monkeypatch.setenv("SKILLEXEC_SECURITY__ENCRYPTION", "true")
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("SKILLEXEC_JOURNAL__URL", f"sqlite:///{tmp_path / 'shared.db'}")

    async def go() -> str:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "a") as a:
            result = await a.execute("echo", {"n": 1}, principal="alice")
            assert result.status is TaskStatus.SUCCEEDED
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "b") as b:
            with pytest.raises(ResourceError) as raised:
                await b.journal.get_request(result.task_id)
        assert raised.value.code == "data_key_missing"
        return str(raised.value)

    said = arun(go())
    assert str(tmp_path / "b" / "keyring.json") in said and "'alice'" in said
    assert "share the submitters' keyring.json" in said and "purge" not in said
