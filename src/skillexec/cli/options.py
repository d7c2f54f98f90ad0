"""What every command shares: where skills and data are, and how failures are told."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import pwd
import shutil
import signal
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from skillexec.cli.safe_text import safe_line
from skillexec.errors import SkillExecError

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from skillexec.config import EngineConfig
    from skillexec.engine import SkillExecutionEngine
    from skillexec.storage.store import TaskStore
    from skillexec.task import ExecutionResult

__all__ = ["INTERRUPTED", "DataDir", "JournalUrl", "SkillsDir", "cannot_open", "config",
           "denied", "engine", "engine_scope", "fail", "left_notice", "no_skills_hint",
           "no_skills_note", "open_journal", "reason", "run_async", "with_journal"]
_NEARLY_FULL_BYTES = 1 << 20  # below this, an I/O error is most likely a full disk

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

T = TypeVar("T")

SkillsDir = Annotated[Path | None, typer.Option(
    "--skills-dir", help="Folder of skill folders (default: ./skills, or SKILLEXEC_SKILLS_DIR).")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Journal and artifacts (default: ./.skillexec).")]
JournalUrl = Annotated[str | None, typer.Option(
    "--journal-url", show_default=False,
    help="The journal: postgresql://user@host/db (shared by every node) or sqlite:///path "
         "(default: the data folder's SQLite file, or SKILLEXEC_JOURNAL_URL).")]


def fail(message: str, code: int = 2) -> NoReturn:
    sys.stderr.write(f"skillexec: {safe_line(message)}\n")
    raise typer.Exit(code)


def config(*, skills_dir: Path | None, data_dir: Path | None,
           concurrency: int | None = None, journal_url: str | None = None) -> EngineConfig:
    from skillexec.config import load_config
    cfg = load_config(data_dir=data_dir, max_concurrency=concurrency, journal_url=journal_url)
    if cfg.data_dir.exists() and not cfg.data_dir.is_dir():
        fail(f"--data-dir {cfg.data_dir}: is a file, not a folder")
    if skills_dir is not None:
        if not skills_dir.is_dir():
            fail(f"--skills-dir {skills_dir}: "
                 + ("is a file, not a folder" if skills_dir.exists() else "no such folder"))
        return cfg.model_copy(update={"skills_dir": skills_dir})
    if cfg.skills_dir is None and Path("skills").is_dir():
        return cfg.model_copy(update={"skills_dir": Path("skills")})
    return cfg


# Where other tools keep a project's skills: named when ./skills is not there but one is.
_ELSEWHERE = (".claude/skills", ".agents/skills", ".codex/skills")


def skills_dir_hint() -> str:
    """The ``--skills-dir`` to pass when this folder keeps its skills where Claude Code or
    another agent does; else "pass --skills-dir DIR"."""
    here = next((d for d in _ELSEWHERE if Path(d).is_dir()), None)
    return f"pass --skills-dir {here} (its skills are there)" if here \
        else "pass --skills-dir DIR"


def not_one_skill(folder: Path) -> str:
    """The sentence for a folder of skills given where one skill's folder is taken."""
    return (f"{folder} is a folder of skills, not one skill: pass --skills-dir {folder} and "
            "a skill id")


def no_skills_note(cfg: EngineConfig, *, serves: str) -> str:
    """The line for stderr when a serving command found no skills folder (else ""): it
    starts and answers, serving no skill, and nothing else would say why. Said once it
    started: a command that cannot start says that alone, in one sentence."""
    if cfg.skills_dir is not None:
        return ""
    return (f"skillexec: note: no skills folder (no --skills-dir, SKILLEXEC_SKILLS_DIR or "
            f"./skills here): {serves} no skill; {skills_dir_hint()}\n")


def no_skills_hint(engine: SkillExecutionEngine, result: ExecutionResult) -> str:
    """What ends a calling command's refusal of an unknown skill when there is no skills
    folder at all (else ""): run from another folder than the project's, "no skills are
    loaded" did not say why none were."""
    if engine.config.skills_dir is not None or result.error is None \
            or result.error.code != "skill_not_found":
        return ""
    return ("; no skills folder (no --skills-dir, SKILLEXEC_SKILLS_DIR or ./skills here): "
            + skills_dir_hint())


