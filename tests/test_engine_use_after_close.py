"""An engine used after close(): every call is refused with a non-retryable
``engine_closed``, and nothing is reopened. Before, the first call reopened the journal,
took the data directory's lock and started the background jobs, refused the call as
retryable ``engine_closing`` anyway, and close() could not release any of it again."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, skill
from skillexec.errors import SkillExecError

pytestmark = pytest.mark.timeout(60)


@skill(id="after-close-add")
def add(a: int) -> int:
    return a + 1


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_calls_after_close_are_refused_and_nothing_is_reopened(tmp_path: Path) -> None:
    async def main() -> None:
        engine = SkillExecutionEngine(data_dir=tmp_path / "d")
        async with engine:
            done = await engine.execute(add, {"a": 1})
            assert done.output == 2
        fds, tasks = _fds(), len(asyncio.all_tasks())
        calls = [engine.execute(add, {"a": 1}), engine.submit(add, {"a": 1}),
                 engine.status(done.task_id), engine.wait(done.task_id),
                 engine.tasks(), engine.history(done.task_id), engine.cancel(done.task_id),
                 engine.cancel_all(), engine.start()]
        for call in calls:
            with pytest.raises(SkillExecError) as refused:
                await call
            assert refused.value.code == "engine_closed", call
            assert refused.value.retryable is False
            assert "closed" in refused.value.message
        with pytest.raises(SkillExecError, match="closed"):
            async with engine:
                pass
        with pytest.raises(SkillExecError, match="closed"):
            async for _ in engine.events(done.task_id):
                pass
        assert _fds() == fds and len(asyncio.all_tasks()) == tasks
        await engine.close()  # still a no-op
        # The data directory is free: another engine takes it, and finds the call.
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as other:
            assert (await other.status(done.task_id)).result is not None

    asyncio.run(main())
