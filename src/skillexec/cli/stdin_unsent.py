"""Whether this process's stdin holds data that ``skillexec script`` did not send.

``echo hi | skillexec script ...`` gave the script an empty stdin (it is sent with
``--stdin -`` only: an agent's shell hands every command a stdin it never meant for the
script) and nothing said so; SKILL.md files write ``echo ... | python3 scripts/x.py``.
Asked without reading a byte, so it never waits for a pipe nor takes what another
command after this one would read.
"""

from __future__ import annotations

import array
import fcntl
import os
import stat
import termios

__all__ = ["stdin_holds_data"]


def stdin_holds_data(fd: int = 0) -> bool:
    """True where ``fd`` is a pipe or socket with bytes waiting, or a file with bytes past
    its offset (``< input.json``); never for a terminal or a device (``< /dev/null``)."""
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return st.st_size > os.lseek(fd, 0, os.SEEK_CUR)
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            waiting = array.array("i", [0])
            fcntl.ioctl(fd, termios.FIONREAD, waiting)
            return waiting[0] > 0
    except OSError:  # closed (<&-), or a file that cannot seek: nothing to say
        return False
    return False
