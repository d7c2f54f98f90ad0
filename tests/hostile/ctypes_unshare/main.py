import ctypes
import os

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PTRACE_TRACEME = 0
PTRACE_ATTACH = 16


def execute(input_data):
    libc = ctypes.CDLL(None, use_errno=True)
    results = {}
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        results["unshare"] = ctypes.get_errno()
    libc.ptrace.restype = ctypes.c_long
    if libc.ptrace(PTRACE_ATTACH, os.getppid(), None, None) != 0:
        results["ptrace"] = ctypes.get_errno()
    if results:
        err = next(iter(results.values()))
        raise PermissionError(err, f"blocked: {results}")
    return {"escaped": True}
