"""The line of a failed script's stderr that says why, and the sandbox's part in it."""

from __future__ import annotations

import pytest

from skillexec.script_stderr import sandbox_hint, telling_line

_NODE = ("node:internal/modules/esm/resolve:854\n  throw new ERR_MODULE_NOT_FOUND(x);\n"
         "        ^\n\nError [ERR_MODULE_NOT_FOUND]: Cannot find package 'sharp' imported "
         "from /s/scripts/a.mjs\n    at new NodeError (node:internal/errors:405:5) {\n"
         "  code: 'ERR_MODULE_NOT_FOUND'\n}\n\nNode.js v20.20.2\n")


@pytest.mark.parametrize(("stderr", "line"), [
    ("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    x()\n"
     "ValueError: bad\n", "ValueError: bad"),
    # imgly's Node scripts: the line was "Node.js v20.20.2", the last.
    (_NODE, "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'sharp' imported from "
            "/s/scripts/a.mjs"),
    ("TypeError [ERR_INVALID_ARG_TYPE]: The \"path\" argument must be of type string\n"
     "    at x\n\nNode.js v20.20.2\n",
     "TypeError [ERR_INVALID_ARG_TYPE]: The \"path\" argument must be of type string"),
    ("Error: the input file is missing\n    at main (a.js:3)\n",
     "Error: the input file is missing"),
    ("warming up\nall done badly\n", "all done badly"),
    # vercel-optimize's deep-dive.mjs: the line was the last of its explanation.
    ("[deep-dive] FATAL: no linked project in /w\n(The Vercel CLI resolves team/project "
     "from cwd; run it in the project)\n(or pass --project)\n",
     "[deep-dive] FATAL: no linked project in /w"),
    ("ERROR: config.yaml: no such file\nusage: tool [-h]\n", "ERROR: config.yaml: no such file"),
    ("", ""),
])
def test_the_telling_line(stderr: str, line: str) -> None:
    assert telling_line(stderr) == line


def test_the_sandboxs_part() -> None:
    assert sandbox_hint("PASS: checks\nPermissionError: [Errno 13] Permission denied: "
                        "'/tmp/x'\n", network=False) is not None
    offline = sandbox_hint("curl: (6) Could not resolve host: example.com\n", network=False)
    assert offline is not None and "network_access" in offline
    assert sandbox_hint("curl: (6) Could not resolve host: x\n", network=True) is None
    assert sandbox_hint("ValueError: bad\n", network=False) is None


@pytest.mark.timeout(20)
def test_a_hostile_scripts_stderr_cannot_stall_the_hints() -> None:
    """'Permission denied' and then 2,000 slashes took the hints' path pattern 22 s (cubic),
    on the engine's event loop: every call and /health waited."""
    from pathlib import Path

    from skillexec.script_hints import script_hints
    for stderr in ("Permission denied " + "/" * 50_000, ("EACCES " + "/x" * 2000 + "\n") * 30,
                   "/" * 50_000 + " Permission denied"):
        hints = script_hints(stderr=stderr, stdout="/" * 50_000, requires_python=None,
                             sandbox=True, network=False, address_space_mb=None, folder=None,
                             workdir=Path("/data/work/a"), args=())
        assert hints["sandbox"].startswith("the sandbox lets a script read")