def engine(*, skills_dir: Path | None, data_dir: Path | None,
           concurrency: int | None = None, recover: bool = True,
           journal_url: str | None = None, one_call: bool = False) -> SkillExecutionEngine:
    """``recover=False`` for a one-shot command: it runs what it was asked, never another
    command's leftovers (``left_notice`` says they are there). ``one_call``: it makes one
    call, so no warm parent imports ahead what other scripts of the skill import (one that
    imports anthropic made a 1 s script take 8-11 s)."""
    try:
        cfg = config(skills_dir=skills_dir, data_dir=data_dir, concurrency=concurrency,
                     journal_url=journal_url)
    except SkillExecError as exc:
        fail(str(exc))
    if not recover:
        cfg = cfg.model_copy(update={"recover": False})
    if one_call:
        cfg = cfg.model_copy(update={"zygote": cfg.zygote.model_copy(update={"preload": False})})
    from skillexec.engine import SkillExecutionEngine
    try:
        return SkillExecutionEngine(config=cfg)
    except SkillExecError as exc:  # a missing or wrong master key: one sentence
        fail(str(exc))


def left_notice(engine: SkillExecutionEngine, *, exclude: Sequence[str] = ()) -> None:
    """One line on stderr when a stopped process left tasks this command did not run."""
    left = [t for t in engine.recovery.left if t not in exclude]
    if left:
        shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
        sys.stderr.write(
            f"skillexec: note: {len(left)} task(s) left unfinished by a process that stopped "
            f"are in the journal and were not run by this command ({shown}); "
            f"'skillexec tasks cancel ID' ends one, 'skillexec tasks replay ID' runs it "
            f"again\n")


@contextlib.asynccontextmanager
async def engine_scope(engine: SkillExecutionEngine, *, warm_in_background: bool = False,
                       ) -> AsyncIterator[SkillExecutionEngine]:
    """``async with engine`` that, when the command is interrupted, cancels what the engine
    accepted (after ``interrupt_grace_s``) and journals each end before it closes."""
    try:
        await engine.start(warm_in_background=warm_in_background)
    except (OSError, sqlite3.Error) as exc:
        fail(cannot_open(engine.config, exc))
    try:
        yield engine
    except asyncio.CancelledError:
        await engine.cancel_all(grace_s=engine.config.interrupt_grace_s)
        raise
    finally:
        await engine.close()


