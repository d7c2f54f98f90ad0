"""The forked child: confine itself, read its input, run the skill, answer, exit.

Runs in a process forked from a zygote, which already imported the skill and is itself
confined (uid, Landlock layer, seccomp, network namespace). The child adds what is per
attempt: its own session, parent-death signal, rlimits, a private cwd and environment and
a second Landlock layer that narrows writes to its own workdir. Then it talks to the engine
over the socket it was given (length-prefixed JSON frames, see ``_protocol``).

What can be worked out before the fork is, by the zygote (``prepare``: the rlimits, the
environment's changes, the Landlock ruleset itself): after a fork every page a process
writes costs it a copy-on-write fault (several microseconds each on a VM), so the child
only makes system calls with what it was handed, and touches as few objects as it can.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

from skillexec.runtime.entry import Invoker
from skillexec.runtime.limits import RlimitPlan, hard_limits, rlimit_plan
from skillexec.runtime.runners import _child_script
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._child_env import EnvBytes, fsencode, set_env
from skillexec.runtime.runners._child_serve import serve
from skillexec.runtime.runners._fork import ForkPlan
from skillexec.security import landlock
from skillexec.security.privileges import prepare_parent_death_signal

__all__ = ["ChildSetup", "ForkPrep", "detach", "prepare", "run_child", "setup_failed",
           "workdir_fds"]

# The C functions under signal.signal(): the wrappers convert to and from enums, which
# touches (and so copies, after a fork) many pages for nothing.
_signal: Any = importlib.import_module("_signal")
_SIGCHLD = int(signal.SIGCHLD)
_SIGTERM = int(signal.SIGTERM)
_SIG_DFL = int(signal.SIG_DFL)


class ChildSetup:
    """What the zygote prepared once and hands to every child it forks."""

    def __init__(self, *, invoker: Invoker | None, sandbox: bool, allow_network: bool,
                 landlock_rules: landlock.PreparedRuleset | None, skill_id: str,
                 log: logging.Logger, zygote_pid: int) -> None:
        self.invoker = invoker
        self.sandbox = sandbox
        # The child's own Landlock layer, prepared: the zygote's reads, and writes only in
        # the extra write paths (and, added per child, its own workdir).
        self.landlock_rules = landlock_rules
        self.allow_network = allow_network
        self.skill_id = skill_id
        self.log = log
        self.zygote_pid = zygote_pid
        # Made once in the zygote; each child gets its own copy of them (copy-on-write).
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        # The zygote's environment once it is ready: the zygote diffs each request against
        # this plain dict instead of walking os.environ (which decodes every key).
        self.environ: dict[str, str] = dict(os.environ)
        # What turns it back into the environment the zygote started with (the skill's
        # import may have changed it): the base of a request's "env_extra".
        self.env_restore_unset: list[str] = []
        self.env_restore_set: list[tuple[str, str]] = []
        self.rlimit_key: tuple[Any, ...] | None = None
        self.rlimit_plan: RlimitPlan = []
        # How to fork without the at-fork hooks' cost; None: plain os.fork (see _fork).
        self.fork_plan: ForkPlan | None = None
        self.hard_limits = hard_limits()
        # The zygote's own limits once it is ready (soft = hard where it lowered them, so
        # nothing in it can raise them again): a child's limit equal to one of them is
        # inherited as it is, and its setrlimit call is left out of the plan.
        self.own_limits = {which: resource.getrlimit(which) for which in self.hard_limits}
        self.set_pdeathsig = prepare_parent_death_signal(signal.SIGKILL)
        # The zygote's own descriptors, which no child may keep (set by the zygote's loop),
        # as [low, high) runs: mostly consecutive (its Landlock rule fds), so a child closes
        # them with a few close_range calls instead of one close per descriptor.
        self.close_runs: tuple[tuple[int, int], ...] = ()
        # The descriptors of every request in the batch being forked (see _zygote._handle).
        self.batch_fds: tuple[int, ...] = ()
        self.rule_fds: tuple[int, ...] = ()  # O_PATH fds the prepared Landlock rules name
        # A script parent's scripts, compiled once (see _child_script.compile_scripts).
        self.scripts: dict[str, _child_script.Compiled] = {}
        # What puts the zygote's own environment and __main__ back after a fork (see
        # _zygote._handle): run once that child is gone, or before the next fork.
        self.undo: list[Callable[[], None]] = []
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


    def started_with(self, env: dict[str, str]) -> None:
        """Record the environment the zygote started with (before the skill's import)."""
        self.env_restore_unset = [k for k in self.environ if k not in env]
        self.env_restore_set = [(k, v) for k, v in env.items() if self.environ.get(k) != v]


def fd_runs(fds: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """``fds`` as [low, high) runs of consecutive descriptors (for ``os.closerange``)."""
    runs: list[tuple[int, int]] = []
    for fd in sorted(set(fds)):
        if runs and runs[-1][1] == fd:
            runs[-1] = (runs[-1][0], fd + 1)
        else:
            runs.append((fd, fd + 1))
    return tuple(runs)


class ForkPrep:
    """One child's confinement, worked out by the zygote before the fork (see ``prepare``):
    what a child computes or allocates itself costs it copy-on-write page faults, while
    the zygote redoes the same work on pages it has already copied."""

    __slots__ = ("env_bytes", "env_in_place", "env_set", "env_unset", "rlimits",
                 "ruleset_error", "ruleset_fd", "staged")

    def __init__(self, rlimits: RlimitPlan, env_unset: list[str],
                 env_set: list[tuple[str, str]], ruleset_fd: int,
                 ruleset_error: str | None) -> None:
        self.rlimits = rlimits
        self.env_unset = env_unset
        self.env_set = env_set
        # The same, encoded as os.environ stores them (None: could not be encoded here).
        self.env_bytes: EnvBytes | None = None
        try:
            self.env_bytes = ([fsencode(k) for k in env_unset],
                              [(fsencode(k), fsencode(v)) for k, v in env_set])
        except (TypeError, UnicodeError):
            pass
        self.ruleset_fd = ruleset_fd
        self.ruleset_error = ruleset_error
        # Set by the zygote when it forks with this environment already its own (see
        # env_ahead): the child then has nothing to change.
        self.env_in_place = False
        # Set by a script parent: the script's run set up before the fork (see stage).
        self.staged: _child_script.Staged | None = None

    def close(self) -> None:
        """In the zygote, once the child is forked (or was not)."""
        if self.ruleset_fd >= 0:
            os.close(self.ruleset_fd)
            self.ruleset_fd = -1


def memory_sizes(statm_fd: int, page: int) -> tuple[int, int]:
    """This process's address space and its data (private writable memory, the stack
    included), in bytes: what a child's RLIMIT_AS and RLIMIT_DATA start from."""
    fields = os.pread(statm_fd, 128, 0).split()
    return int(fields[0]) * page, int(fields[5]) * page


def prepare(setup: ChildSetup, req: dict[str, Any], sizes: tuple[int, int], *,
            ruleset: bool = True) -> ForkPrep:
    """In the zygote, before forking the child for ``req``; never raises for a bad request
    (the child reports it as a setup failure instead, and so fails closed). ``ruleset``
    False: no Landlock ruleset (a spare brings its own: see ``_spare``)."""
    lim = req["limits"]
    as_bytes, data_bytes = lim.get("memory_bytes"), lim.get("data_bytes")
    # Limits rarely change between a skill's attempts: the last plan is reused as it is.
    vsz_bytes, data_now = sizes
    # The data size only where a data limit starts from it: it changes more often than
    # the address space, and each change would work the plan out again.
    key = (as_bytes, data_bytes, lim.get("cpu_seconds"), lim["file_size_bytes"],
           lim["open_files"], lim.get("processes"), vsz_bytes,
           None if data_bytes is None else data_now)
    if key != setup.rlimit_key:
        own = setup.own_limits
        setup.rlimit_plan = [(which, pair) for which, pair in rlimit_plan(
            setup.hard_limits,
            address_space_bytes=None if as_bytes is None else vsz_bytes + int(as_bytes),
            data_bytes=None if data_bytes is None else data_now + int(data_bytes),
            cpu_seconds=lim.get("cpu_seconds"),
            file_size_bytes=int(lim["file_size_bytes"]),
            open_files=int(lim["open_files"]),
            processes=lim.get("processes"),
        ) if own.get(which) != pair]
        setup.rlimit_key = key
    # The environment becomes exactly what the engine asked for; only the differences
    # from what os.environ holds (setup.environ: nothing changes it after the setup) are
    # written, as each write is a putenv and page faults. Usually the engine sends just
    # the variables it adds to the zygote's own starting environment ("env_extra").
    extra: dict[str, str] | None = req.get("env_extra")
    if extra is not None:
        unset = [k for k in setup.env_restore_unset if k not in extra]
        changed = [*setup.env_restore_set, *extra.items()]
    else:
        env: dict[str, str] = req["env"]
        base = setup.environ
        unset = [k for k in base if k not in env]
        changed = [(k, v) for k, v in env.items() if base.get(k) != v]
    ruleset_fd, error = -1, None
    if setup.landlock_rules is not None and ruleset:
        # A second layer on top of the zygote's: writes only in this attempt's workdir.
        # (O_PATH opens are not subject to Landlock, so the zygote can name the workdir.)
        try:
            with workdir_fds(req["workdir"]) as wfds:
                ruleset_fd = setup.landlock_rules.build(wfds)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    return ForkPrep(setup.rlimit_plan, unset, changed, ruleset_fd, error)


@contextlib.contextmanager
def workdir_fds(workdir: str) -> Iterator[list[tuple[int, bool]]]:
    """The workdir's O_PATH descriptor as a Landlock rule names it, closed after. (O_PATH
    opens are not subject to Landlock, so a confined zygote or spare can name it.)"""
    wfds = landlock.open_rule_fds((workdir,))
    try:
        if not wfds:
            raise landlock.LandlockError(f"cannot open the workdir {workdir!r}")
        yield wfds
    finally:
        for fd, _ in wfds:
            os.close(fd)


def setup_failed(sock: int, exc: BaseException) -> NoReturn:
    """A child that could not be confined for its call says why and ends (fail closed)."""
    try:
        proto.write_all(sock, proto.encode_frame(
            {"t": "setup_failed", "message": f"{type(exc).__name__}: {exc}"}))
    except OSError:
        pass
    os._exit(70)


def run_child(setup: ChildSetup, req: dict[str, Any], fds: list[int], prep: ForkPrep, *,
              detached: bool = False) -> None:
    """Never returns: the child ends with os._exit. ``detached``: a spare (``_spare``),
    which did ``detach`` before its call came."""
    code = 0
    me = -1
    sock = fds[0]  # the engine's channel, used as a raw fd (see _protocol.write_all)
    try:
        _confine(setup, req, fds, prep, detached=detached)
    except BaseException as exc:
        setup_failed(sock, exc)
    try:
        if req["kind"] == "command":
            _exec_command(sock, req)
        elif req["kind"] == "script":
            me = os.getpid()
            code = _child_script.run(req, sock, setup.scripts, prep.staged)
        else:
            code = serve(setup, req, sock)
    except BaseException:
        code = 71
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    if req["kind"] == "script" and os.getpid() == me:  # not a process the script forked
        _child_script.end(sock, code)
    os._exit(code)


def detach(setup: ChildSetup) -> None:
    """What a child does first, whatever its call: none of the zygote's descriptors or
    signal handling, a session of its own, death with the zygote. Nothing of a call in it:
    a spare (``_spare``) does it before its call comes."""
    for low, high in setup.close_runs:
        os.closerange(low, high)
    if setup.landlock_rules is not None and setup.landlock_rules.ahead_fd >= 0:
        os.close(setup.landlock_rules.ahead_fd)  # the zygote's next child's, built ahead
    _signal.set_wakeup_fd(-1)
    _signal.signal(_SIGCHLD, _SIG_DFL)  # the zygote reset SIGINT, SIGHUP, SIGXCPU
    os.setsid()
    setup.set_pdeathsig()
    if os.getppid() != setup.zygote_pid:
        os._exit(72)  # the zygote died between fork and prctl


def _confine(setup: ChildSetup, req: dict[str, Any], fds: list[int], prep: ForkPrep, *,
             detached: bool) -> None:
    if req.get("hello"):
        # One byte before anything else: the engine's end has SO_PASSCRED, so the kernel
        # hands it this process's pid as the engine's PID namespace numbers it (the zygote,
        # in a namespace of its own, only knows ours). Sent before any of the skill's code
        # runs, so the skill cannot forge it.
        os.write(fds[0], proto.HELLO)
    if not detached:
        # Forked in a batch: the other requests' sockets, pipes and rulesets are not ours
        # (nor a spare's socket: see _zygote._handle).
        for fd in setup.batch_fds:
            if fd not in fds and fd != prep.ruleset_fd:
                os.close(fd)
        detach(setup)
    # fds: [socket, stdout, stderr] (+ stdin for commands)
    os.dup2(fds[3] if len(fds) > 3 else setup.devnull, 0)
    os.dup2(fds[1], 1)
    os.dup2(fds[2], 2)
    for fd in fds[1:]:
        if fd > 2:
            os.close(fd)
    os.close(setup.devnull)
    setrlimit = resource.setrlimit
    for which, pair in prep.rlimits:
        setrlimit(which, pair)
    os.chdir(req["workdir"])
    try:
        os.mkdir(".tmp", 0o700)  # its TMPDIR (see _child_request)
    except OSError:
        pass  # there already (a session's, a spare's), or a file: tempfile looks on
    if prep.env_in_place:
        pass  # the zygote forked it with its environment (see env_ahead)
    elif type(getattr(os.environ, "_data", None)) is dict and prep.env_bytes is not None:
        set_env(*prep.env_bytes)
    else:
        environ = os.environ
        for k in prep.env_unset:
            del environ[k]
        for k, v in prep.env_set:
            environ[k] = v
    tmp: Any = sys.modules.get("tempfile")
    if tmp is not None and getattr(tmp, "tempdir", None) is not None:
        tmp.tempdir = None  # cached by the import: TMPDIR is the workdir's now
    if setup.landlock_rules is not None:
        if prep.ruleset_fd < 0:
            raise landlock.LandlockError(prep.ruleset_error or "no Landlock ruleset")
        landlock.enforce(prep.ruleset_fd)
        os.close(prep.ruleset_fd)


def _exec_command(sock: int, req: dict[str, Any]) -> None:
    # Wait for the engine's "go": by then it has moved this process into its cgroups.
    proto.read_frame_fd(sock, cap=4096)
    argv = [str(a) for a in req["argv"]]
    try:
        os.execve(req["exe"], argv, dict(os.environ))
    except OSError as exc:
        proto.write_all(sock, proto.encode_frame(
            {"t": "exec_failed", "message": f"{argv[0]}: {exc}"}))
        os._exit(127)
