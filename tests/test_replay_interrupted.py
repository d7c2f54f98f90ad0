"""A replay interrupted after it claimed its tasks and before it submitted them (Ctrl-C, a
cancelled API caller) let go of none of its claims: a replay run again at once skipped every
one for two minutes, saying another replay ran it, though nothing did (reviewDiff)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from skillexec import SkillExecutionEngine
from skillexec.replay import replay

N = 6


def _skills(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "breaks"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(
        '{"id": "breaks", "version": "1.0.0", "entry_point": "main:execute"}')
    (folder / "main.py").write_text("def execute(input_data):\n    raise ValueError('no')\n")
    return tmp_path / "skills"


def test_an_interrupted_replay_lets_go_of_what_it_did_not_submit(tmp_path: Path) -> None:
    skills, data = _skills(tmp_path), tmp_path / "data"

    async def main() -> tuple[int, list[Any]]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            ids = [await engine.submit("breaks", {}) for _ in range(N)]
            for t in ids:
                await engine.wait(t)
            real = engine.journal.append_event
            claimed = asyncio.Event()
            seen = 0

            async def spy(kind: str, data: dict[str, Any]) -> Any:
                nonlocal seen
                out = await real(kind, data)
                if kind == "replay_claim":
                    seen += 1
                    if seen == N:
                        claimed.set()
                        await asyncio.sleep(10)  # interrupted here, before any submission
                return out

            engine.journal.append_event = spy  # type: ignore[method-assign]
            first = asyncio.create_task(replay(engine, ids, wait=False))
            await asyncio.wait_for(claimed.wait(), 30)
            first.cancel()
            try:
                await first
            except asyncio.CancelledError:
                pass
            engine.journal.append_event = real  # type: ignore[method-assign]
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            out = await asyncio.wait_for(replay(engine, ids, wait=True), 60)
        return seen, out

    seen, out = asyncio.run(main())
    assert seen == N
    assert [o.error for o in out] == [None] * N
    assert all(o.new_task_id for o in out)
