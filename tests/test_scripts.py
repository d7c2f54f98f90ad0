"""Bundled scripts run as tasks (DESIGN §3.5): engine.run_script through the whole pipeline,
in the sandbox by default (as root and, in scripts/test.sh, again as nobody)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.errors import ParameterError
from skillexec.scripts import script_params, workspace_path
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import FIXTURES, arun

SKILLS = FIXTURES / "scripts"
PDF = "pdf-forms"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    need_sandbox()


def make_form_pdf(fields: tuple[str, ...] = ("name", "city")) -> bytes:
    """A one-page PDF with fillable text fields, made with pypdf."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    writer = PdfWriter()
    page = writer.add_blank_page(width=300, height=300)
    annots = ArrayObject()
    for i, name in enumerate(fields):
        field = DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Tx"),
            NameObject("/T"): TextStringObject(name),
            NameObject("/V"): TextStringObject(""),
            NameObject("/F"): NumberObject(4),
            NameObject("/Rect"): ArrayObject([FloatObject(20), FloatObject(200 - 40 * i),
                                              FloatObject(200), FloatObject(220 - 40 * i)]),
        })
        annots.append(writer._add_object(field))
    page[NameObject("/Annots")] = annots
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(list(annots))})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def engine(tmp_path: Path, **kw: Any) -> SkillExecutionEngine:
    return SkillExecutionEngine(skills_dir=SKILLS, data_dir=tmp_path / "data", **kw)


def run(tmp_path: Path, script: str, **kw: Any) -> ExecutionResult:
    async def go() -> ExecutionResult:
        async with engine(tmp_path) as e:
            return await e.run_script(PDF, script, **kw)
    return arun(go())


def test_pdf_workflow_in_one_session(tmp_path: Path) -> None:
    """check, extract the fields, fill them: three calls sharing one session's files."""
    from pypdf import PdfReader

    async def go() -> tuple[list[ExecutionResult], bytes, list[dict[str, Any]]]:
        async with engine(tmp_path) as e:
            sid = e.sessions.create(ttl_s=600)
            check = await e.run_script(PDF, "scripts/check_fillable_fields.py",
                                       args=["form.pdf"], files={"form.pdf": make_form_pdf()},
                                       session=sid)
            extract = await e.run_script(PDF, "scripts/extract_form_field_info.py",
                                         args=["form.pdf", "fields.json"], session=sid)
            values = [{"field_id": "name", "value": "Ada"}, {"field_id": "city", "value": "Paris"}]
            fill = await e.run_script(
                PDF, "scripts/fill_fillable_fields.py",
                args=["form.pdf", "values.json", "out/filled.pdf"], session=sid,
                files={"values.json": json.dumps(values).encode(), "out/.keep": b""})
            # Artifacts are labelled with the file's path in the workspace, as the
            # session's listing has it.
            out = next(iter(a for a in fill.artifacts if a.name == "out/filled.pdf"))
            files = e.sessions.files(sid)
            return [check, extract, fill], await e.artifacts.read(out.id), files

    (check, extract, fill), filled, files = arun(go())
    assert check.status is TaskStatus.SUCCEEDED, check.error
    assert check.output["stdout"] == "This PDF has fillable form fields\n"
    assert check.skill_id == "pdf-forms:scripts/check_fillable_fields.py"
    assert extract.status is TaskStatus.SUCCEEDED, extract.error
    assert [a.name for a in extract.artifacts] == ["fields.json"]  # made by the script
    assert fill.status is TaskStatus.SUCCEEDED, fill.error
    # Files the call brought are not artifacts; what the script made is.
    assert [a.name for a in fill.artifacts] == ["out/filled.pdf"]
    import io
    got = {k: v.get("/V") for k, v in (PdfReader(io.BytesIO(filled)).get_fields() or {}).items()}
    assert got == {"name": "Ada", "city": "Paris"}
    assert {f["path"] for f in files} == {"form.pdf", "fields.json", "values.json",
                                          "out/filled.pdf", "out/.keep"}


def test_failing_script_exit_code_and_stderr(tmp_path: Path) -> None:
    r = run(tmp_path, "scripts/fail.py")
    assert r.status is TaskStatus.FAILED
    assert r.error is not None and r.error.code == "script_exit"
    assert "status 3" in r.error.message and "no such form" in r.error.message
    assert r.error.details["exit_code"] == 3
    assert r.error.details["stdout"] == "working on it\n"
    assert r.attempts == 1  # scripts are not idempotent: never retried


