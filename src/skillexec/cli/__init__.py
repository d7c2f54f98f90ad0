"""The ``skillexec`` command line."""

import sys

from skillexec.cli.app import app
from skillexec.cli.app import main as _main

__all__ = ["app", "main"]


def main() -> None:
    # The version needs no command tree (a script checking it should not wait).
    if sys.argv[1:] in (["--version"], ["-V"]):
        from skillexec import __version__

        sys.stdout.write(f"skillexec {__version__}\n")
        return
    _main()
