"""What skillexec makes of Py Copilot's real skills folder: for each skill, are its
instructions served, what scripts does it bundle, are its packages provisioned, and do its
scripts run end to end through ``engine.run_script`` (sandboxed, in the skill's
environment) on a harmless real input — and if not, why.

Run:  .venv/bin/python bench/pycopilot_skills.py PATH/TO/backend/app/skills/skills \
          [--install-undeclared] [--markdown]

The folder is copied into a temporary one (the third-party files are never changed) and
loaded by one engine with a fresh data folder. Declared packages are provisioned (needs the
package index). ``--install-undeclared`` also does, for each skill, what an operator's
``skillexec skills install ID PKG`` does for the packages of the imports ``skills check``
finds undeclared (and the version bounds in ``_OPERATOR_BOUNDS``), never silently.

Each skill's calls run in one session (files a call writes are the next call's): for pdf,
a fillable PDF made here with pypdf is checked, its fields extracted and filled by the
skill's own scripts; docx and pptx unpack a document; skill-creator validates a skill.
Other skills run their first argparse script with ``--help``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.environments.imports import missing_imports
from skillexec.errors import SkillExecError
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult

# Programs a script shells out to, found in its text: the usual reason one cannot run here.
_PROGRAMS = {"soffice": "LibreOffice", "libreoffice": "LibreOffice", "pdftoppm": "poppler",
             "pnpm": "pnpm", "npx": "Node.js (npx)", "ffmpeg": "ffmpeg"}
_DATA_ANALYSIS_ENTRY = "data_analysis.py:DataAnalysisSkill.run_complete_analysis"
# What an operator adds beyond the undeclared imports: mcp-builder's scripts need mcp 1.x
# (mcp 2 dropped streamablehttp_client), though it declares only mcp>=1.1.0.
_OPERATOR_BOUNDS = {"mcp-builder": ["mcp<2"]}


@dataclass
class Row:
    id: str
    instructions: str = "no"
    scripts: str = "0"
    packages: str = "none declared"
    run: str = "-"
    why: str = ""
    undeclared: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    script: str
    args: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:160]


def _programs_needed(folder: Path, script: str) -> list[str]:
    try:
        text = (folder / script).read_text(errors="replace")
    except OSError:
        return []
    # Python names a program as a string; a shell script as a command word.
    pattern = r"(^|[;&|(]\s*|\s){prog}\s" if script.endswith(".sh") else r"['\"]{prog}['\"]"
    return sorted({name for prog, name in _PROGRAMS.items()
                   if re.search(pattern.format(prog=prog), text, re.M)
                   and shutil.which(prog) is None})


def form_pdf() -> bytes:
    """A one-page PDF with two fillable text fields, made with pypdf."""
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
    for i, name in enumerate(("name", "city")):
        annots.append(writer._add_object(DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Tx"), NameObject("/T"): TextStringObject(name),
            NameObject("/V"): TextStringObject(""), NameObject("/F"): NumberObject(4),
            NameObject("/Rect"): ArrayObject([FloatObject(20), FloatObject(200 - 40 * i),
                                              FloatObject(200), FloatObject(220 - 40 * i)])})))
    page[NameObject("/Annots")] = annots
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(list(annots))})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def office_file(kind: str) -> bytes:
    """The smallest .docx or .pptx zip the ooxml scripts unpack (parts, no styling)."""
    main = {"docx": ("word/document.xml", "application/vnd.openxmlformats-officedocument."
                     "wordprocessingml.document.main+xml",
                     '<w:document xmlns:w="http://schemas.openxmlformats.org/'
                     'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Hello</w:t></w:r>'
                     "</w:p></w:body></w:document>"),
            "pptx": ("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument."
                     "presentationml.presentation.main+xml",
                     '<p:presentation xmlns:p="http://schemas.openxmlformats.org/'
                     'presentationml/2006/main"/>')}[kind]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml",
                    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                    'content-types"><Override PartName="/' + main[0] + '" ContentType="'
                    + main[1] + '"/></Types>')
        zf.writestr("_rels/.rels",
                    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                    'relationships"><Relationship Id="rId1" Type="http://schemas.'
                    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
                    'Target="' + main[0] + '"/></Relationships>')
        zf.writestr(main[0], main[2])
    return buf.getvalue()


def calls_for(skill_id: str) -> list[Call] | None:
    """The harmless real calls of a skill's scripts (None: its first argparse script's
    ``--help``)."""
    if skill_id == "pdf":
        values = [{"field_id": "name", "page": 1, "value": "Ada"},
                  {"field_id": "city", "page": 1, "value": "Paris"}]
        return [Call("scripts/check_fillable_fields.py", ("form.pdf",),
                     {"form.pdf": form_pdf()}),
                Call("scripts/extract_form_field_info.py", ("form.pdf", "fields.json")),
                Call("scripts/fill_fillable_fields.py",
                     ("form.pdf", "values.json", "filled.pdf"),
                     {"values.json": json.dumps(values).encode()})]
    if skill_id in ("docx", "pptx"):
        name = f"hello.{skill_id}"
        return [Call("ooxml/scripts/unpack.py", (name, "unpacked"),
                     {name: office_file(skill_id)})]
    if skill_id == "skill-creator":
        md = b"---\nname: demo-skill\ndescription: A demo skill.\n---\n\n# Demo\n"
        return [Call("scripts/quick_validate.py", ("demo-skill",),
                     {"demo-skill/SKILL.md": md})]
    if skill_id == "xlsx":
        return [Call("recalc.py")]  # its usage: recalculating needs LibreOffice
    if skill_id == "web-artifacts-builder":
        return [Call("scripts/bundle-artifact.sh")]  # in an empty workspace: no project
    return None


def _outcome(r: ExecutionResult) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a script call; exit -1 when it did not run."""
    out = r.output if isinstance(r.output, dict) else (r.error.details if r.error else {})
    if "exit_code" not in out:
        return -1, "", r.error.message if r.error else ""
    return int(out["exit_code"]), str(out.get("stdout", "")), str(out.get("stderr", ""))


