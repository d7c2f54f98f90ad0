"""The zygote: a warm interpreter per skill that forks one child per attempt.

Started by the engine as ``python -I -c 'from ..._zygote import main; main()'`` with its
spec in the environment and a SOCK_SEQPACKET control socket. Before it imports the skill
it confines itself as far as the isolation level says — its own network namespace, an
unprivileged uid, a Landlock layer, the seccomp filter — so that even the skill's
module-level code never runs with the engine's rights. Children inherit all of that.

It is started as a tiny launcher that makes a PID namespace (inside a user namespace of its
own when the engine is not root: the user's uid mapped to itself) and forks the zygote as
that namespace's pid 1: whatever the skill starts, at import or in a call, dies when the
zygote dies, and other skills' processes are not even visible to it (no signals, prlimit,
setpriority or sched_* across skills). Before the fork the launcher joins the zygote's own
cgroup slot (root), and the zygote lowers its rlimits before the import. Its stdout and
stderr are a pipe the engine reads and caps; its HOME, TMPDIR and XDG folders are private
(the engine makes and removes them). Daemonised grandchildren reparent to it and are reaped;
it dies with the engine (parent-death signal, through the launcher), and reports each
child's exit status and rusage, which only the parent can collect.

Forking is the hot path: a call goes to a child forked ahead of it when there is one
(``_spare``), fork requests waiting together are forked back to back (see ``_handle``),
children are forked without CPython's at-fork hooks (``_fork``), and each child's
confinement is prepared here beforehand (``_child.prepare``).
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import select
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import orjson

from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.runtime.entry import load_invoker
from skillexec.runtime.limits import hard_limits, rlimit_plan
from skillexec.runtime.runners import _child, _child_env, _child_script, _fork, _spare, _zygote_view
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._coroutine import run_coroutine
from skillexec.runtime.runners._reaper import kill_leftovers, open_children, reap
from skillexec.security import landlock, seccomp
from skillexec.security.privileges import (
    CLONE_NEWPID,
    CLONE_NEWUSER,
    drop_capabilities,
    drop_to_uid,
    map_own_identity,
    set_child_subreaper,
    set_no_new_privs,
    set_parent_death_signal,
    unshare,
    unshare_network,
)
from skillexec.skills.model import Entry, EntryKind, Skill

__all__ = ["SPEC_ENV", "main"]

SPEC_ENV = "SKILLEXEC_ZYGOTE_SPEC"
_MAX_BATCH = 32  # fork requests read per pass of the loop; more wait for the next pass


def main() -> None:
    spec: dict[str, Any] = orjson.loads(os.environ.pop(SPEC_ENV))
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != spec["engine_pid"]:
        os._exit(0)  # the engine died before we could arm the parent-death signal
    ctl = socket.socket(fileno=int(spec["control_fd"]))
    try:
        _enter_namespaces(spec, ctl)
        setup, statm_fd, kids_fd = _prepare(spec)
    except BaseException as exc:
        if isinstance(exc, SkillExecError):
            info = exc.info
        else:
            info = ErrorInfo(type=ErrorType.RESOURCE, code="isolation_unavailable",
                             message=f"the zygote could not set up: {type(exc).__name__}: {exc}")
        try:
            proto.send_control(ctl, {"t": "error", "error": info.to_dict()})
        except OSError:
            pass
        os._exit(0)
    kill_leftovers()  # what the import started: no helper outlives it into an attempt
    proto.send_control(ctl, {"t": "ready", "pid": os.getpid()})
    _serve(ctl, setup, statm_fd, kids_fd, spare=bool(spec.get("spare")))


def _enter_namespaces(spec: dict[str, Any], ctl: socket.socket) -> None:
    """Join the zygote's cgroup slot, make its namespaces and fork it as their pid 1; the
    process that called this stays behind as the launcher (see ``_launch``)."""
    for procs in spec.get("cgroup_procs") or ():
        # As root, before the fork: the zygote is born inside its slot.
        fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    userns, pidns = bool(spec.get("userns")), bool(spec.get("pidns"))
    if not (userns or pidns):
        return
    uid, gid = os.getuid(), os.getgid()
    unshare((CLONE_NEWUSER if userns else 0) | (CLONE_NEWPID if pidns else 0))
    if userns:
        map_own_identity(uid, gid)
    if not pidns:
        return
    pid = os.fork()
    if pid:
        ctl.close()
        _launch(pid)
    # The launcher is our parent now; if it dies first, the engine's end of the control
    # socket closes with it (the engine kills both), and the loop exits on EOF.
    set_parent_death_signal(signal.SIGKILL)


def _launch(zygote: int) -> None:
    """The launcher: wait for the zygote and exit with it (the engine watches this pid)."""
    while True:
        try:
            _, status = os.waitpid(zygote, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(0)
        os._exit(min(255, max(0, os.waitstatus_to_exitcode(status))))


def _lower_limits(spec: dict[str, Any]) -> None:
    """The zygote's own rlimits, before the skill's import (soft = hard: for good)."""
    lim = spec.get("zygote_limits")
    if not lim:
        return
    setrlimit = resource.setrlimit
    for which, pair in rlimit_plan(
            hard_limits(), address_space_bytes=lim.get("address_space_bytes"),
            cpu_seconds=None, file_size_bytes=int(lim["file_size_bytes"]),
            open_files=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            processes=lim.get("processes")):
        setrlimit(which, pair)


async def _nothing() -> None:
    return None


def _prepare(spec: dict[str, Any]) -> tuple[_child.ChildSetup, int, int]:
    sys.dont_write_bytecode = True
    start_env = dict(os.environ)  # the engine's env for this zygote (see env_extra)
    set_child_subreaper()
    if spec["netns"]:
        unshare_network()
    statm_fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
    kids_fd = open_children()
    _zygote_view.enter(spec, start_env["HOME"])  # fsview's, and no DNS without the network
    read_fds = landlock.open_rule_fds(spec["read_paths"])
    # What each child's own Landlock layer allows writing besides its workdir.
    child_write_fds = landlock.open_rule_fds((*spec["child_write_paths"], os.devnull))
    if spec["uid"] is not None:
        drop_to_uid(int(spec["uid"]), int(spec["gid"]))
    elif spec.get("userns"):
        drop_capabilities()  # what the namespace's creator held in it stays behind
    _lower_limits(spec)
    use_landlock = bool(spec["landlock"])
    sandbox = use_landlock or bool(spec["seccomp"])
    allow_network = bool(spec["allow_network"])
    connect_ports = tuple(int(p) for p in spec["connect_ports"])
    if sandbox:
        set_no_new_privs()
    if use_landlock:
        write_fds = landlock.open_rule_fds((*spec["write_paths"], os.devnull))
        try:
            landlock.restrict_self(
                landlock.LandlockRules(deny_tcp=not allow_network, connect_ports=connect_ports),
                read_fds=read_fds, write_fds=write_fds)
        finally:
            for fd, _ in write_fds:
                os.close(fd)
    child_rules = landlock.PreparedRuleset(
        landlock.LandlockRules(deny_tcp=not allow_network, connect_ports=connect_ports),
        read_fds, child_write_fds) if use_landlock else None
    if spec["seccomp"]:
        seccomp.install_filter(seccomp.build_filter(tcp_only=bool(spec.get("tcp_only"))))
    sk = spec["skill"]
    invoker, compiled = None, {}
    if sk.get("env_paths"):
        # The skill's environment first: its packages, in the versions it declared; and for
        # the Pythons its scripts start (a .sh wrapper's python3, sys.executable) too.
        sys.path[:0] = [str(p) for p in sk["env_paths"]]
        start_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in sk["env_paths"])
        # Its packages' commands (tabulate, mageck, jupyter) first on PATH, as in an
        # activated venv: their #! names the engine's Python, which PYTHONPATH completes.
        bins = [f"{p}/bin" for p in sk["env_paths"] if os.path.isdir(f"{p}/bin")]
        if bins:
            start_env["PATH"] = os.pathsep.join([*bins, start_env.get("PATH", "")])
    if sk["kind"] == EntryKind.SCRIPT.value and sk["path"]:
        # What Claude Code tells a skill's commands: scripts of plugins read them
        # (process.env.CLAUDE_PLUGIN_ROOT + '/scripts/lib').
        start_env["CLAUDE_SKILL_DIR"] = sk["path"]
        if sk.get("plugin_root"):
            start_env["CLAUDE_PLUGIN_ROOT"] = sk["plugin_root"]
    if sk["kind"] == EntryKind.PYTHON.value:
        skill = Skill(id=sk["id"], version=sk["version"],
                      entry=Entry(kind=EntryKind.PYTHON, file=Path(sk["file"]), attr=sk["attr"]),
                      path=Path(sk["path"]) if sk["path"] else None,
                      default_config=sk["default_config"])
        invoker = load_invoker(skill)
    elif sk["kind"] == EntryKind.SCRIPT.value:
        compiled = _child_script.preload(sk)
    if invoker is not None and invoker.is_async:
        # Warmed for async skills only (it costs every fork): asyncio imported, and one
        # loop run and closed, so that its policy and what a first loop creates lazily
        # exist here and not in each child (~0.3 ms and ~80 page faults a call).
        run_coroutine(_nothing())
    # Made here once rather than in each child: what a child allocates or first touches
    # costs it copy-on-write page faults (several microseconds each on a VM).
    log = logging.getLogger(f"skillexec.skill.{sk['id']}")
    setup = _child.ChildSetup(
        invoker=invoker, sandbox=sandbox, allow_network=allow_network,
        landlock_rules=child_rules, skill_id=sk["id"], log=log, zygote_pid=os.getpid())
    setup.started_with(start_env)
    setup.scripts = compiled
    # The rule fds stay open here (each child's ruleset is built from them) but not in
    # the children: see _serve and _child._confine.
    setup.rule_fds = tuple(fd for fd, _ in (*read_fds, *child_write_fds))
    # After the skill's import: its libraries' at-fork hooks are known by now.
    setup.fork_plan = _fork.plan()
    # Objects that exist now are never collected: children then share their pages instead
    # of copying them when the collector would touch their headers.
    gc.collect()
    gc.freeze()
    return setup, statm_fd, kids_fd


def _serve(ctl: socket.socket, setup: _child.ChildSetup, statm_fd: int, kids_fd: int, *,
           spare: bool) -> None:
    """The loop. ``kids_fd``: our list of children (-1: none); ``spare``: keep a spare."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda _s, _f: None)
    signal.set_wakeup_fd(wake_w)
    # Defaults the children want, set once here (children reset only SIGCHLD).
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    # epoll itself, not selectors: after each fork every page the loop touches is a
    # copy-on-write fault here, and the selectors layer touches many.
    ep = select.epoll()
    ep.register(ctl.fileno(), select.EPOLLIN)
    ep.register(wake_r, select.EPOLLIN)
    children: dict[int, int] = {}
    spares: list[_spare.Spare] = []  # at most one
    pending: list[tuple[dict[str, Any], list[int]]] = []  # a spare asked for (at most one)
    retiring = False
    page = os.sysconf("SC_PAGE_SIZE")
    rbuf = bytearray(proto.CONTROL_MAX_BYTES)
    # Without a list of our children, a spare would look like a leftover to the sweep.
    use_spare = spare and (kids_fd >= 0 or os.getpid() != 1)
    rules = setup.landlock_rules
    setup.close_runs = _child.fd_runs(
        (ep.fileno(), ctl.fileno(), wake_r, wake_w, statm_fd, *setup.rule_fds,
         *((kids_fd,) if kids_fd >= 0 else ())))
    while True:
        if setup.undo and not children:
            _child_env.restore(setup)  # no child alive: no page written now is copied
        if pending and not retiring:
            _spare.settle(spares, children)
            if not children:
                # The spare the engine asked for: forked now that it competes with no call.
                _spare.fork_pending(ctl, setup, pending, spares,
                                    _child.memory_sizes(statm_fd, page))
        if rules is not None and not children and not retiring and rules.ahead_fd < 0:
            # Idle (no child to share pages with): the next child's ruleset, but for its
            # workdir, built now rather than on its call's path (see PreparedRuleset).
            try:
                rules.build_ahead()
            except Exception:
                pass  # the call's own build tries again, and reports why
        readable = False
        for fd, _ in ep.poll(5.0):
            if fd == wake_r:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            else:
                readable = True
        if readable:
            retiring = _handle(ctl, rbuf, setup, statm_fd, page, children, spares, retiring,
                               pending if use_spare else None)
        if reap(ctl, children, spares, kids_fd):
            use_spare = False  # one died waiting: never fork them in a loop
        if retiring and not children and not spares:
            os._exit(0)


