"""A failed install, remembered: transient causes are tried again, the reason is the caller's.

An index that refused the connection (or answered 500, or a full disk) was remembered as
a failure of the package, blaming a package that was fine (``installing the package 'hpkg'
failed (uv): Connection refused``, not retryable): the skill stayed unavailable until an
operator ran ``skills install``, even once the index was back or the settings corrected.
And the failure of an environment two skills share named the first skill that failed to
the callers of the other.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.task import TaskStatus
from tests._index import free_port, serving
from tests._wheels import make_wheel
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def skill(root: Path, sid: str, requirements: str) -> None:
    folder = root / "skills" / sid
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": sid, "version": "1.0.0", "entry_point": "main:execute"}))
    (folder / "main.py").write_text("def execute(data):\n    import netpkg_f6\n"
                                    "    return netpkg_f6.VALUE\n")
    (folder / "requirements.txt").write_text(requirements)


def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    make_wheel(folder, "netpkg-f6", "1.0", "VALUE = 'installed'\n")
    return folder


def config(tmp_path: Path, **environments: object) -> EngineConfig:
    return EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                        environments={"installer": "uv", **environments})


def listed(tmp_path: Path, env: dict[str, str]) -> dict[str, dict[str, object]]:
    r = subprocess.run([sys.executable, "-m", "skillexec", "skills", "list", "--json",
                        "--skills-dir", str(tmp_path / "skills"), "--data-dir",
                        str(tmp_path / "data")], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}, timeout=120)
    return {s["id"]: s["environment"] for s in json.loads(r.stdout)}


def test_an_unreachable_index_is_named_and_tried_again_later(tmp_path: Path) -> None:
    skill(tmp_path, "net", "netpkg-f6\n")
    port = free_port()
    url = f"http://alice:s3cr3t@127.0.0.1:{port}/simple"

    async def call() -> tuple[TaskStatus, dict[str, object] | None, str, bool]:
        async with SkillExecutionEngine(config=config(tmp_path, index_url=url)) as engine:
            r = await engine.execute("net", {})
            e = r.error
            return r.status, (e.details if e else None), (e.message if e else ""), \
                bool(e and e.retryable)

    status, details, message, retryable = arun(call())
    assert status is TaskStatus.REJECTED and details is not None
    assert message.startswith(f"skill 'net': the package index at 127.0.0.1:{port} failed "
                              "(uv): "), message
    assert "Connection refused" in message and "installing the package" not in message
    assert "s3cr3t" not in message and "alice" not in message
    assert retryable and details["transient"] is True  # was: retryable false, for good
    with serving(wheels(tmp_path), port=port) as index:
        # Within its backoff: refused at once, the index not asked again.
        status, _, message, retryable = arun(call())
        assert status is TaskStatus.REJECTED and retryable
        assert "a temporary failure: tried again at a call in" in message, message
        assert index.asked == []
        env = {"SKILLEXEC_ENVIRONMENTS__INDEX_URL": url,
               "SKILLEXEC_ENVIRONMENTS__INSTALLER": "uv"}
        assert listed(tmp_path, env)["net"]["state"] == "failed"
        # Once its backoff has passed (as if a minute went by), the next call tries again.
        [failed] = (tmp_path / "data" / "envs").glob("*.failed")
        memory = json.loads(failed.read_text())
        failed.write_text(json.dumps({**memory, "at": memory["at"] - 60}))
        status, _, message, _ = arun(call())
        assert status is TaskStatus.SUCCEEDED, message  # was: unavailable until skills install
        assert index.asked


def test_corrected_settings_forget_a_failure_and_a_5xx_is_transient(tmp_path: Path) -> None:
    skill(tmp_path, "net", "netpkg-f6\n")
    links = wheels(tmp_path)

    async def call(**environments: object) -> tuple[TaskStatus, str, bool]:
        async with SkillExecutionEngine(config=config(tmp_path, **environments)) as engine:
            r = await engine.execute("net", {})
            return r.status, r.error.message if r.error else "", bool(
                r.error and r.error.retryable)

    with serving(links, broken=True) as index:
        status, message, retryable = arun(call(index_url=index.url))
    assert status is TaskStatus.REJECTED and retryable
    assert f"the package index at 127.0.0.1:{index.port} failed (uv)" in message, message
    assert "500" in message
    # A failure of the package itself (not on that index) is remembered...
    status, message, retryable = arun(call(find_links=[str(tmp_path)], no_index=True))
    assert status is TaskStatus.REJECTED and not retryable
    assert "installing the package 'netpkg-f6' failed" in message
    status, message, _ = arun(call(find_links=[str(tmp_path)], no_index=True))
    assert "stays unavailable" in message
    # ... until the settings change: the corrected find-links install it at once.
    status, message, _ = arun(call(find_links=[str(links)], no_index=True))
    assert status is TaskStatus.SUCCEEDED, message


def test_a_shared_environments_failure_names_the_skill_called(tmp_path: Path) -> None:
    skill(tmp_path, "first-f8", "netpkg-f6\nmissing-f8\n")
    skill(tmp_path, "second-f8", "missing-f8\nnetpkg-f6\n")  # the same set
    links = wheels(tmp_path)

    async def go() -> tuple[str, str]:
        environments = {"find_links": [str(links)], "no_index": True}
        async with SkillExecutionEngine(config=config(tmp_path, **environments)) as engine:
            first = await engine.execute("first-f8", {})
            second = await engine.execute("second-f8", {})
            assert first.error is not None and second.error is not None
            assert second.error.details["skill_id"] == "second-f8"
            return first.error.message, second.error.message

    first, second = arun(go())
    assert first.startswith("skill 'first-f8': installing the package 'missing-f8'")
    assert second.startswith("skill 'second-f8': installing the package 'missing-f8'"), second
    assert "first-f8" not in second  # was: "skill 'first-f8': ..." to second-f8's caller
    env = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true", "SKILLEXEC_ENVIRONMENTS__INSTALLER": "uv"}
    states = listed(tmp_path, env)
    assert states["second-f8"]["state"] == "failed"
    assert "first-f8" not in str(states["second-f8"]["reason"])


def test_a_full_disk_is_transient_and_blames_no_package(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("mounting a small tmpfs needs root and unshare")
    links = tmp_path / "wheels"
    make_wheel(links, "bulky-f6", "1.0", f"DATA = {secrets.token_hex(400_000)!r}\n")
    skill(tmp_path, "big", "bulky-f6\n")
    envs = tmp_path / "data" / "envs"
    envs.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true", "SKILLEXEC_ENVIRONMENTS__INSTALLER": "uv"}
    # In a mount namespace of its own: a 300 KB disk under envs/, gone with the process.
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=300k tmpfs "$0" && exec "$@"',
         str(envs), sys.executable, "-m", "skillexec", "skills", "install", "big",
         "--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("skillexec: skill 'big': the disk is full"), r.stderr
    assert "a temporary failure" in r.stderr and "installing the package" not in r.stderr, r.stderr
