"""The floor of fork-per-call, without skillexec: what a warm call costs at the least when
each call gets a process of its own, forked from a parent that imported the skill's
packages. Two bare mechanisms, side by side, alternating rounds:

* ``zygote``: what skillexec does. A parent (the zygote) waits on a control socket; per
  call it reads the request (JSON, with the call's socket as a descriptor), forks with
  libc's ``fork()``, tells the caller "forked", and later reaps the child and says
  "exited". The child reads its input, runs the script (a compiled no-op), answers and
  exits.
* ``chain``: the call is run by the fork's *parent* side, and the child side becomes the
  next call's waiting process (it sends the caller its socket before the call runs).
  No process runs Python after a fork while the call's process lives, and the call's
  process never waits to be scheduled: the zygote's copy-on-write faults after each fork
  (~290 a call in skillexec's zygote) and the child's start-up latency are gone. The
  caller reaps (a subreaper).

The caller is plain blocking Python (no asyncio, no journal, no sandbox, no cgroup), so
the figures are the mechanism's own: skillexec's warm call (``bench_scripts.py``) costs
this plus its pipeline and its isolation.

    .venv/bin/python bench/bench_fork_floor.py [--calls 600] [--rounds 3] [--heavy pypdf]

``--heavy`` names a module both parents import first (a skill's package): a larger
parent makes each fork, and each exit, cost more. Per round and mechanism: the call's
p50 and p95 (ms), and the CPU per call of every process involved (the caller's own and
its reaped children's, the zygote's and its children's included).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, NoReturn

_NOOP = compile("", "noop.py", "exec")
_WARMUP = 50


def _heavy(module: str) -> None:
    if module != "none":
        __import__(module)
    gc.collect()
    gc.freeze()  # as the zygote does: the collector never touches what exists now


def _libc_fork() -> ctypes._CFuncPtr:
    fork = ctypes.PyDLL(None).fork  # PyDLL: the GIL stays held (see _fork in skillexec)
    fork.restype = ctypes.c_int
    return fork


def _reaped(flags: int) -> Iterator[tuple[int, int, Any]]:
    """The children that ended (``flags`` 0: every child, each waited for)."""
    while True:
        try:
            pid, status, ru = os.wait4(-1, flags)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status, ru


def _run_call(sock: socket.socket) -> NoReturn:
    """In the call's process: its input read, the script run, the answer sent."""
    req = json.loads(sock.recv(65536))
    exec(_NOOP, {"__name__": "__main__"})
    sock.send(json.dumps({"ok": True, "n": req["n"]}).encode())
    os._exit(0)


# -- zygote --------------------------------------------------------------------------------
def _zygote(ctl: socket.socket, heavy: str) -> NoReturn:
    _heavy(heavy)
    fork = _libc_fork()
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    ep = select.epoll()
    ep.register(ctl.fileno(), select.EPOLLIN)
    ep.register(wake_r, select.EPOLLIN)
    while True:
        for fd, _ in ep.poll():
            if fd == wake_r:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                for pid, status, ru in _reaped(os.WNOHANG):
                    ctl.send(json.dumps({"t": "exited", "pid": pid, "status": status,
                                         "utime": ru.ru_utime}).encode())
                continue
            msg, fds, _, _ = socket.recv_fds(ctl, 4096, 4)
            if not msg:
                os._exit(0)
            req = json.loads(msg)
            pid = fork()
            if pid == 0:
                ctl.close()
                ep.close()
                _run_call(socket.socket(fileno=fds[0]))
            for f in fds:
                os.close(f)
            ctl.send(json.dumps({"t": "forked", "id": req["id"], "pid": pid}).encode())


def _calls_zygote(n: int, heavy: str) -> list[float]:
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    zpid = os.fork()
    if zpid == 0:
        mine.close()
        _zygote(theirs, heavy)
    theirs.close()
    lat = []
    for i in range(n + _WARMUP):
        t0 = time.perf_counter()
        a, b = socket.socketpair()
        socket.send_fds(mine, [json.dumps({"t": "fork", "id": i}).encode()], [b.fileno()])
        b.close()
        while json.loads(mine.recv(4096))["t"] != "forked":  # earlier calls' "exited" too
            pass
        a.send(json.dumps({"n": i}).encode())
        assert json.loads(a.recv(65536))["ok"]
        a.close()
        lat.append((time.perf_counter() - t0) * 1000)
    mine.close()  # the zygote exits on EOF (its children are gone by now)
    os.waitpid(zpid, 0)
    return lat[_WARMUP:]


# -- chain ---------------------------------------------------------------------------------
def _waiting(sock: socket.socket, heavy: str) -> NoReturn:
    """Wait for a call; fork first (the child side waits for the next one), then run it."""
    _heavy(heavy)
    fork = _libc_fork()
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 4096, 4)
        if not msg:
            os._exit(0)
        nxt, nxt_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if fork() == 0:  # the next call's process, pristine: nothing of this call in it
            for f in fds:
                os.close(f)
            sock.close()
            nxt.close()
            sock = nxt_peer
            continue
        nxt_peer.close()
        sock.close()
        call = socket.socket(fileno=fds[0])
        socket.send_fds(call, [b"next"], [nxt.fileno()])
        nxt.close()
        _run_call(call)


def _calls_chain(n: int, heavy: str) -> list[float]:
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: each ended waiter's next one is ours
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        mine.close()
        _waiting(theirs, heavy)
    theirs.close()
    lat = []
    for i in range(n + _WARMUP):
        t0 = time.perf_counter()
        a, b = socket.socketpair()
        socket.send_fds(mine, [json.dumps({"t": "call", "id": i}).encode()], [b.fileno()])
        b.close()
        _msg, fds, _, _ = socket.recv_fds(a, 16, 1)
        mine.close()
        mine = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=fds[0])
        a.send(json.dumps({"n": i}).encode())
        assert json.loads(a.recv(65536))["ok"]
        a.close()
        lat.append((time.perf_counter() - t0) * 1000)
        for _ in _reaped(os.WNOHANG):  # off the call's path, as a zygote reaps
            pass
    mine.close()
    for _ in _reaped(0):
        pass
    return lat[_WARMUP:]


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _one(kind: str, n: int, heavy: str) -> None:
    """A fresh process per measurement: the caller's own CPU and its reaped children's."""
    c0 = _cpu_s()
    lat = (_calls_zygote if kind == "zygote" else _calls_chain)(n, heavy)
    cpu_ms = (_cpu_s() - c0) / (n + _WARMUP) * 1000
    s = sorted(lat)
    print(json.dumps({"p50": statistics.median(s), "p95": s[int(len(s) * 0.95)],
                      "cpu_ms": cpu_ms}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--heavy", default="none", help="a module both parents import first")
    ap.add_argument("--one", choices=("zygote", "chain"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        _one(a.one, a.calls, a.heavy)
        return
    print(f"fork-per-call floor, {a.calls} back-to-back calls per round, parent imports "
          f"{a.heavy}; ms")
    print(f"{'round':>5}  {'mechanism':<8} {'p50':>7} {'p95':>7} {'CPU/call':>9}")
    for r in range(a.rounds):
        for kind in ("zygote", "chain") if r % 2 == 0 else ("chain", "zygote"):
            out = subprocess.run([sys.executable, __file__, "--one", kind, "--calls",
                                  str(a.calls), "--heavy", a.heavy],
                                 capture_output=True, text=True, check=True)
            m = json.loads(out.stdout)
            print(f"{r + 1:>5}  {kind:<8} {m['p50']:7.3f} {m['p95']:7.3f} {m['cpu_ms']:9.2f}")


if __name__ == "__main__":
    main()
