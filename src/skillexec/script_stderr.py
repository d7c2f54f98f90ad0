"""What a failed script's stderr says went wrong, in one line.

A nonzero exit (``script_exit``) carries the script's stderr in its details and the tail of
it in its message; the tail starts wherever 500 characters back happens to fall, often mid
traceback (``reader = PdfReader(sys.argv[1]) ^^^^``). The line that says why is the
exception a Python traceback ends with, or the line that names an error, or the last one:
the terminal's sentence and the reports' groups both read it from here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SCRIPT_EXIT", "address_space_hint", "error_headline", "missing_module_in",
           "network_hint", "open_files_hint", "read_grant_hint", "sandbox_hint",
           "self_install_hint", "shows_offline", "telling_line"]

SCRIPT_EXIT = "script_exit"
# What a refusal of the sandbox looks like from inside, in Python's, node's and the
# shell's words (the script sees only an errno).
_DENIED = re.compile(r"PermissionError: \[Errno (?:1|13|30)\]|Permission denied|EACCES|EPERM"
                     r"|Read-only file system|EROFS")
_PROC_DENIED = re.compile(r"[\"' ](?:/proc|/sys)/[^\s\"']{0,200}[\"']?:? ?"
                          r"(?:Permission denied|\[Errno 13\])|(?:Permission denied|EACCES|"
                          r"\[Errno 13\])[^\n]{0,200}[\"' ](?:/proc|/sys)/")
# What needs /dev/shm (a POSIX semaphore or shared memory segment: multiprocessing's locks,
# so every Pool, ProcessPoolExecutor and Queue, and SharedMemory), as a traceback shows it.
_SHM = re.compile(r"SemLock|_posixshmem|shm_open|sem_open|/dev/shm")
# A refused path that is the machine's /tmp or a file or folder right in it (a fixed
# /tmp/bathroom.svg, /tmp/outputs), in Python's, node's and the shell's words.
# (mkdir and coreutils quote a path in U+2018/U+2019.)
_TMP_DENIED = re.compile(r"(?:Permission denied|EACCES|EPERM|\[Errno (?:1|13|30)\]|Read-only "
                         r"file system)[^\n]{0,200}?[\"'\u2018 ]/(?:var/)?tmp"
                         r"(?:/[^/\s\"':\u2019]+)?/?(?:[\"':\u2019]|$)"
                         r"|[\"'\u2018 ]/(?:var/)?tmp(?:/[^/\s\"':\u2019]+)?/?[\"'\u2019]?: "
                         r"(?:Permission denied|Read-only file system)", re.M)
_PROCESS_LEVEL = ("or the operator runs skills at the process level, which has no sandbox "
                  "(isolation.default_level = \"process\")")
_OFFLINE = re.compile(r"Temporary failure in name resolution|Name or service not known"
                      r"|getaddrinfo|EAI_AGAIN|ENOTFOUND|Network is unreachable|ENETUNREACH"
                      r"|Could not resolve host|NameResolutionError|connect EACCES"
                      r"|connect EPERM|Errno 101\]"
                      # Python's words for a connect the sandbox refused (EACCES, no path:
                      # a file's refusal names it): urllib's, requests', its own print of
                      # either, a traceback that ends at sock.connect.
                      r"|(?:urlopen error|URL ?Error:?|[Cc]onnection|connect|socket)[^\n]{0,80}"
                      r"\[Errno (?:1|13)\] (?:Permission denied|Operation not permitted)(?!:)"
                      r"|\.connect(?:_ex)?\([^\n]{0,200}\n(?:[^\n]*\n){0,3}?"
                      r"PermissionError: \[Errno (?:1|13)\] [^\n:]*$", re.M)
# A program refused memory it only reserves (a thread's stack, node's code range), or the
# mapping of a shared library (glibc's words for ENOMEM from mmap under RLIMIT_AS: an
# ImportError of a compiled module that reads like a broken wheel).
_NO_MEMORY = re.compile(r"Cannot allocate memory|ENOMEM|failed to reserve virtual memory"
                        r"|Failed to reserve virtual memory|std::bad_alloc|MemoryError"
                        r"|Cannot allocate Wasm memory|Out of memory"
                        r"|failed to map segment from shared object"
                        r"|cannot allocate memory in static TLS block")
_TRACEBACK = "Traceback (most recent call last):"
_NODE_CODE = re.compile(r" \[[A-Z][A-Z0-9_]*\]$")
# As the child's own word on a missing module is checked (see _script_end): a dotted name.
_NO_MODULE = re.compile(r"^ModuleNotFoundError: No module named "
                        r"'([A-Za-z_]\w*(?:\.[A-Za-z_]\w*){0,20})'$", re.ASCII)


def telling_line(stderr: str) -> str:
    """The line of a failed command's stderr that says what went wrong ("" if it is empty).

    After a Python traceback (the last one: in a chain, "During handling of the above
    exception ..." comes after the cause), its exception: the first line after the header
    that is not indented (frames and source lines are). Otherwise the first line that names
    an error (``Error: Cannot find module 'x'`` is followed by its stack; a tool's
    ``[deep-dive] FATAL: ...`` by lines that explain it), else the last."""
    raw = stderr.splitlines()
    header = max((i for i, ln in enumerate(raw) if ln.strip() == _TRACEBACK), default=None)
    if header is not None:
        for line in raw[header + 1:]:
            if line.strip() and not line[:1].isspace():
                return line.strip()
    lines = [ln.strip() for ln in raw if ln.strip()]
    for line in lines:
        # Node's "Error [ERR_MODULE_NOT_FOUND]: ..." names its code between the two.
        head = _NODE_CODE.sub("", line.split(":", 1)[0])
        last = head.rsplit(" ", 1)[-1].lower()
        if ":" in line and (head.endswith(("Error", "Exception")) or last in ("error", "fatal")):
            return line
    return lines[-1] if lines else ""


def address_space_hint(stderr: str, *, limit_mb: int) -> str | None:
    """Where a script was refused memory under a limit of ``limit_mb`` (no memory cgroup
    bounds it: rlimits do, RLIMIT_DATA of a Python script, RLIMIT_AS of a command, for it
    and each program it starts), the sentence that says so."""
    if not _NO_MEMORY.search(stderr):
        return None
    return (f"its memory is limited to {limit_mb} MB (no memory cgroup here: an rlimit, "
            "for it and each program it starts): raise the skill's memory_mb, or the "
            "call's, to give it more")


_NO_FILES = re.compile(r"EMFILE|Too many open files")


def open_files_hint(stderr: str, *, limit: int) -> str | None:
    """Where a script ran out of file descriptors under the attempt's limit, the sentence
    that says so (Node reports a module it could not open as one it cannot find)."""
    if not _NO_FILES.search(stderr):
        return None
    return (f"it ran out of open files: an attempt may hold {limit} at once "
            "(limits.max_open_files)")


def missing_module_in(stderr: str) -> str | None:
    """The module a Python that the script started ended on (a shell wrapper's ``exec
    python3 tool.py``: scnet-chat's documented ``./scripts/run``), where that is the last
    thing the script said: a missing package, not a failure of the script's own."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    match = _NO_MODULE.match(lines[-1]) if lines else None
    return match.group(1) if match else None


def error_headline(code: str, message: str, details: Mapping[str, Any]) -> str:
    """An error's message, with a failed script's stderr tail replaced by its telling line:
    ``the script exited with status 1: FileNotFoundError: [Errno 2] No such file ...``."""
    stderr = details.get("stderr")
    if code != SCRIPT_EXIT or not isinstance(stderr, str):
        return message
    line = telling_line(stderr)
    head = message.split(": ", 1)[0]
    return f"{head}: {line}" if line else head


def network_hint(skill_id: str, *, maybe: bool = False) -> str:
    """The skill's sandbox has no network, and how the operator grants it. ``maybe``: its
    output does not show a refusal, but its code goes online."""
    grant = (f"the operator grants it: [permissions] per_skill = "
             f"{{{skill_id!r} = [\"network_access\"]}}")
    if maybe:
        return ("the skill has no network_access permission, so its sandbox has no network; "
                f"if the script needed it (its code goes online), {grant}")
    return ("the skill has no network_access permission, so its sandbox has no network "
            f"({grant})")


def shows_offline(text: str) -> bool:
    """Whether ``text`` (a script's output, a tool's log) shows a lookup or a connection
    that the network's absence refused."""
    return _OFFLINE.search(text) is not None


def read_grant_hint(skill_id: str, folder: str, *, file_read: bool) -> str:
    """How the operator lets a skill's sandbox read ``folder``, outside its own (recipe-
    manager imports its repository's ``shared/``). ``file_read``: the skill has that grant
    already. Without it, the folder named alone opens nothing: the paths are for skills
    granted file_read, which no SKILL.md can ask for (trialA set one and not the other)."""
    paths = f"file_read_paths = [{json.dumps(folder)}]"
    if file_read:
        return f"the operator lets it read that folder: [permissions] {paths}"
    return ("the operator lets it read that folder with both a grant and the path: "
            f"[permissions] per_skill = {{{skill_id!r} = [\"file_read\"]}} and {paths} "
            "(the path alone opens it to skills granted file_read only)")


def sandbox_hint(stderr: str, *, network: bool, skill_id: str = "ID",
                 system_info: bool = False) -> str | None:
    """Where a sandboxed script's stderr shows it met the sandbox (a write outside its
    workspace: richfrem's inventory script writes /tmp/...; a name lookup without network:
    cannbot's version check; /proc closed: DuckDB's connect), the sentence that says so,
    which the script's own words do not: nothing else tells a user this is by design, nor
    how the operator grants what the skill's manifest could not ask for (a SKILL.md has no
    permissions). ``network``, ``system_info``: the skill has it."""
    if not network and _OFFLINE.search(stderr):
        return network_hint(skill_id)
    if not system_info and _PROC_DENIED.search(stderr):
        return ("the sandbox opens /proc and /sys only to a skill granted system_info (the "
                f"operator grants it: [permissions] per_skill = "
                f"{{{skill_id!r} = [\"system_info\"]}})")
    if _DENIED.search(stderr) and _SHM.search(stderr):
        return ("the sandbox gives a script no /dev/shm, which multiprocessing's locks and "
                "pools (Pool, ProcessPoolExecutor, Queue) and SharedMemory need: threads work "
                f"(ThreadPoolExecutor, multiprocessing.pool.ThreadPool), {_PROCESS_LEVEL}")
    if _TMP_DENIED.search(stderr):
        return ("the sandbox lets a script write only in its workspace (its current folder) "
                "and its TMPDIR (tempfile.gettempdir()), not the machine's /tmp: give it a "
                f"path in its workspace where it takes one, {_PROCESS_LEVEL}")
    if _DENIED.search(stderr):
        return ("the sandbox lets a script read its skill's folder and the system's, and "
                "write only in its workspace (its current folder)")
    return None


# A pip install the script ran itself, as its stderr shows it (its own print of the
# command, or CalledProcessError's list: ['python', '-m', 'pip', 'install', '--user', 'x']),
# and pip's words that it failed.
_PIP_INSTALL = re.compile(r"\bpip3?['\"]?,? +['\"]?install\b([^\n]{0,400})")
_PIP_FAILED = re.compile(r"^ERROR: |returned non-zero exit status|externally-managed-environment"
                         r"|No module named pip|Could not install packages", re.M)
_VALUED = frozenset({"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i",
                     "--index-url", "--extra-index-url", "-f", "--find-links", "-t",
                     "--target", "--prefix", "--root", "--python", "--platform"})
_ENDS_COMMAND = frozenset("]);&|>#")
_WORDS = frozenset({"and", "or", "then", "to", "first", "again", "manually", "it", "them",
                    "the", "if", "with", "for", "in", "failed", "returned", "before"})
_FILES = (".txt", ".whl", ".gz", ".zip", ".cfg", ".toml", ".in", ".py")
_REQUIREMENT = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]{0,99}[A-Za-z0-9])?)"
                          r"(?:\[[A-Za-z0-9,._-]{1,100}\])?(?:[<>=!~]=?[^\s,'\"]{0,60})?$")