async def report(folder: Path, *, install_undeclared: bool) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(folder, root / "skills", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "skills" / "data-analysis" / "sample.csv").write_text(
            "x,y,label\n1,2,a\n2,4,b\n3,6,a\n4,8,b\n5,10,a\n6,12,b\n7,14,a\n8,16,b\n")
        cfg = EngineConfig(skills_dir=root / "skills", data_dir=root / "data",
                           skills={"data-analysis": {"entry": _DATA_ANALYSIS_ENTRY}},
                           default_timeout_s=120)
        async with SkillExecutionEngine(config=cfg) as engine:
            envs = engine.environments
            for skill in engine.skills.list():
                row = Row(skill.id)
                rows.append(row)
                row.instructions = (f"yes ({len(skill.instructions)} chars)"
                                    if skill.instructions else "no")
                row.scripts = str(len(skill.scripts))
                if envs.status(skill).state == "not installed":
                    try:
                        envs.attach(skill)  # remembered as pending: ensure() makes it
                        skill = await envs.ensure(skill)
                    except SkillExecError as exc:
                        row.why = exc.message
                undeclared = [m for m in missing_imports(
                    skill, env_paths=envs.attach(skill).env_paths) if m.needed]
                row.undeclared = [f"{m.module}->{m.package}" for m in undeclared]
                extra = sorted({m.package for m in undeclared})
                bounds = _OPERATOR_BOUNDS.get(skill.id, [])
                if install_undeclared and (extra or bounds):
                    try:  # what `skillexec skills install ID PKG...` does
                        await asyncio.to_thread(envs.install, skill, [*extra, *bounds])
                        row.undeclared = [f"{u} (installed: --install-undeclared)"
                                          for u in row.undeclared] + \
                            [f"{b} (added: --install-undeclared)" for b in bounds]
                    except (SkillExecError, ValueError) as exc:
                        row.why = f"install of undeclared packages failed: {exc}"
                    skill = envs.attach(skill)
                    engine.skills.add(skill)
                status = envs.status(skill)
                row.packages = (status.state if not status.requirements
                                else f"{status.state}: {', '.join(status.requirements)}")
                await _try_run(engine, skill, row)
    return rows