def _handle(ctl: socket.socket, rbuf: bytearray, setup: _child.ChildSetup, statm_fd: int,
            page: int, children: dict[int, int], spares: list[_spare.Spare],
            retiring: bool, pending: list[tuple[dict[str, Any], list[int]]] | None) -> bool:
    """Everything the engine has sent so far; returns whether the zygote is retiring.
    ``pending``: where a spare asked for waits to be forked (None: spares are off).

    Fork requests are batched: after each fork every page this process touches is a
    copy-on-write fault (~200 per pass of this loop), so the requests are all read and
    prepared first, then forked back to back, then answered. Each child closes the other
    requests' descriptors before anything else (see ``_child._confine``). (A call that
    takes a spare never comes here: see ``_spare``.)
    """
    batch: list[tuple[dict[str, Any], list[int], _child.ForkPrep]] = []
    for _ in range(_MAX_BATCH):
        try:
            msg, fds = proto.recv_control_into(ctl, rbuf, flags=socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        except (EOFError, OSError):
            os._exit(0)  # the engine went away; children die with us (PDEATHSIG)
        t = msg.get("t")
        if t == "fork" and not retiring:
            try:
                prep = _child.prepare(setup, msg, _child.memory_sizes(statm_fd, page))
            except Exception as exc:  # a malformed request: the engine's bug
                _refuse(ctl, msg, fds, f"bad request: {exc!r}")
                continue
            batch.append((msg, fds, prep))
        elif t == "fork":
            _refuse(ctl, msg, fds, "zygote is retiring")
        elif t == "spare":
            _spare.requested(ctl, msg, fds, None if retiring else pending)
        else:
            for fd in fds:
                os.close(fd)
            if t == "retire":
                # Its spare is left to the engine, which stops it unless a call has it (a
                # call may have sent it its request a moment ago, before it could say so):
                # the loop exits once no child and no spare is left.
                retiring = True
                while pending:
                    _refuse(ctl, *pending.pop(), "zygote is retiring", spare=True)
    if batch and pending:
        # A call came before the spare was forked: it would compete with it (the engine
        # asks again once calls stop coming).
        _refuse(ctl, *pending.pop(), "a call came first", spare="busy")
    if not batch:
        return retiring
    setup.batch_fds = tuple(fd for _m, fds, prep in batch
                            for fd in (*fds, prep.ruleset_fd) if fd >= 0)
    setup.batch_fds += _spare.held(spares, pending or [])
    plan = setup.fork_plan
    pids: list[int | OSError] = []
    ahead = _child_env.worth_ahead(waiting=len(batch), running=len(children))
    for msg, fds, prep in batch:
        if ahead:
            _child_env.ahead(setup, msg, prep)  # ours till forked
        elif setup.undo:
            # The call before's environment and script run, made ours ahead of its fork
            # and kept while children live: not this child's to inherit.
            _child_env.restore(setup)
        pid: int | OSError
        try:
            pid = _fork.fork(plan)
        except OSError as exc:
            pid = exc
        if pid == 0:
            _child.run_child(setup, msg, fds, prep)  # never returns
        pids.append(pid)
    setup.batch_fds = ()
    # The children wait on this CPU (a fork places them here) behind what follows, which
    # is no call's path: theirs first (0.1-0.4 ms a call, the other CPU busy or not).
    os.sched_yield()
    for (msg, fds, prep), res in zip(batch, pids, strict=True):
        if isinstance(res, OSError):
            prep.close()
            _refuse(ctl, msg, fds, f"fork: {res}")
            continue
        _forked(ctl, msg, fds, prep, res, children)
    return retiring


def _forked(ctl: socket.socket, msg: dict[str, Any], fds: list[int], prep: _child.ForkPrep,
            pid: int, children: dict[int, int]) -> None:
    """The child for ``msg`` runs: its descriptors are its own, the engine is told."""
    prep.close()
    for fd in fds:
        os.close(fd)
    children[pid] = int(msg["id"])
    proto.send_control(ctl, {"t": "forked", "id": msg["id"], "pid": pid})


def _refuse(ctl: socket.socket, msg: dict[str, Any], fds: list[int], why: str, *,
            spare: bool | str = False) -> None:
    for fd in fds:
        os.close(fd)
    proto.send_control(ctl, {"t": "fork_failed", "id": msg.get("id"), "message": why,
                             **({"spare": spare} if spare else {})})
