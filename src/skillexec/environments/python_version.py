"""A script's ``requires-python`` (its PEP 723 block) against the Python that runs it.

A script runs on the engine's interpreter: its warm parent is that interpreter, forked.
terrylica/cc-skills has 18 of its 42 PEP 723 scripts asking for Python 3.12 or 3.14; most
run on 3.11 all the same, so none is refused. Where one fails, its error says what it
asked for (a ``SyntaxError`` of 3.12's grammar otherwise reads as the script's bug), and
``skills check`` names them ahead of time.
"""

from __future__ import annotations

import platform
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from skillexec.environments.requirements import pep723_block
from skillexec.errors import ManifestError

__all__ = ["python_mismatch"]


def python_mismatch(script: Path) -> str | None:
    """What ``script`` asks for when the running Python is not it ("asks for Python
    >=3.14 (its # /// script requires-python); this is Python 3.11.7"), else None."""
    if script.suffix != ".py":
        return None
    try:
        wanted = pep723_block(script).get("requires-python")
    except ManifestError:
        return None  # its dependencies say so, where they are read
    if not isinstance(wanted, str):
        return None
    try:
        spec = SpecifierSet(wanted)
    except InvalidSpecifier:
        return None
    running = platform.python_version()
    if spec.contains(running, prereleases=True):
        return None
    return (f"asks for Python {wanted} (its # /// script requires-python); "
            f"this is Python {running}")
