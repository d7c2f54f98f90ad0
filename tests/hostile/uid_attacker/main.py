import ctypes
import os
import signal

_libc = ctypes.CDLL(None, use_errno=True)


class _Rlimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_uint64), ("max", ctypes.c_uint64)]


def _try(fn):
    try:
        fn()
    except OSError as exc:
        return type(exc).__name__
    return "ok"


def _prlimit(pid):
    new = _Rlimit(0, 0)
    # prlimit64(pid, RLIMIT_CPU, new, NULL): the target's CPU limit to zero.
    if _libc.prlimit(pid, 0, ctypes.byref(new), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def execute(input_data):
    pid = int(input_data["pid"])
    out = {
        "sigstop": _try(lambda: os.kill(pid, signal.SIGSTOP)),
        "prlimit": _try(lambda: _prlimit(pid)),
        "setpriority": _try(lambda: os.setpriority(os.PRIO_PROCESS, pid, 19)),
        "sched_setaffinity": _try(lambda: os.sched_setaffinity(pid, {0})),
    }

    def write():
        with open(input_data["path"], "w") as f:
            f.write("pwned by uid_attacker")

    out["write"] = _try(write)
    return out