def cannot_open(cfg: EngineConfig, exc: OSError | sqlite3.Error) -> str:
    """The sentence for a data folder an engine could not start on. One this user may not
    write says so, naming the user and the folder: SQLite's own words were "unable to open
    database file"."""
    where = cfg.data_dir
    if _refused(exc):
        tried = getattr(exc, "filename", None) or (
            where if cfg.journal_is_shared else cfg.journal_where)
        why = denied(tried) or denied(where)
        if why:
            return (f"cannot open the data folder {where}: {why}; pass --data-dir a folder "
                    "this user may write")
    return f"cannot open the data folder {where}: {reason(exc, folder=where)}"


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` may be the system refusing this user (SQLite does not say so)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EACCES, errno.EPERM)
    text = str(exc)
    return isinstance(exc, sqlite3.Error) and (
        "unable to open database file" in text or "readonly database" in text)


def denied(path: str | Path) -> str | None:
    """Why this user may not write ``path`` (or make it, where it is not yet: the folder it
    would go in), naming the user and what refuses it, its owner and mode; None when it may
    (root may everywhere), or when that cannot be told."""
    at = Path(os.path.abspath(path))
    while not os.path.lexists(at) and at != at.parent:
        at = at.parent
    try:
        st = os.stat(at)
    except OSError:
        return None
    folder = stat.S_ISDIR(st.st_mode)
    effective = os.access in os.supports_effective_ids
    if os.access(at, os.W_OK | (os.X_OK if folder else 0), effective_ids=effective):
        return None
    uid = os.geteuid()
    return (f"this user ({_user_name(uid)}, uid {uid}) may not write {'in ' if folder else ''}"
            f"{at} ({_user_name(st.st_uid)}'s, mode {stat.S_IMODE(st.st_mode):04o})")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def reason(exc: BaseException, *, folder: str | Path | None = None) -> str:
    """What went wrong, as the end of a sentence (no exception class names). ``folder``:
    where it happened, looked at when the error may be a full disk (SQLite says only
    "disk I/O error" when it cannot grow its shared-memory file)."""
    if _refused(exc) and isinstance(exc, OSError) and exc.filename \
            and (why := denied(exc.filename)):
        # "Permission denied: /data/sessions" said neither who nor which folder refused
        return f"{exc.filename}: {why}; run as a user who may, or use a folder this user may write"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror or exc}{where}"
    else:
        text = str(exc) or type(exc).__name__
        if "readonly database" in text or "read-only" in text:
            return f"{text} (SQLite needs to write beside its journal even to read it)"
    if folder is not None and ("I/O error" in text or "disk is full" in text
                               or getattr(exc, "errno", None) == errno.ENOSPC):
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return text
        if free < _NEARLY_FULL_BYTES:
            text += f" (the disk holding {folder} is full: {free // 1024} KiB free)"
    return text


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; SIGINT and SIGTERM cancel it (each time one arrives).

    A command that holds an engine cancels what it accepted (``engine_scope``), prints
    what it has, and exits 130; any other command just stops with exit 130.
    """
    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in before:
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await coro
        finally:
            for sig, handler in before.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)  # what main() set, outside the event loop

    try:
        return asyncio.run(main())
    except SkillExecError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, asyncio.CancelledError):
        fail("interrupted", INTERRUPTED)


async def open_journal(cfg: EngineConfig, *, make: bool = False) -> TaskStore:
    """The journal of ``cfg``, open; a clear sentence when it is missing or unusable.
    ``make``: a SQLite journal not there yet is made (a command that writes, as
    ``keys create``), rather than refused."""
    if make and not cfg.journal_is_shared:
        Path(cfg.journal_where).parent.mkdir(parents=True, exist_ok=True)
    else:
        _exists(cfg)
    try:
        codec = cfg.codec()
    except SkillExecError as exc:
        fail(str(exc))
    store = cfg.journal_store(reader=True, codec=codec)
    try:
        await store.open()
    except (OSError, sqlite3.Error) as exc:
        fail(f"cannot open the journal {cfg.journal_where}: "
             f"{reason(exc, folder=Path(cfg.journal_where).parent)}")
    except SkillExecError as exc:  # a database that cannot be reached (its own sentence)
        fail(str(exc))
    return store


def with_journal(cfg: EngineConfig, make: Callable[[TaskStore], Awaitable[T]]) -> T:
    """Open the journal of ``cfg`` (it must exist), run ``make`` on it, close it."""
    _exists(cfg)

    async def go() -> T:
        store = await open_journal(cfg)
        try:
            return await make(store)
        finally:
            await store.close()

    return run_async(go())


def _exists(cfg: EngineConfig) -> None:
    """A SQLite journal must be there already (reading never makes one); a PostgreSQL one
    is made (migrated) by whoever opens it first."""
    if not cfg.journal_is_shared and not Path(cfg.journal_where).exists():
        fail(no_journal(cfg))


def no_journal(cfg: EngineConfig) -> str:
    """Why a reading command found no SQLite journal, and where it looked. Run from
    another folder than the one that ran the skill, it looks in that folder's own
    ``.skillexec``: "here" did not say which folder nor how to point at the other."""
    text = (f"no journal at {Path(cfg.journal_where).absolute()}: nothing has run with this "
            "data folder yet")
    if cfg.data_dir == Path(".skillexec") and cfg.journal.url is None:  # relative: the default
        text += (" (by default each folder keeps its own, in ./.skillexec: run this where "
                 "the skill ran, or give --data-dir)")
    return text


def engine_alive(data_dir: Path) -> bool:
    """Whether an engine runs on the data directory: the one holding its lock (it
    recovers and cancels there) or any other (each holds ``live.lock`` shared)."""
    return any(_locked(data_dir / name) for name in ("engine.lock", "live.lock"))


def _locked(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: leave the task to whoever may hold it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock this probe took
    return False
