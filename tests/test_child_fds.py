"""The zygote's descriptors a child closes, as close_range runs (``_child.fd_runs``)."""

from __future__ import annotations

import itertools
import os

from hypothesis import given
from hypothesis import strategies as st

from skillexec.runtime.runners._child import fd_runs


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=60))
def test_runs_cover_exactly_the_descriptors(fds: list[int]) -> None:
    runs = fd_runs(fds)
    covered = [fd for low, high in runs for fd in range(low, high)]
    assert covered == sorted(set(fds))  # nothing more, nothing less, in order
    for (_, high), (low, _) in itertools.pairwise(runs):
        assert high < low  # runs never touch: each one is as long as it can be
    assert all(low < high for low, high in runs)


def test_closing_the_runs_closes_those_descriptors_only() -> None:
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(8)]
    keep = opened[2], opened[5]
    drop = [fd for fd in opened if fd not in keep]
    try:
        for low, high in fd_runs(drop):
            os.closerange(low, high)
        for fd in drop:
            try:
                os.fstat(fd)
            except OSError:
                continue
            raise AssertionError(f"fd {fd} is still open")
        for fd in keep:
            os.fstat(fd)  # still open
    finally:
        for fd in opened:
            try:
                os.close(fd)
            except OSError:
                pass