async def _try_run(engine: SkillExecutionEngine, skill: Skill, row: Row) -> None:
    if skill.id == "data-analysis":
        assert skill.path is not None
        res = await engine.execute(skill.id, {"file_path": str(skill.path / "sample.csv")})
        if res.error is None:
            row.run = "yes (entry override, run_complete_analysis on a CSV)"
        elif res.error.code == "skill_raised":  # the engine's part worked; the skill's failed
            row.run = "reached its code (entry override, run_complete_analysis on a CSV)"
            row.why = f"the skill's own error: {res.error.message}"
        else:
            row.run, row.why = "no", row.why or res.error.message
        return
    if skill.runnable:
        res = await engine.execute(skill.id, {})
        row.run = "yes (entry)" if res.error is None else "no"
        if res.error is not None:
            row.why = row.why or res.error.message
        return
    if not skill.scripts:
        row.run = "n/a (instructions only)" if skill.instructions else "no"
        if not skill.instructions:
            row.why = row.why or skill.entry.reason
        return
    assert skill.path is not None
    calls = calls_for(skill.id)
    if calls is None:
        py = [s for s in skill.scripts if s.endswith(".py")]
        # A script with argparse answers --help harmlessly; others may take it for a file.
        parsed = [s for s in py
                  if "ArgumentParser(" in (skill.path / s).read_text(errors="replace")]
        calls = [Call((parsed or py or list(skill.scripts))[0], ("--help",))]
    missing_programs = sorted({p for c in calls for p in _programs_needed(skill.path,
                                                                          c.script)})
    session = engine.sessions.create(ttl_s=600)
    done: list[str] = []
    try:
        for call in calls:
            res = await engine.run_script(skill.id, call.script, args=call.args,
                                          files=call.files or None, session=session,
                                          timeout=120)
            code, out, err = _outcome(res)
            shown = " ".join((call.script, *call.args))
            if code == 0:
                done.append(shown)
                continue
            if res.error is not None and res.error.code == "missing_module":
                row.run = f"no ({shown}: missing_module)"
                row.why = row.why or res.error.message
            elif code == -1:
                row.run = f"no ({shown} refused)"
                row.why = row.why or (res.error.message if res.error else "")
            elif "Traceback" not in err + out:
                row.run = (f"started ({shown}: exit {code}, its own message)" if not done
                           else f"partly ({'; '.join(done)} ok; {shown}: exit {code})")
                said = [ln.strip() for ln in (out + "\n" + err).splitlines() if ln.strip()]
                told = [ln for ln in said if re.search(r"(?i)error|usage", ln)] or said
                row.why = row.why or (told[0][:160] if told else "")
            else:
                row.run = f"no ({shown}: exit {code})"
                row.why = row.why or _first_line(err) or _first_line(out)
            break
        else:
            files = sorted(f["path"] for f in engine.sessions.files(session))
            shown_files = ", ".join(files) if len(files) <= 5 else \
                f"{', '.join(files[:3])}, ... ({len(files)} files)"
            row.run = f"yes ({'; '.join(done)}; session files: {shown_files})" \
                if len(calls) > 1 or call.files else f"yes ({'; '.join(done)})"
    finally:
        engine.sessions.close(session)
    if missing_programs:
        row.why = (row.why + "; " if row.why else "") + \
            f"needs {', '.join(missing_programs)} (not installed here)"


def render(rows: list[Row], *, markdown: bool) -> str:
    head = ("skill", "instructions", "scripts", "packages", "undeclared imports",
            "runs end to end", "why not / notes")
    body = [(r.id, r.instructions, r.scripts, r.packages, ", ".join(r.undeclared) or "-",
             r.run, re.sub(r"/tmp/\w+/data/", "<data_dir>/", r.why) or "-") for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row)
                  + " |" for row in body]
        return "\n".join(lines)
    return "\n".join("\t".join(row) for row in (head, *body))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--install-undeclared", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"{args.folder}: no such folder")
    rows = asyncio.run(report(args.folder, install_undeclared=args.install_undeclared))
    print(render(rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
