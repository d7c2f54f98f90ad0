"""The files a skill's zygote sees: ``fsview``'s way to the needed trees, and, without
``network_access`` (its own network namespace), a name lookup that fails at once and for good.

Without the network a lookup goes to the machine's DNS server through a network namespace
with no route, and glibc answers EAI_AGAIN, "Temporary failure in name resolution": a
failure worth retrying, and that says the wrong thing: the name is not coming. The
zygote's view gets an ``nsswitch.conf`` whose hosts come from ``/etc/hosts`` alone:
``localhost`` and what the operator put there resolve, any other name is EAI_NONAME, "Name
or service not known" (node's ENOTFOUND, curl's "Could not resolve host"), which a client
that tells the two apart does not retry. (npm retries either: see ``_zygote_setup``.)

Done before the zygote drops root (or, without root, the capabilities its user namespace
gave it) and before its Landlock rules are opened: the rule for ``/etc/nsswitch.conf``
then names the file the skill sees.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from skillexec.security import fsview

__all__ = ["NSSWITCH", "enter", "offline_nsswitch"]

NSSWITCH = "/etc/nsswitch.conf"
_CLONE_NEWNS = 0x00020000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def enter(spec: dict[str, Any], private_dir: str) -> None:
    """The zygote's view (``fsview.enter_view``), then, for a skill without the network
    whose zygote may mount (root, or its own user namespace), names from /etc/hosts only.
    ``private_dir``: the zygote's own folder, where the view's nsswitch.conf is kept."""
    fsview.enter_view((*spec["read_paths"], *spec["write_paths"], *spec["child_write_paths"]),
                      uid=spec["uid"], gid=spec["gid"], conceal=spec.get("conceal", ()),
                      keep=spec.get("keep", ()))
    # (Its own network namespace: made exactly when the skill may not go online.)
    if not spec["netns"] or not os.path.exists(NSSWITCH) \
            or not ((spec["uid"] is not None and os.geteuid() == 0) or spec.get("userns")):
        return  # with no file, glibc's default asks DNS: as before
    try:
        with open(NSSWITCH, encoding="utf-8") as f:
            host = f.read()
    except (OSError, UnicodeError):
        host = ""
    path = os.path.join(private_dir, "nsswitch.conf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(offline_nsswitch(host))
    # A namespace of its own (one more over fsview's costs nothing), private first: a
    # mount in a namespace that shares the host's propagation would reach the host.
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(None, b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None),
           "mount(/, MS_PRIVATE)")
    _check(_libc.mount(os.fsencode(path), NSSWITCH.encode(), None, ctypes.c_ulong(_MS_BIND),
                       None), f"bind {path} over {NSSWITCH}")


def offline_nsswitch(host: str) -> str:
    """The machine's nsswitch.conf with its hosts from files alone (every other database,
    passwd, group, services, as it was)."""
    lines = [ln for ln in host.splitlines()
             if not ln.split("#", 1)[0].strip().startswith(("hosts:", "hosts\t", "hosts "))]
    return "\n".join([*lines, "hosts: files"]) + "\n"


def _check(res: int, what: str) -> None:
    if res != 0:
        err = ctypes.get_errno()
        raise fsview.FsViewError(err, f"{what}: {os.strerror(err)}")