def test_uncaught_exception_is_exit_1_with_traceback(tmp_path: Path) -> None:
    r = run(tmp_path, "scripts/crash.py")
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.details["exit_code"] == 1
    assert "ValueError: a bug in the script" in r.error.details["stderr"]
    # As `python crash.py` prints it: from the script's own frame, none of the engine's.
    lines = r.error.details["stderr"].splitlines()
    assert lines[0] == "Traceback (most recent call last):", lines
    assert lines[1].startswith('  File "') and "crash.py" in lines[1], lines
    assert "skillexec" not in r.error.details["stderr"]


def test_a_long_traceback_is_cut_at_a_line_in_the_message(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    shutil.copytree(SKILLS / PDF, skills / PDF)
    (skills / PDF / "scripts" / "deep.py").write_text(
        "def f(n):\n    return f(n - 1) if n else 1 / 0\n\nf(30)\n")

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            return await e.run_script(PDF, "scripts/deep.py")

    r = arun(go())
    assert r.error is not None and r.error.code == "script_exit"
    _, _, tail = r.error.message.partition("status 1: ")
    stderr = "\n" + r.error.details["stderr"].strip()
    assert stderr.endswith("\n" + tail) and len(tail) <= 500, tail[:80]  # whole lines
    assert tail.endswith("ZeroDivisionError: division by zero")


@pytest.mark.parametrize("script", ["../pdf-forms/../../x.py", "/etc/passwd",
                                    "scripts/../../other/x.py", "scripts/link.py", ""])
def test_script_outside_the_folder_is_refused_before_running(tmp_path: Path,
                                                               script: str) -> None:
    skills = tmp_path / "skills"
    shutil.copytree(SKILLS / PDF, skills / PDF)
    (skills / PDF / "scripts" / "link.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "outside.py").write_text("open('/tmp/ran', 'w')\n")

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            return await e.run_script(PDF, script)
    r = arun(go())
    assert r.status is TaskStatus.REJECTED
    assert r.error is not None and r.error.type.value == "parameter_error"
    assert r.error.code in ("script_outside_skill", "invalid_script_path")
    assert "''s" not in r.error.message  # "skill 'pdf-forms''s folder" read badly


def test_unknown_script_and_suffix_are_refused(tmp_path: Path) -> None:
    r = run(tmp_path, "scripts/nope.py")
    assert r.status is TaskStatus.REJECTED and r.error is not None
    assert r.error.code == "script_not_found"
    r = run(tmp_path, "SKILL.md")
    assert r.error is not None and r.error.code == "script_unsupported"
    # A folder is named as one, with the scripts there are (Qwayk's 'src', a '.').
    for folder in ("scripts", ".", "scripts/"):
        r = run(tmp_path, folder)
        assert r.error is not None and r.error.code == "script_not_found"
        assert r.error.message.startswith(f"{folder!r} is a folder of skill 'pdf-forms', not "
                                          "a script; its scripts: scripts/"), r.error.message


def test_argv_is_passed_verbatim(tmp_path: Path) -> None:
    args = ["a b", "$(touch pwned)", "; rm -rf /", "`id`", "*", "'\"", "--flag=x|y", "", "é"]
    r = run(tmp_path, "scripts/echo_args.py", args=args, stdin="from stdin\n")
    assert r.status is TaskStatus.SUCCEEDED, r.error
    seen = json.loads(r.output["stdout"])
    assert seen["argv"] == args
    assert seen["name"] == "__main__"
    assert seen["stdin"] == "from stdin\n"
    assert seen["path0"].endswith("pdf-forms/scripts")  # the script's own folder first
    assert not os.path.exists(os.path.join(seen["cwd"], "pwned"))


def test_a_script_is_answered_at_its_end_not_once_its_exit_is_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child says its script ended (exit code, CPU time) as its last act: the call is
    answered then, its output whole, rather than once the zygote has reaped the child and
    reported its exit (after the teardown of a copy of the warm parent's address space:
    milliseconds). Here each such report reaches the engine 3 s late."""
    from skillexec.runtime.runners._zygote_handle import ZygoteHandle

    dispatch = ZygoteHandle._dispatch

    def late(self: ZygoteHandle, msg: dict[str, Any]) -> None:
        if msg.get("t") == "exited":
            asyncio.get_running_loop().call_later(3.0, dispatch, self, msg)
        else:
            dispatch(self, msg)

    monkeypatch.setattr(ZygoteHandle, "_dispatch", late)

    async def go() -> tuple[list[ExecutionResult], float]:
        async with engine(tmp_path) as e:
            await e.run_script(PDF, "scripts/noop.py")  # the script parent started
            t0 = time.monotonic()
            rs = [await e.run_script(PDF, "scripts/fail.py"),
                  await e.run_script(PDF, "scripts/echo_args.py", args=["x"])]
            return rs, time.monotonic() - t0
    (failed, echoed), took_s = arun(go())
    assert took_s < 2.5
    assert failed.error is not None and failed.error.code == "script_exit"
    assert failed.error.details["exit_code"] == 3
    assert failed.error.details["stdout"] == "working on it\n"
    assert "no such form" in failed.error.details["stderr"]
    assert echoed.status is TaskStatus.SUCCEEDED, echoed.error
    assert json.loads(echoed.output["stdout"])["argv"] == ["x"]
    assert echoed.metrics["cpu_ms"] > 0


def test_calls_in_one_parent_each_see_their_own_run(tmp_path: Path) -> None:
    """A call without stdin has its run set up by the warm parent before the fork (its
    ``__main__``, argv and path), which puts its own back after: call after call, with
    or without stdin, each script sees its own arguments and its folder first, once."""
    async def go() -> list[ExecutionResult]:
        async with engine(tmp_path) as e:
            return [await e.run_script(PDF, "scripts/echo_args.py", args=[f"call {i}"],
                                       stdin="in\n" if i == 2 else None) for i in range(4)]
    results = arun(go())
    for i, r in enumerate(results):
        assert r.status is TaskStatus.SUCCEEDED, r.error
        seen = json.loads(r.output["stdout"])
        assert seen["argv"] == [f"call {i}"]
        assert seen["stdin"] == ("in\n" if i == 2 else "")
        assert seen["name"] == "__main__" and seen["main"] is True
        assert seen["file"].endswith("pdf-forms/scripts/echo_args.py")
        assert seen["path0"].endswith("pdf-forms/scripts")
        assert seen["path1"] != seen["path0"]  # not left there by an earlier call


def test_a_call_forked_beside_two_running_children_sees_its_own_run(tmp_path: Path) -> None:
    """What made test_calls_in_one_parent_each_see_their_own_run fail in CI when the
    children of the calls before had not been reaped yet; here two calls are kept running
    (their children alive) while a third forks."""
    async def go() -> ExecutionResult:
        async with engine(tmp_path) as e:
            await e.run_script(PDF, "scripts/noop.py")  # the script parent started
            a = asyncio.ensure_future(e.run_script(PDF, "scripts/slow.py", args=["a", "2"]))
            await asyncio.sleep(0.5)
            b = asyncio.ensure_future(e.run_script(PDF, "scripts/slow.py", args=["b", "2"]))
            await asyncio.sleep(0.5)
            try:
                return await e.run_script(PDF, "scripts/echo_args.py", args=["c"])
            finally:
                await asyncio.gather(a, b)
    r = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    seen = json.loads(r.output["stdout"])
    assert seen["path0"].endswith("pdf-forms/scripts") and seen["path1"] != seen["path0"]


def test_a_scripts_arguments_never_reach_its_warm_parent(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    """The parent sets a call's run up before the fork, but its arguments go to the child
    alone: what the parent's memory held, later calls' children (other callers' too)
    would inherit."""
    import orjson

    from skillexec.runtime.runners._zygote_handle import ZygoteHandle

    sent: list[bytes] = []
    fork = ZygoteHandle.fork

    async def spy(self: ZygoteHandle, request: dict[str, Any], fds: list[int]) -> Any:
        sent.append(orjson.dumps(request))
        return await fork(self, request, fds)

    monkeypatch.setattr(ZygoteHandle, "fork", spy)
    for args in (["s3cr3t-argument", "", "é\x01"], ["s3cr3t", "ü"]):
        r = run(tmp_path, "scripts/echo_args.py", args=args)
        assert r.status is TaskStatus.SUCCEEDED, r.error
        assert json.loads(r.output["stdout"])["argv"] == args
    assert sent and not any(b"s3cr3t" in m for m in sent)


def test_an_argument_holding_a_nul_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """No argv can carry a NUL: a bash script's exec failed on it (exit 71, no stderr, no
    reason given); now every script's call is refused naming the argument."""
    for script in ("scripts/hello.sh", "scripts/echo_args.py"):
        r = run(tmp_path, script, args=["fine", "a\0b"])
        assert r.status is TaskStatus.REJECTED, (script, r.status, r.error)
        assert r.error is not None and r.error.code == "invalid_script_args"
        assert "argument 2" in r.error.message and "NUL" in r.error.message


def test_node_script(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("no node on this machine")
    r = run(tmp_path, "scripts/hello.js", args=["x y", "$HOME"])
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert json.loads(r.output["stdout"])["args"] == ["x y", "$HOME"]
    assert [a.name for a in r.artifacts] == ["from-node.txt"]


def test_a_commonjs_script_is_a_script(tmp_path: Path) -> None:
    """superpowers' brainstorming skill bundles scripts/server.cjs: skillexec had an
    interpreter for .cjs, but listed the file as a resource, not a script."""
    from skillexec.scripts import INTERPRETERS
    from skillexec.skills.bundle import SCRIPT_SUFFIXES
    from skillexec.skills.entry_points import _SCRIPT_RUNNERS
    assert set(INTERPRETERS) == SCRIPT_SUFFIXES
    # An entry file runs as the same script would (a .sh under bash, not sh).
    assert {k: v for k, v in INTERPRETERS.items() if v != "python"} == _SCRIPT_RUNNERS
    if shutil.which("node") is None:
        pytest.skip("no node on this machine")
    folder = tmp_path / "skills" / "brainstorm"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: brainstorm\ndescription: Ideas.\n---\nGo.\n")
    (folder / "scripts" / "server.cjs").write_text(
        "console.log(JSON.stringify({kind: typeof require, args: process.argv.slice(2)}));\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "data") as e:
            assert e.skills.get("brainstorm").scripts == ("scripts/server.cjs",)
            return await e.run_script("brainstorm", "scripts/server.cjs", args=["a b"])
    r = arun(go())
    assert r.ok, r.error
    assert json.loads(r.output["stdout"]) == {"kind": "function", "args": ["a b"]}


def test_a_script_without_a_suffix_runs_by_its_first_line(tmp_path: Path) -> None:
    """spark-video bundles scripts/bl, a bash script with no suffix: it was refused."""
    folder = tmp_path / "skills" / "video"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: video\ndescription: V.\n---\nGo.\n")
    (folder / "scripts" / "bl").write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\nwords=(\"$@\")\necho \"bash ${#words[@]}\"\n")
    (folder / "scripts" / "py").write_text("#!/usr/bin/python3.11 -u\nimport sys\n"
                                           "print('python', sys.argv[1:])\n")
    (folder / "scripts" / "notes").write_text("just text\n")
    (folder / "scripts" / "perl").write_text("#!/usr/bin/perl\nprint 1;\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "data") as e:
            assert e.skills.get("video").scripts == ("scripts/bl", "scripts/py")
            return [await e.run_script("video", script, args=["a b", "c"])
                    for script in ("scripts/bl", "scripts/py", "scripts/perl")]
    bl, py, perl = arun(go())
    assert (bl.ok, py.ok) == (True, True), (bl.error, py.error)
    assert bl.output["stdout"] == "bash 2\n"
    assert py.output["stdout"] == "python ['a b', 'c']\n"
    assert perl.error is not None and perl.error.code == "script_unsupported"
    assert "its first line '#!' python, node, bash or sh" in perl.error.message


def test_bash_script_and_its_exit_code(tmp_path: Path) -> None:
    r = run(tmp_path, "scripts/hello.sh", args=["one", "two words", "$(id)"])
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert r.output["stdout"] == "bash got 3 args\n"

    async def go() -> tuple[ExecutionResult, bytes]:
        async with engine(tmp_path) as e:
            ok = await e.run_script(PDF, "scripts/hello.sh", args=["one", "two words", "$(id)"])
            return ok, await e.artifacts.read(ok.artifacts[0].id)
    _, data = arun(go())
    assert data == b"one\ntwo words\n$(id)\n"
    r = run(tmp_path, "scripts/hello.sh", args=["fail"])
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.details["exit_code"] == 4 and "bash failing" in r.error.message


def test_writing_outside_the_workspace_is_refused_by_the_sandbox(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # not the file mode: the sandbox is what must refuse
    r = run(tmp_path, "scripts/write_outside.py", args=[str(target)])
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "script_exit"
    assert "Error" in r.error.details["stderr"]
    assert not target.exists()
    # richfrem's inventory script writes /tmp/...: the user hears that it is the sandbox.
    assert r.error.message.endswith("(the sandbox lets a script read its skill's folder and "
                                    "the system's, and write only in its workspace (its "
                                    "current folder))")


def test_a_script_without_network_is_told_why_its_lookup_failed(tmp_path: Path) -> None:
    """cannbot's version check failed on 'Temporary failure in name resolution', with no
    word that the sandbox has no network without the network_access permission."""
    folder = tmp_path / "skills" / "online"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: online\ndescription: O.\n---\nGo.\n")
    (folder / "scripts" / "look.py").write_text(
        "import socket\nsocket.getaddrinfo('example.com', 443)\n")
    (folder / "scripts" / "fail.sh").write_text("echo 'no luck' >&2\nexit 3\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "data") as e:
            return [await e.run_script("online", s) for s in ("scripts/look.py",
                                                                "scripts/fail.sh")]
    look, fail = arun(go())
    assert look.error is not None and look.error.code == "script_exit"
    assert look.error.details["sandbox"] == (
        "the skill has no network_access permission, so its sandbox has no network (the "
        "operator grants it: [permissions] per_skill = {'online' = [\"network_access\"]})")
    assert fail.error is not None and "sandbox" not in fail.error.details


def test_files_outside_the_workspace_are_refused(tmp_path: Path) -> None:
    for bad in ("../x", "/etc/x", "a/../../x", "."):
        r = run(tmp_path, "scripts/noop.py", files={bad: b"x"})
        assert r.status is TaskStatus.REJECTED and r.error is not None
        assert r.error.code in ("file_outside_workspace", "invalid_file_path"), bad


def test_script_call_is_journaled(tmp_path: Path) -> None:
    async def go() -> tuple[ExecutionResult, Any]:
        async with engine(tmp_path) as e:
            r = await e.run_script(PDF, "scripts/echo_args.py", args=["x"])
            return r, await e.status(r.task_id)
    _, info = arun(go())
    assert info.status is TaskStatus.SUCCEEDED
    assert info.skill_id == "pdf-forms:scripts/echo_args.py"


def test_a_timeout_stops_the_script(tmp_path: Path) -> None:
    r = run(tmp_path, "scripts/slow.py", args=["t", "30"], timeout=1.0)
    assert r.status is TaskStatus.TIMED_OUT


def test_what_a_script_printed_before_its_timeout_is_kept(tmp_path: Path) -> None:
    """Its stdout is a pipe: Python buffered the lines in the child, and the kill at the
    timeout lost them (its stderr was kept). Line by line now, as in a terminal, so it holds
    also for a script that ignores the signals a polite stop would send."""
    skills = tmp_path / "skills"
    shutil.copytree(SKILLS / PDF, skills / PDF)
    (skills / PDF / "scripts" / "hang.py").write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('step 1 done')\nprint('installing pnpm...')\n"
        "print('to stderr', file=sys.stderr)\ntime.sleep(60)\n")

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            return await e.run_script(PDF, "scripts/hang.py", timeout=1.5)
    r = arun(go())
    assert r.status is TaskStatus.TIMED_OUT and r.error is not None
    assert r.error.details["stdout"] == "step 1 done\ninstalling pnpm...\n", r.error.details
    assert r.error.details["stderr"] == "to stderr\n"


def test_a_script_past_the_stream_cap_is_told_where_large_output_goes(tmp_path: Path) -> None:
    """A script that prints a whole extracted text (over the cap of each stream, here set
    to 1 MiB) was told only that it wrote too much: the message now says where large output
    goes, and which setting is the cap."""
    skills = tmp_path / "skills"
    shutil.copytree(SKILLS / PDF, skills / PDF)
    (skills / PDF / "scripts" / "flood.py").write_text(
        "import sys\nprint('page 1 of 900', file=sys.stderr)\nprint('x' * (2 << 20))\n")

    async def go() -> ExecutionResult:
        config = EngineConfig(skills_dir=skills, data_dir=tmp_path / "d",
                              limits={"max_stream_bytes": 1 << 20})
        async with SkillExecutionEngine(config=config) as e:
            return await e.run_script(PDF, "scripts/flood.py")
    r = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "output_too_large" and r.error.details["stream"] == "stdout"
    assert r.error.message.endswith("bytes to stdout (each stream's cap, "
                                    "limits.max_stream_bytes; the first 16 KiB "
                                    "of each are in the details); write large "
                                    "output to a file in the workspace instead: the files "
                                    "a script writes are the call's artifacts"), r.error
    # What it printed first says what it was doing (a script printing 13 MB showed nothing).
    assert r.error.details["stdout"] == "x" * (16 << 10)
    # (and maybe the BrokenPipeError it met as the engine stopped reading, before its kill)
    assert r.error.details["stderr"].startswith("page 1 of 900\n")


def test_env_paths_are_importable_by_scripts(tmp_path: Path) -> None:
    """Skill.env_paths (set by the environment provisioner) come first on the script's
    sys.path and are readable in the sandbox."""
    import dataclasses

    env = tmp_path / "env" / "site-packages"
    env.mkdir(parents=True)
    (env / "only_in_env.py").write_text("VALUE = 'from the env'\n")
    skills = tmp_path / "skills"
    shutil.copytree(SKILLS / PDF, skills / PDF)
    (skills / PDF / "scripts" / "use_env.py").write_text(
        "import only_in_env\nprint(only_in_env.VALUE)\n")
    os.chmod(tmp_path, 0o755)
    for p in (tmp_path / "env", env, env / "only_in_env.py"):
        os.chmod(p, 0o755)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            base = e.register(skills / PDF)
            e.skills.add(dataclasses.replace(base, env_paths=(str(env),)))
            return await e.run_script(PDF, "scripts/use_env.py")
    r = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert r.output["stdout"] == "from the env\n"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_workspace_paths_never_leave_the_workspace(path: str) -> None:
    try:
        rel = workspace_path(path)
    except ParameterError:
        return
    root = "/ws"
    assert os.path.normpath(os.path.join(root, rel)).startswith(root + "/")


def test_script_params_refuse_bad_types() -> None:
    with pytest.raises(ParameterError):
        script_params(args="a b", files=None, stdin=None, session=None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        script_params(args=[], files={"a": "text"}, stdin=None,  # type: ignore[dict-item]
                      session=None)


def test_a_script_swapped_for_a_link_after_a_call_is_refused(tmp_path: Path) -> None:
    """The derived skill is kept between calls, but each call resolves the script's path
    again: a link (or a folder) put where a script was is seen at the next call."""
    skills = tmp_path / "skills"
    folder = skills / "swap"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: swap\ndescription: d\n---\nRun it.\n")
    script = folder / "scripts" / "go.py"
    script.write_text("print('inside')\n")
    (tmp_path / "outside.py").write_text("print('outside')\n")

    async def go() -> list[ExecutionResult]:
        out = []
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            out.append(await e.run_script("swap", "scripts/go.py"))
            script.unlink()
            script.symlink_to(tmp_path / "outside.py")
            out.append(await e.run_script("swap", "scripts/go.py"))
            script.unlink()
            script.mkdir()
            out.append(await e.run_script("swap", "scripts/go.py"))
            script.rmdir()
            script.write_text("print('back')\n")
            out.append(await e.run_script("swap", "./scripts//go.py"))
        return out
    first, linked, folder_there, back = arun(go())
    assert first.ok and first.output["stdout"] == "inside\n", first.error
    assert linked.error is not None and linked.error.code == "script_outside_skill"
    assert folder_there.error is not None and folder_there.error.code == "script_not_found"
    assert back.ok and back.output["stdout"] == "back\n", back.error


def test_a_script_path_is_resolved_by_the_kernel_as_realpath_resolves_it(
        tmp_path: Path) -> None:
    """Each call resolves its script's path with one open (the kernel's answer, read back
    from /proc) instead of an lstat per component: the same answer as realpath, links
    inside and outside the folder included; what cannot be opened falls back to realpath."""
    from skillexec.scripts import _opened_path, resolve_script
    from skillexec.skills.model import Entry, EntryKind, Skill

    folder = tmp_path / "real" / "skill"
    (folder / "scripts").mkdir(parents=True)
    (folder / "scripts" / "go.py").write_text("")
    (folder / "scripts" / "alias.py").symlink_to("go.py")
    (tmp_path / "outside.py").write_text("")
    (folder / "scripts" / "out.py").symlink_to(tmp_path / "outside.py")
    (folder / "scripts" / "dangling.py").symlink_to(tmp_path / "gone.py")
    (tmp_path / "linked").symlink_to(tmp_path / "real")  # the folder reached by a link
    for path in ("scripts/go.py", "scripts/alias.py", "scripts/out.py", "scripts"):
        got = _opened_path(str(tmp_path / "linked" / "skill" / path))
        assert got is not None
        assert got[0] == os.path.realpath(tmp_path / "linked" / "skill" / path)
        assert got[1] is (path != "scripts")
    assert _opened_path(str(folder / "scripts" / "dangling.py")) is None
    skill = Skill(id="s", version="1", entry=Entry(kind=EntryKind.PYTHON), path=folder)
    assert resolve_script(skill, "scripts/alias.py")[1] == folder / "scripts" / "go.py"
    for outside in ("scripts/out.py", "scripts/dangling.py"):
        with pytest.raises(ParameterError) as exc:
            resolve_script(skill, outside)
        assert exc.value.info.code == "script_outside_skill"
    with pytest.raises(ParameterError) as exc:
        resolve_script(skill, "scripts")
    assert exc.value.info.code == "script_not_found"


@pytest.mark.deep_tree
def test_skill_folders_deep_or_with_names_that_are_not_text(tmp_path: Path) -> None:
    """A third-party skill folder may nest folders past Python's recursion limit, and name
    files with bytes that are not UTF-8: its scripts run (the engine's walks of the folder
    recursed: 'internal error: RecursionError'), and what cannot be named as text is not
    offered (its listing failed to encode: `skills show` ended in an internal error)."""
    skills = tmp_path / "skills"
    folder = skills / "odd"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: odd\ndescription: an odd folder\n---\n\nx\n")
    (folder / "scripts" / "hi.py").write_text("print('hi')\n")
    (folder / "scripts" / os.fsdecode(b"b\xff.py")).write_text("print('odd')\n")
    deep = folder / "vendored"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(1100):  # os.makedirs recurses too
        os.mkdir("d", dir_fd=fd)
        fd, up = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(up)
    os.close(fd)

    async def go() -> tuple[ExecutionResult, dict[str, Any]]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            r = await e.run_script("odd", "scripts/hi.py")
            odd = e.skills.get("odd")
            return r, {"scripts": list(odd.scripts),
                       "resources": [res.path for res in odd.resources]}
    r, shown = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert r.output["stdout"] == "hi\n"
    assert shown["scripts"] == ["scripts/hi.py"]
    orjson.dumps(shown)
    done = subprocess.run([sys.executable, "-m", "skillexec", "skills", "show", "odd",
                           "--skills-dir", str(skills)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_module_beyond_the_skill_is_named_as_the_sandboxs_refusal(tmp_path: Path) -> None:
    """thoughtspot's build_erd.py puts ../../shared/erd on sys.path and imports 'parser'
    from it: the sandbox refuses the folder, and the advice was to install 'parser', an
    unrelated project on the index."""
    skills = tmp_path / "skills"
    (skills / "shared" / "erd").mkdir(parents=True)
    (skills / "shared" / "erd" / "parser.py").write_text("X = 1\n")
    folder = skills / "erd"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: erd\ndescription: ERDs.\n---\nGo.\n")
    (folder / "scripts" / "build.py").write_text(
        "import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), "
        "'../../shared/erd'))\nimport parser\nprint(parser.X)\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    (folder / "scripts" / "typo.py").write_text(
        (folder / "scripts" / "build.py").read_text().replace("shared/erd", "shard/erd"))

    async def go() -> tuple[ExecutionResult, ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            return (await e.run_script("erd", "scripts/build.py"),
                    await e.run_script("erd", "scripts/typo.py"))
    r, typo = arun(go())
    assert typo.error is not None and typo.error.code == "missing_module"  # not the sandbox
    assert r.error is not None and r.error.code == "sandbox_denied", r.error
    assert r.error.details["module"] == "parser" and "package" not in r.error.details
    assert "is outside the skill's folder, which the sandbox lets no skill read" in (
        r.error.message)
    assert r.error.details["blocked"][0].endswith("shared/erd")


def test_a_python_scripts_programs_get_the_address_space_commands_get(tmp_path: Path) -> None:
    """monkey-skills' epub_to_markdown.py runs pandoc, which could not start a thread under
    the script's RLIMIT_AS (memory_mb): a Python script's programs get the address space a
    command gets (none where a memory cgroup bounds the call, 4x + 1 GB where none does)."""
    need_sandbox()
    folder = tmp_path / "skills" / "books"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: books\ndescription: B.\n---\nRun it.\n")
    # A program that reserves 1 GiB of address space and touches none of it (as a JVM or
    # node does): twice the skill's 512 MB.
    (folder / "scripts" / "convert.py").write_text(
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import mmap; "
        "m = mmap.mmap(-1, 1 << 30); print(\"reserved\")'], check=True)\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> tuple[ExecutionResult, bool]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("books", "scripts/convert.py")
            cgroups = getattr(e._pipeline.runners["sandbox"], "zygotes").cgroups
            return r, cgroups is not None and cgroups.has_memory
    r, _memory_cgroup = arun(go())
    # Where none does, a Python script's address space is a command's too (its own memory
    # is RLIMIT_DATA's: see test_script_memory).
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert r.output["stdout"] == "reserved\n"


def test_a_node_script_may_use_webassembly_where_a_cgroup_bounds_its_memory(
        tmp_path: Path) -> None:
    """Node's fetch() compiles its HTTP parser to WebAssembly, and V8 reserves ~10 GB of
    address space for any wasm memory: under RLIMIT_AS of a few GB no node script could
    make a request (Lbstrydom's openai-audit.mjs). Where a memory cgroup bounds the call,
    programs get no RLIMIT_AS; where none does, the refusal says it was the limit."""
    need_sandbox()
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    folder = tmp_path / "skills" / "w"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: w\ndescription: W.\n---\nRun it.\n")
    (folder / "scripts" / "wasm.mjs").write_text(
        "const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1]);\n"
        "await WebAssembly.instantiate(bytes);\nconsole.log('wasm ok');\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> tuple[ExecutionResult, bool]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("w", "scripts/wasm.mjs")
            cgroups = getattr(e._pipeline.runners["sandbox"], "zygotes").cgroups
            return r, cgroups is not None and cgroups.has_memory
    r, memory_cgroup = arun(go())
    if memory_cgroup:
        assert r.status is TaskStatus.SUCCEEDED, r.error
        assert r.output["stdout"] == "wasm ok\n"
    else:
        assert r.error is not None and "its memory is limited to" in r.error.message


def test_a_failed_scripts_hints_say_what_its_words_do_not(tmp_path: Path) -> None:
    """A path SKILL.md gives of a bundled file (examples/spec.json) was looked up in the
    workspace with no word; node's 'connect EACCES' printed on stdout had the file hint or
    none; a config file above the workspace (the project's pyproject.toml, which ruff and
    pytest look for) was refused with no word of why."""
    need_sandbox()
    folder = tmp_path / "skills" / "sim"
    (folder / "scripts").mkdir(parents=True)
    (folder / "examples").mkdir()
    (folder / "examples" / "spec.json").write_text("{}")
    (folder / "SKILL.md").write_text("---\nname: sim\ndescription: S.\n---\n"
                                     "Run `python scripts/run.py examples/spec.json`.\n")
    (folder / "scripts" / "run.py").write_text("import sys\nopen(sys.argv[1]).read()\n")
    (folder / "scripts" / "fetch.py").write_text(
        "print('fetch failed: Error: connect EACCES 127.0.0.1:8123')\nraise SystemExit(1)\n")
    (folder / "scripts" / "lint.py").write_text(
        "import os\nhere = os.getcwd()\nwhile here != '/':\n"
        "    here = os.path.dirname(here)\n    p = os.path.join(here, 'pyproject.toml')\n"
        "    if os.path.exists(p):\n        open(p).read()\n        break\n")
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> list[ExecutionResult]:
        # Workspaces inside the project, as an operator may set them (by default they are
        # not: see test_work_root).
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                work_dir=tmp_path / "d" / "work")) as e:
            return [await e.run_script("sim", "scripts/run.py", args=["examples/spec.json"]),
                    await e.run_script("sim", "scripts/fetch.py"),
                    await e.run_script("sim", "scripts/lint.py")]
    run, fetch, lint = arun(go())
    assert run.error is not None and run.error.code == "script_exit"
    assert run.error.details["bundled"] == (
        "'examples/spec.json' is a file of the skill's folder, and the script runs in a "
        "workspace of its own: send it with the call's files, or pass its path, "
        f"{folder / 'examples' / 'spec.json'}")
    assert fetch.error is not None
    assert fetch.error.details["sandbox"].startswith("the skill has no network_access")
    if lint.error is not None:  # refused (a view may hide the file instead: it then ran)
        assert f"{tmp_path / 'pyproject.toml'} is in a folder above the workspace" in (
            lint.error.details["sandbox"]), lint.error
        assert "set work_dir (SKILLEXEC_WORK_DIR) outside the project" in lint.error.message


def test_a_script_printing_a_few_megabytes_is_not_stopped(tmp_path: Path) -> None:
    """A scanner printing its JSON findings on a real project (trialA: 1-9 MB) was stopped
    at 1 MiB, with no setting to raise it: the cap is 8 MiB and limits.max_stream_bytes."""
    skills = tmp_path / "skills"
    shutil.copytree(SKILLS / PDF, skills / PDF)
    (skills / PDF / "scripts" / "scan.py").write_text("print('y' * (3 << 20))\n")

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            return await e.run_script(PDF, "scripts/scan.py")
    r = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert isinstance(r.output, dict) and r.output["stdout"] == "y" * (3 << 20) + "\n"
