"""WorkspaceSpares: an empty workspace kept for the next isolated attempt of its skill is
handed out only as ``mkdir`` would have made it, whatever was done to it before or after
it was kept (the end-to-end corpus: test_scripts_hostile)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec.runtime.workspace import WorkspaceSpares

_ROOT = os.geteuid() == 0
# What a skill (or its daemon) may do to its workspace before the engine looks at it, and
# what the engine's own uid could do to a spare afterwards.
MUTATIONS = ("nothing", "file", "folder", "chmod-777", "chmod-500", "xattr", "symlink",
             "replace", "remove", "other-owner",
             # its TMPDIR (.tmp), which a spare keeps when it is as the child makes it
             "tmp", "tmp-file", "tmp-chmod-777", "tmp-xattr", "tmp-symlink", "tmp-other-owner",
             "tmp-is-file")


def _mutate(ws: Path, how: str) -> None:
    with contextlib.suppress(OSError):
        if how == "file":
            (ws / "planted").write_text("x")
        elif how == "folder":
            (ws / "sub").mkdir()
        elif how == "chmod-777":
            ws.chmod(0o777)
        elif how == "chmod-500":
            ws.chmod(0o500)
        elif how == "xattr":
            os.setxattr(ws, "user.planted", b"1")
        elif how == "symlink":
            shutil.rmtree(ws, ignore_errors=True)
            ws.symlink_to(ws.parent)
        elif how == "replace":
            shutil.rmtree(ws, ignore_errors=True)
            ws.mkdir(0o700)
        elif how == "remove":
            shutil.rmtree(ws, ignore_errors=True)
        elif how == "other-owner" and _ROOT:
            os.chown(ws, 4242, 4242)
        elif how == "tmp":
            (ws / ".tmp").mkdir(0o700)
        elif how == "tmp-file":
            (ws / ".tmp" / "planted").write_text("x")
        elif how == "tmp-chmod-777":
            (ws / ".tmp").chmod(0o777)
        elif how == "tmp-xattr":
            os.setxattr(ws / ".tmp", "user.planted", b"1")
        elif how == "tmp-symlink":
            (ws / ".tmp").symlink_to(ws.parent)
        elif how == "tmp-other-owner" and _ROOT:
            os.chown(ws / ".tmp", 4242, 4242)
        elif how == "tmp-is-file":
            (ws / ".tmp").write_text("x")


def _folder_as_made(path: str, *, owner_kept: bool) -> bool:
    """Judged apart from the code under test: a folder, not a link, mode 0700, no
    attribute; owned by us (or, ``owner_kept`` False, by anyone: as root, the spare is
    taken back); nothing in it but, at the workspace's top, an empty TMPDIR as made."""
    try:
        st_ = os.lstat(path)
        if not (st_.st_mode == stat.S_IFDIR | 0o700
                and (not owner_kept or st_.st_uid == os.geteuid())
                and not [x for x in os.listxattr(path, follow_symlinks=False)
                         if not x.startswith("security.")]):
            return False
        inside = os.listdir(path)
        if path.endswith("/.tmp"):
            return inside == []
        return inside == [] or (inside == [".tmp"] and _folder_as_made(
            f"{path}/.tmp", owner_kept=owner_kept))
    except OSError:
        return False


def _as_made_but_owner(path: str) -> bool:
    return _folder_as_made(path, owner_kept=not _ROOT)


def _as_made(path: str) -> None:
    assert _folder_as_made(path, owner_kept=True), sorted(os.listdir(path))


@settings(max_examples=80, deadline=None)
@given(before=st.lists(st.sampled_from(MUTATIONS), max_size=3),
       after=st.lists(st.sampled_from(MUTATIONS), max_size=3))
def test_a_spare_is_handed_out_only_as_mkdir_makes_it(before: list[str],
                                                       after: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "skill"
        ws = folder / "0001-1"
        ws.mkdir(mode=0o700, parents=True)
        for how in before:
            _mutate(ws, how)
        spares = WorkspaceSpares()
        pristine = _as_made_but_owner(str(ws))
        kept = spares.put(str(ws))
        assert kept == pristine
        for how in after:
            _mutate(ws, how)
        got = spares.take(str(folder))
        if got is not None:
            assert kept and got == str(ws)
            _as_made(got)
        elif kept:
            assert not (set(after) <= {"nothing"}), "a pristine spare was not handed out"
        assert spares.take(str(folder)) is None  # handed out once


def test_spares_go_to_their_own_folder_only_and_are_bounded(tmp_path: Path) -> None:
    spares = WorkspaceSpares(per_folder=2)
    made = []
    for name in ("a", "b", "c"):
        ws = tmp_path / "one" / name
        ws.mkdir(mode=0o700, parents=True)
        made.append(str(ws))
    assert [spares.put(p) for p in made] == [True, True, False]  # the third: removed
    (tmp_path / "two").mkdir()
    assert spares.take(str(tmp_path / "two")) is None
    assert spares.take(str(tmp_path / "one")) == made[1]  # the last kept: warm in cache
    assert spares.drain() == [made[0]]
    assert spares.take(str(tmp_path / "one")) is None


def test_a_spare_keeps_its_empty_tmpdir(tmp_path: Path) -> None:
    """An attempt's TMPDIR, empty and as the child made it, stays in the spare: no rmdir
    on this call's path and no mkdir on the next's. With anything in it, it is no spare."""
    spares = WorkspaceSpares()
    ws = tmp_path / "skill" / "0001-1"
    (ws / ".tmp").mkdir(mode=0o700, parents=True)
    ws.chmod(0o700)
    assert spares.put(str(ws))
    assert spares.take(str(ws.parent)) == str(ws)
    assert sorted(os.listdir(ws)) == [".tmp"] and os.listdir(ws / ".tmp") == []
    (ws / ".tmp" / "left").write_text("x")
    assert not spares.put(str(ws))
