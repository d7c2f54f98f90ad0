"""A prune beside a save of the same bytes keeps the new artifact's file.

Files are stored by content: a save of content already stored touches the file and writes
its record a moment later (a group commit). A prune in that moment deleted the last old
record of the content, found it orphaned and unlinked the file: the new record then named a
file that was gone, for good (``artifacts get``: "its stored file cannot be read").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from skillexec import SkillExecutionEngine
from skillexec.artifacts import ArtifactManager
from skillexec.config import EngineConfig
from skillexec.storage.sqlite import SQLiteStore
from tests.conftest import arun

T = TypeVar("T")
SAME = b"the same report every time\n"


class _OtherProcess:
    """Another engine's journal writer on the same SQLite file, on its own loop, which the
    test runs only when it lets that engine's group commit happen: its records are then on
    their way to the journal, not in it, for as long as the test needs."""

    def __init__(self, path: Path) -> None:
        self.store = SQLiteStore(path)
        self.loop = asyncio.new_event_loop()
        self._in_thread(lambda: self.loop.run_until_complete(self.store.open()))

    def _in_thread(self, fn: Callable[[], T]) -> T:
        out: list[T] = []
        t = threading.Thread(target=lambda: out.append(fn()))
        t.start()
        t.join(30)
        return out[0]

    def commit_and_close(self) -> None:
        self._in_thread(lambda: self.loop.run_until_complete(self.store.close()))
        self.loop.close()


def test_a_prune_between_a_save_and_its_record_keeps_the_file(tmp_path: Path) -> None:
    config = EngineConfig(data_dir=tmp_path / "d")

    async def go() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            first = engine.artifacts.save("old.txt", SAME)
            while await engine.journal.get_artifact(first.id) is None:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.01)  # the new save comes later than the old one's record
            other = _OtherProcess(Path(config.journal_where))
            try:
                saver = ArtifactManager(config.artifacts_dir, other.store,
                                        max_bytes=config.max_artifact_bytes)
                second = saver.save("new.txt", SAME)  # touched; its record not written yet
                pruned = await engine.artifacts.prune(older_than_s=0)
                assert pruned.records == 1  # the old record: the new one is not there yet
            finally:
                other.commit_and_close()
            assert await engine.journal.get_artifact(second.id) is not None
            assert await engine.artifacts.read(second.id) == SAME
            # Once its record is gone too, the file goes with the next prune.
            pruned = await engine.artifacts.prune(older_than_s=0)
            assert (pruned.records, pruned.files) == (1, 1)
            assert all(p.is_dir() for p in config.artifacts_dir.rglob("*"))

    arun(go())
