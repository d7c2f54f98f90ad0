"""A sandboxed script that fails silently for want of the network is told so.

Gamaroff's use-railway runs ``curl -s``: without network_access it exited 6 with nothing
on either stream, and the failure named nothing the operator could change. Where the
script's code goes online (a URL, a client library or program), the failure says the
sandbox has no network and how to grant it; a script that does not is told nothing of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import arun


def _fail(tmp_path: Path, code: str, name: str = "api.sh") -> ExecutionResult:
    folder = tmp_path / "skills" / "railway"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: railway\ndescription: R.\n---\nRun it.\n")
    (folder / "scripts" / name).write_text(code)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            return await e.run_script("railway", f"scripts/{name}")
    return arun(go())


def test_a_silent_failure_of_a_script_that_goes_online_says_the_network_is_off(
        tmp_path: Path) -> None:
    need_sandbox()
    # (as curl -s exits without network: 6, silent; the call is not made here)
    r = _fail(tmp_path, "#!/bin/bash\n[ -n \"$NEVER\" ] && curl -s "
              "https://backboard.railway.com/graphql\nexit 6\n")
    assert r.error is not None and r.error.code == "script_exit", r.error
    hint = r.error.details["sandbox"]
    assert hint.startswith("the skill has no network_access permission"), hint
    assert "per_skill = {'railway' = [\"network_access\"]}" in hint
    assert "has no network" in r.error.message


def test_a_script_that_does_not_go_online_is_told_nothing_of_the_network(
        tmp_path: Path) -> None:
    need_sandbox()
    r = _fail(tmp_path, "#!/bin/bash\necho counting\nexit 3\n")
    assert r.error is not None and "sandbox" not in r.error.details, r.error


def test_a_namespace_a_comment_or_its_own_error_is_no_sign_of_the_network(
        tmp_path: Path) -> None:
    """An SVG or DOCX writer names http:// namespaces that go nowhere; a comment's link is
    no code; a script whose traceback ends in an error of its own, or that was called with
    the wrong arguments (argparse's usage error), failed for that."""
    need_sandbox()
    for n, (name, code) in enumerate((
            ("a.sh", "#!/bin/bash\necho '<svg xmlns=\"http://www.w3.org/2000/svg\"/>' > a.svg\n"
                     "exit 3\n"),
            ("b.sh", "#!/bin/bash\n# docs: https://example.com/api (curl it by hand)\nexit 3\n"),
            ("c.py", "import socket  # noqa\nraise ValueError('bad row 3')\n"),
            ("d.py", "import argparse\nAPI = 'https://api.example.com'\n"
                     "p = argparse.ArgumentParser()\np.add_argument('query')\np.parse_args()\n"))):
        r = _fail(tmp_path / str(n), code, name)
        assert r.error is not None and r.error.code == "script_exit", r.error
        assert "sandbox" not in r.error.details and "network" not in r.error.message, r.error


def test_a_refused_connect_is_named_the_network_not_the_files(tmp_path: Path) -> None:
    """Python says "[Errno 13] Permission denied" of a connect the sandbox refused, as of a
    file: the hint named the workspace's write rule (trialA's load tester, 50 of 50
    requests to 127.0.0.1 failed), and now the network and how to grant it."""
    need_sandbox()
    code = ("import socket, sys, urllib.request\n"
            "try:\n    urllib.request.urlopen('http://127.0.0.1:9/', timeout=5)\n"
            "except OSError as exc:\n    print(f'URL Error: {exc.reason}', file=sys.stderr)\n"
            "s = socket.socket()\ns.connect(('127.0.0.1', 9))\n")
    r = _fail(tmp_path, code, "get.py")
    assert r.error is not None and r.error.code == "script_exit", r.error
    hint = r.error.details["sandbox"]
    assert hint.startswith("the skill has no network_access permission"), hint
