"""``skillexec mcp``: the MCP server on stdin/stdout (DESIGN §4.4), or, with
``--print-config``, the JSON to paste into Claude Desktop or an IDE."""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from skillexec.cli import options as opt

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["mcp"]


def _client_config(skills_dir: Path | None, data_dir: Path, include: list[str],
                   exclude: list[str], journal_url: str | None) -> dict[str, object]:
    args = ["-m", "skillexec", "mcp", "--data-dir", str(data_dir.resolve())]
    if skills_dir is not None:
        args += ["--skills-dir", str(skills_dir.resolve())]
    if journal_url is not None:
        args += ["--journal-url", _absolute(journal_url)]
    for glob in include:
        args += ["--include", glob]
    for glob in exclude:
        args += ["--exclude", glob]
    # The interpreter that has skillexec installed, by absolute path: a host starts the
    # server with a bare environment and its own working directory.
    server: dict[str, object] = {"command": str(Path(sys.executable).absolute()),
                                 "args": args}
    settings = _settings_file()
    if settings is not None:  # else the grants, limits... of ./skillexec.toml stop applying
        server["env"] = {"SKILLEXEC_CONFIG": str(settings)}
    return {"mcpServers": {"skillexec": server}}


def _absolute(journal_url: str) -> str:
    """A SQLite journal's path made absolute (it is the working directory's otherwise)."""
    prefix = "sqlite:///"
    if journal_url.startswith(prefix):
        return prefix + str(Path(journal_url.removeprefix(prefix)).resolve())
    return journal_url


def _settings_file() -> Path | None:
    """The skillexec.toml this command read: SKILLEXEC_CONFIG's, or the working
    directory's."""
    named = os.environ.get("SKILLEXEC_CONFIG")
    found = Path(named) if named else Path("skillexec.toml")
    return found.resolve() if found.is_file() else None


# Settings the printed config carries as its arguments and env; other SKILLEXEC_*
# variables are named on stderr (not copied: one may be a secret, as the master key).
_CARRIED = frozenset({"SKILLEXEC_CONFIG", "SKILLEXEC_SKILLS_DIR", "SKILLEXEC_DATA_DIR"})


def _setting(name: str) -> bool:
    """Whether environment variable ``name`` is one the engine reads: a setting
    (``SKILLEXEC_<FIELD>`` or ``SKILLEXEC_<SECTION>__<KEY>``), or the master key (not a
    test's own, such as SKILLEXEC_REQUIRE_SERVICES)."""
    from skillexec.config import FORMER_NAMES, EngineConfig

    field = name.removeprefix("SKILLEXEC_").split("__", 1)[0].lower()
    return name in ("SKILLEXEC_MASTER_KEY", "SKILLEXEC_JOURNAL_URL") or (
        field in EngineConfig.model_fields or field in FORMER_NAMES)


def _uncarried_note() -> str:
    left = sorted(k for k in os.environ
                  if k.startswith("SKILLEXEC_") and k not in _CARRIED and _setting(k))
    if not left:
        return ""
    return (f"skillexec: note: {', '.join(left)} set here but not in this config (a host "
            "starts the server with a bare environment): add to its \"env\" those the "
            "server needs\n")


def mcp(
    skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
    include: Annotated[list[str] | None, typer.Option(
        "--include", help="Publish only skills whose id matches this glob (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Never publish skills whose id matches this glob (repeatable).")] = None,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="Print the mcpServers JSON for Claude Desktop or an IDE "
        "and exit.")] = False,
) -> None:
    """Serve the skills as an MCP server on stdin/stdout (tools, resources, prompts)."""
    inc, exc = list(include or ()), list(exclude or ())
    cfg = opt.config(skills_dir=skills_dir, data_dir=data_dir, journal_url=journal_url)
    if print_config:
        # the host starts it in a working directory of its own: ./skills will not be there
        sys.stderr.write(opt.no_skills_note(cfg, serves="the server this starts serves"))
        sys.stderr.write(_uncarried_note())
        body = _client_config(cfg.skills_dir, cfg.data_dir, inc, exc, journal_url)
        sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    settings = cfg.mcp
    if inc or exc:
        settings = settings.model_copy(update={"include": (*settings.include, *inc),
                                               "exclude": (*settings.exclude, *exc)})
    from skillexec.engine import SkillExecutionEngine
    from skillexec.mcp.server import McpServer

    async def serve() -> None:
        engine = SkillExecutionEngine(config=cfg)
        # A client's initialize is answered while a skill's import hangs (warmed apart).
        async with opt.engine_scope(engine, warm_in_background=True):
            sys.stderr.write(opt.no_skills_note(cfg, serves="it serves"))
            _unmatched(engine, inc, exc)
            await McpServer(engine, settings=settings).run_stdio()

    opt.run_async(serve())


def _unmatched(engine: SkillExecutionEngine, include: list[str], exclude: list[str]) -> None:
    """A note on stderr (the protocol is on stdout) for each glob of the command's that
    matches no loaded skill: a typo in --include would serve no skill at all, silently."""
    ids = sorted({k.id for k in engine.skills.list()})
    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    for option, globs in (("--include", include), ("--exclude", exclude)):
        for glob in globs:
            if not any(fnmatch.fnmatchcase(i, glob) for i in ids):
                sys.stderr.write(f"skillexec: note: {option} {glob!r} matches no skill "
                                 f"(loaded: {shown or 'none'})\n")
