"""SkillContext: what a running skill may know and do besides its parameters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillexec.errors import ErrorInfo, SkillExecError, utf8_text
from skillexec.task import ArtifactRef

if TYPE_CHECKING:
    import asyncio

__all__ = ["ArtifactSink", "ProgressSink", "SkillContext", "cut_message"]

ProgressSink = Callable[[float, str], None]
ArtifactSink = Callable[[str, bytes, "str | None"], ArtifactRef]
# Save errors that end the attempt, whatever the skill does with the exception.
_ENDS_ATTEMPT = frozenset({"artifact_quota_exceeded", "disk_full"})


class SkillContext:
    """Handed to ``execute(input_data, context)``.

    Sync skills run in worker threads, so the sinks must be callable from any thread.
    """

    __slots__ = ("_artifact_sink", "_cancel_event", "_cancelled", "_log", "_progress_sink",
                 "_spare", "_workdir", "_workdir_made", "attempt", "config", "deadline",
                 "max_message_bytes", "quota_error", "secrets", "settled", "skill_id",
                 "task_id", "trace", "workdir_empty", "workspace_quota")

    def __init__(
        self,
        *,
        task_id: str,
        skill_id: str,
        attempt: int,
        workdir: Path | str,
        config: dict[str, Any],
        deadline: float,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        progress_sink: ProgressSink | None = None,
        artifact_sink: ArtifactSink | None = None,
        cancel_event: threading.Event | None = None,
        trace: dict[str, str] | None = None,
        max_message_bytes: int | None = None,
        workspace_quota: tuple[int, int] | None = None,
        secrets: Mapping[str, str] | None = None,
        spare: Callable[[], str | None] | None = None,
    ) -> None:
        self.task_id = task_id
        self.skill_id = skill_id
        self.attempt = attempt
        # Most skills never touch their folder or logger, so neither is made until asked for.
        self._workdir = workdir
        self._workdir_made = False
        # Engine side: an empty workspace a finished attempt of this skill left (see
        # workspace.WorkspaceSpares), taken instead of making one.
        self._spare = spare
        # Engine side, set by an isolated runner: resolves True once no process of the
        # attempt can still run (False: not known), so the workspace may be kept as a
        # spare; and whether the runner saw the workspace empty once the attempt answered.
        self.settled: asyncio.Future[bool] | None = None
        self.workdir_empty = False
        self.config = config
        # What the operator hands this skill ([security] skill_secrets): never journaled,
        # and masked in whatever the skill returns or says.
        self.secrets: Mapping[str, str] = secrets or {}
        self.deadline = deadline  # wall clock, seconds since the epoch
        self._log = log
        self.trace = trace or {}
        self._progress_sink = progress_sink
        self._artifact_sink = artifact_sink
        # A plain flag, set on the loop's thread and read from a skill's worker thread; an
        # event where the caller has one to share (a child process's signal handler).
        self._cancelled = False
        self._cancel_event = cancel_event
        # Set engine side (the max_message_bytes setting); None in a child, whose messages
        # the engine cuts as they arrive.
        self.max_message_bytes = max_message_bytes
        # (files, bytes) the workspace may hold; watched while an isolated attempt runs.
        self.workspace_quota = workspace_quota
        # The first quota the attempt broke (engine side): whatever the skill does with the
        # exception it got, the attempt ends with this error.
        self.quota_error: ErrorInfo | None = None

    @property
    def workdir(self) -> Path:
        """A fresh private folder for this attempt, made (or taken) on first use."""
        made = self._workdir
        if self._workdir_made and isinstance(made, Path):
            return made
        spare = self._spare() if self._spare is not None else None
        if spare is not None:
            path = Path(spare)
        else:
            path = self._workdir if isinstance(self._workdir, Path) else Path(self._workdir)
            if not path.parent.is_dir():  # its skill's folder: 0711 whatever the umask
                from skillexec.runtime.work_root import make_reachable
                make_reachable(str(path.parent))
            path.mkdir(mode=0o700, exist_ok=True)
        self._workdir = path
        self._workdir_made = True
        return path

    @property
    def workdir_path(self) -> str | Path:
        """The workspace's path, without making it."""
        return self._workdir

    @property
    def workdir_made(self) -> bool:
        return self._workdir_made

    def forget_workdir(self) -> None:
        """Engine side: the folder is being removed; nothing more is made in it."""
        self._workdir_made = False
        self._spare = None

    @property
    def log(self) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        if self._log is None:
            self._log = _CappedLog(
                logging.getLogger("skillexec.skill"),
                {"task_id": self.task_id, "skill_id": self.skill_id, "attempt": self.attempt},
                max_bytes=self.max_message_bytes)
        return self._log

    @property
    def cancelled(self) -> bool:
        return self._cancelled or (self._cancel_event is not None
                                   and self._cancel_event.is_set())

    @property
    def remaining_s(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.time())

    @property
    def followed(self) -> bool:
        """Whether progress reports reach anyone (a subscriber or the event log)."""
        return self._progress_sink is not None

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1]; values outside are clamped, a message longer than
        ``max_message_bytes`` (UTF-8) is cut, with a marker saying how long it was."""
        if self._progress_sink is not None:
            text = utf8_text(str(message))
            if self.max_message_bytes is not None:
                text = cut_message(text, self.max_message_bytes)
            self._progress_sink(min(1.0, max(0.0, float(fraction))), text)

    def save_artifact(self, name: str, data: bytes | str, mime: str | None = None) -> ArtifactRef:
        """Keep a file this skill produced; returns its reference (also listed on the result)."""
        if self._artifact_sink is None:
            raise RuntimeError("this context cannot store artifacts")
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            return self._artifact_sink(utf8_text(name) if isinstance(name, str) else name,
                                       payload, mime)
        except SkillExecError as exc:
            # Kept even if the skill catches it: the attempt ends resource_error regardless
            # (a full disk too: the skill would report the lost file as its own failure).
            if exc.code in _ENDS_ATTEMPT and self.quota_error is None:
                self.quota_error = exc.info
            raise

    def cancel(self) -> None:
        """Engine side: ask the skill to stop."""
        self._cancelled = True
        if self._cancel_event is not None:
            self._cancel_event.set()

    def __repr__(self) -> str:
        return f"SkillContext(task_id={self.task_id!r}, attempt={self.attempt})"


def cut_message(text: str, max_bytes: int) -> str:
    """``text`` if it fits in ``max_bytes`` of UTF-8, else its head and a marker."""
    if len(text) * 4 <= max_bytes:  # fits whatever its characters: no encoding needed
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    marker = f"... [cut: the message was {len(data)} bytes, the limit is {max_bytes}]"
    head = data[: max(0, max_bytes - len(marker))].decode("utf-8", "ignore")
    return head + marker


class _CappedLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A skill's logger: each message, once formatted, cut to ``max_bytes``."""

    def __init__(self, logger: logging.Logger, extra: dict[str, Any], *,
                 max_bytes: int | None) -> None:
        super().__init__(logger, extra)
        self.max_bytes = max_bytes

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args!r}"
        if self.max_bytes is not None:
            text = cut_message(text, self.max_bytes)
        cut, options = self.process(text, kwargs)
        self.logger.log(level, cut, **options)
