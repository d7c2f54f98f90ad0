"""An environments folder this user cannot write: an error that names it and the user.

After ``sudo skillexec skills install``, ``<data_dir>/envs`` is root's, and a service
running as another user failed each first call with a bare ``OSError``: the CLI printed
``skillexec: Permission denied: .../envs/<key>.lock`` even with ``--json``, and the
Python API raised it (no ``SkillExecError``). Another user is simulated by running as
root without the capability to override file permissions: the folder belongs to uid
12345, mode 755.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests._served import make_key
from tests._wheels import make_wheel
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)

CODE = "environments_not_writable"


def another_user() -> list[str]:
    """A command prefix that runs as a user who may not write a folder of uid 12345."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed to drop root's permission override")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", "--bounding-set", caps, "--inh-caps", caps, "--"]


def setup(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    links = tmp_path / "wheels"
    make_wheel(links, "locked-g7", "1.0", "VALUE = 1\n")
    folder = tmp_path / "skills" / "c"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": "c", "version": "1.0.0", "entry_point": "main:execute"}))
    (folder / "main.py").write_text("def execute(data):\n    import locked_g7\n    return 1\n")
    (folder / "requirements.txt").write_text("locked-g7\n")
    envs = tmp_path / "data" / "envs"
    envs.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(envs, 12345, 12345)
    envs.chmod(0o755 if os.geteuid() == 0 else 0o555)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "300",
           "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
           "SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
           "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    return ["--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")], env


def run(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*another_user(), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def said_right(message: str, tmp_path: Path) -> None:
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "")
    assert f"the environments folder {tmp_path / 'data' / 'envs'} is not writable by " \
        f"user {user!r}" in message, message
    assert "Permission denied" in message


def test_the_cli_says_which_folder_and_user_and_json_stays_json(tmp_path: Path) -> None:
    where, env = setup(tmp_path)
    cmd = [sys.executable, "-m", "skillexec"]
    r = run([*cmd, "run", "c", "--json", *where], tmp_path, env)
    doc = json.loads(r.stdout)  # was: a bare stderr line, no JSON
    assert doc["status"] == "rejected", doc
    assert doc["error"]["type"] == "dependency_error" and doc["error"]["code"] == CODE
    said_right(doc["error"]["message"], tmp_path)
    r = run([*cmd, "skills", "install", "c", *where], tmp_path, env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("skillexec: skill 'c': the environments folder "), r.stderr
    said_right(r.stderr, tmp_path)


def test_the_python_api_raises_no_oserror(tmp_path: Path) -> None:
    where, env = setup(tmp_path)
    code = ("import asyncio, json, sys\n"
            "from skillexec import SkillExecutionEngine\n"
            "async def go():\n"
            "    async with SkillExecutionEngine(skills_dir=sys.argv[1], "
            "data_dir=sys.argv[2]) as e:\n"
            "        r = await e.execute('c', {})\n"
            "        print(json.dumps([r.status.value, r.error.code, r.error.message]))\n"
            "asyncio.run(go())\n")
    r = run([sys.executable, "-c", code, where[1], where[3]], tmp_path, env)
    assert r.returncode == 0, r.stderr  # was: OSError out of run
    status, error_code, message = json.loads(r.stdout)
    assert (status, error_code) == ("rejected", CODE)
    said_right(message, tmp_path)


def test_the_service_answers_the_error_not_500(tmp_path: Path) -> None:
    where, env = setup(tmp_path)
    key = make_key(tmp_path / "data", "admin")["key"]
    proc = subprocess.Popen([*another_user(), sys.executable, "-m", "skillexec", "serve",
                             "--port", "0", *where], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        lines = []
        for _ in range(60):
            line = proc.stderr.readline()
            lines.append(line)
            assert line, "".join(lines)
            if "serving http://" in line:
                break
        base = line.split("serving ")[1].split(" ")[0]
        with httpx.Client(base_url=base, timeout=60) as client:
            r = client.post("/api/skills/c/execute", json={"parameters": {}},
                            headers={"X-API-Key": key})
        assert r.status_code == 409, r.text  # a refusal before it ran; was: 500
        error = r.json()["error"]
        assert error["code"] == "DEPENDENCY_CONFLICT" and error["details"]["engine_code"] == CODE
        said_right(error["message"], tmp_path)
    finally:
        proc.terminate()
        proc.wait(30)
