"""Without network_access a name lookup fails at once and for good.

In the sandbox's network namespace a lookup went to the machine's DNS server with no route
to it, and glibc answered EAI_AGAIN ("Temporary failure in name resolution"), a failure
worth retrying: npm retried it with backoff until the call's 60 s timeout (trialA, finding
4: ``npx --no-install tsc --version``, 0.9 s on the host). Names now come from /etc/hosts
alone there: any other is EAI_NONAME (node's ENOTFOUND), which no client retries, and
``localhost`` still resolves.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from skillexec import SkillExecutionEngine
from tests._isolation import need_sandbox
from tests.conftest import arun

_PY = """import socket, time
t = time.monotonic()
try:
    socket.getaddrinfo("registry.npmjs.org", 443)
    print("resolved")
except socket.gaierror as exc:
    print(exc.errno == socket.EAI_NONAME, exc.errno, round(time.monotonic() - t, 1))
print(socket.getaddrinfo("localhost", 80)[0][4][0] in ("127.0.0.1", "::1"))
"""
_NODE = """require("dns").lookup("registry.npmjs.org", (err) => console.log(err && err.code));
"""


def test_a_lookup_without_the_network_is_not_found_not_temporary(tmp_path: Path) -> None:
    need_sandbox()
    folder = tmp_path / "skills" / "lookup"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: lookup\ndescription: L.\n---\nRun it.\n")
    (folder / "scripts" / "look.py").write_text(_PY)
    (folder / "scripts" / "look.js").write_text(_NODE)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    node = shutil.which("node") is not None

    async def go() -> tuple[str, str | None]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("lookup", "scripts/look.py")
            assert r.ok, r.error
            js = await e.run_script("lookup", "scripts/look.js") if node else None
            assert js is None or js.ok, js and js.error
            return str(r.output["stdout"]), js and str(js.output["stdout"])
    py, js = arun(go())
    first, second = py.splitlines()
    assert first.split()[0] == "True" and float(first.split()[2]) < 2, py
    assert second == "True", py
    assert js is None or js.strip() == "ENOTFOUND", js