def self_install_hint(stderr: str, *, skill_id: str) -> str | None:
    """Where a script tried to install its packages itself (parsepdf's ``pip install
    --user pdfplumber``, which a skill's environment refuses) and that failed, how to
    install them: the packages its own command named (the author's word, not a guess)."""
    if not _PIP_FAILED.search(stderr):
        return None
    names: list[str] = []
    for match in _PIP_INSTALL.finditer(stderr):
        after_option = False
        for raw in re.split(r"[\s,'\"]+", match.group(1)):
            token = raw.rstrip("]).;:")
            if raw[:1] in _ENDS_COMMAND or token.lower() in _WORDS:
                break  # the list's or the command's end: the words after it are prose
            if token.startswith("-"):
                # -r FILE, -i URL, --target DIR take a value; --user, --quiet do not.
                after_option = token in _VALUED
                continue
            req = _REQUIREMENT.match(token)
            if req and not after_option and req.group(1) not in names \
                    and not req.group(1).endswith(_FILES):
                names.append(req.group(1))
            after_option = False
            if token != raw and "[" not in raw:
                break  # "...', 'pdfplumber']" ended the argv list, "(pip install x)" the aside
    if not names:
        return None
    names = names[:5]
    return (f"the script tried to install {', '.join(names)} itself, which fails here: "
            f"skillexec installs a skill's packages, so run skillexec skills install "
            f"{skill_id} {' '.join(names)}, or declare them in its requirements.txt")
