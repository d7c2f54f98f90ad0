"""What a SIGKILLed engine left in its cgroups is swept by the next engine to start
(runtime/limits._sweep_stale); engines starting side by side sweep the same leftovers."""

from __future__ import annotations

import subprocess
from pathlib import Path

from skillexec.runtime import limits


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_leftover_swept_meanwhile_by_another_engine_is_passed_over(tmp_path: Path) -> None:
    """A dead engine's folder that another engine removed between the listing and the walk
    of its slots was an error that failed this engine's start (FileNotFoundError: what CI met
    with two engines starting at once). Here the walk fails the same way, on a name that is
    no folder; the sweep goes on to the next leftover."""
    dead = _dead_pid()
    gone = tmp_path / f"skillexec-{dead}-aaaa"
    gone.write_text("")  # listing it works, walking it fails (as a removed folder's would)
    left = tmp_path / f"skillexec-{dead}-bbbb"
    (left / "0").mkdir(parents=True)
    limits._sweep_stale(tmp_path)
    assert not left.exists()
