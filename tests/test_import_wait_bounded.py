"""A call whose skill is still importing waits for it only within its own timeout: a call
with timeout=2 of a skill first used now (or still warming up) waited out the whole
zygote_import_timeout_s. The import goes on; a later call has its outcome."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.config import EngineConfig
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)
IMPORT_TIMEOUT_S = 10.0


def test_a_call_waits_for_an_import_only_within_its_timeout(tmp_path: Path) -> None:
    need_sandbox()
    for sid, code in (("hangs", "import time\ntime.sleep(600)\n"), ("fine", "")):
        folder = tmp_path / "skills" / sid
        folder.mkdir(parents=True)
        (folder / "main.py").write_text(code + "def execute(data):\n    return 1\n")
        (folder / "skill.json").write_text(json.dumps({
            "id": sid, "version": "1.0.0", "entry_point": "main:execute",
            "execution": {"max_retries": 0}}))

    async def go() -> None:
        cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                           zygote={"import_timeout_s": IMPORT_TIMEOUT_S})
        engine = SkillExecutionEngine(config=cfg)
        engine.prepare_only("fine")  # "hangs" is imported at its first call
        async with engine:
            t0 = time.monotonic()
            first = await engine.execute("hangs", timeout=2)
            took = time.monotonic() - t0
            assert first.status is TaskStatus.TIMED_OUT, first
            assert first.error is not None and first.error.code == "execution_timeout"
            assert "still importing" in first.error.message
            assert took < IMPORT_TIMEOUT_S / 2, took  # not the import's whole bound
            assert (await engine.execute("fine", timeout=5)).ok
            later = await engine.execute("hangs", timeout=60)  # the same import's end
            assert later.error is not None and later.error.code == "import_timeout", later
            assert time.monotonic() - t0 < IMPORT_TIMEOUT_S + 5

    arun(go())
