"""Installs that take long (an index that stops answering) hold up no one but their callers.

Every install held one process-wide lock, and every waiting first call a thread of the
event loop's default pool, which the journal uses too: one slow install held up every
other skill's first call, a dozen of them the whole engine (a call needing no environment
at all, with a 5 s timeout, ended after a minute). A call's timeout did not bound its wait,
cancelling the first call cancelled every call waiting on the same install, and closing
the engine waited for the installer.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from tests._index import installers_running, serving
from tests._wheels import make_wheel
from tests.conftest import arun

pytestmark = pytest.mark.timeout(240)

SLOW = [f"slow{i}" for i in range(10)]  # each needs a package the index never serves


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def skill(root: Path, sid: str, requirement: str | None, module: str | None) -> None:
    folder = root / sid
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": sid, "version": "1.0.0", "entry_point": "main:execute"}))
    body = f"    import {module}\n    return {module}.VALUE\n" if module else "    return 1\n"
    (folder / "main.py").write_text("def execute(data):\n" + body)
    if requirement:
        (folder / "requirements.txt").write_text(requirement + "\n")


def setup(tmp_path: Path) -> Path:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "quickpkg-c3", "1.0", "VALUE = 'quick'\n")
    skills = tmp_path / "skills"
    for sid in SLOW:
        skill(skills, sid, f"hangpkg-{sid}", f"hangpkg_{sid}")
    skill(skills, "quick", "quickpkg-c3", "quickpkg_c3")
    skill(skills, "nodeps", None, None)
    return wheels


def engine_config(tmp_path: Path, url: str) -> EngineConfig:
    return EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                        environments={"index_url": url, "install_timeout_s": 90,
                                      "installer": "uv"})


def test_slow_installs_hold_up_neither_other_skills_nor_calls_past_their_timeout(
        tmp_path: Path) -> None:
    wheels = setup(tmp_path)
    hang = frozenset(f"hangpkg-{sid}" for sid in SLOW)
    with serving(wheels, hang=hang) as index:
        async def go() -> None:
            engine = SkillExecutionEngine(config=engine_config(tmp_path, index.url))
            await engine.start()
            t0 = time.monotonic()
            slow = [asyncio.create_task(engine.execute(SLOW[0], {}, timeout=3))]
            await asyncio.sleep(1.0)
            quick = await engine.execute("quick", {}, timeout=30)
            assert quick.ok and quick.output == "quick", quick.error
            assert time.monotonic() - t0 < 15  # was: behind the slow install's 90 s
            # More slow installs than the event loop's default pool has threads.
            slow += [asyncio.create_task(engine.execute(sid, {}, timeout=3))
                     for sid in SLOW[1:]]
            await asyncio.sleep(1.0)  # every slow install started (or queued)
            t1 = time.monotonic()
            free = await engine.execute("nodeps", {}, timeout=20)
            assert free.ok, free.error
            assert time.monotonic() - t1 < 10  # was: after the first slow install's 90 s
            for r in await asyncio.gather(*slow):
                assert r.error is not None and r.error.code == "install_pending", r.error
                assert r.error.retryable
                assert "still being installed" in r.error.message
                assert "the call's timeout (3 s) ended the wait" in r.error.message
            assert time.monotonic() - t1 < 10  # each ended at its own timeout
            assert installers_running(tmp_path / "data")  # the installs go on meanwhile
            closing = time.monotonic()
            await engine.close()
            assert time.monotonic() - closing < 15  # not the installers' 90 s
            for _ in range(50):  # their process groups were killed
                if not installers_running(tmp_path / "data"):
                    break
                await asyncio.sleep(0.1)
            assert installers_running(tmp_path / "data") == []

        arun(go())
    envs = tmp_path / "data" / "envs"
    assert [p.name for p in envs.glob(".tmp-*")] == []  # the stopped installs' folders


def test_cancelling_the_first_call_leaves_the_others_waiting(tmp_path: Path) -> None:
    wheels = setup(tmp_path)
    with serving(wheels, hang=frozenset({"hangpkg-slow0"})) as index:
        async def go() -> None:
            async with SkillExecutionEngine(
                    config=engine_config(tmp_path, index.url)) as engine:
                lead = asyncio.create_task(engine.execute("slow0", {}))
                await asyncio.sleep(1.0)
                follow = asyncio.create_task(engine.execute("slow0", {}))
                await asyncio.sleep(1.0)
                lead.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await lead
                await asyncio.sleep(1.5)
                assert not follow.done()  # was: CancelledError, cancelled by nobody
                # Its install goes on: a later call with a timeout waits for it too.
                r = await engine.execute("slow0", {}, timeout=1)
                assert r.error is not None and r.error.code == "install_pending"
                follow.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await follow

        arun(go())
