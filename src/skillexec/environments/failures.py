"""A failed install, remembered in ``<key>.failed`` (JSON) for the skills that share the key.

What is kept is the reason alone, never the skill that asked (the environment is every
skill's with that set: the message of one named another), the installer's settings it
failed under (a corrected index forgets it), and whether it was transient (the index, the
network, the disk: see ``install_errors``). A failure of the packages is final until
``skills install`` or a change of the set or of the settings; a transient one is tried
again at a call after a backoff that doubles with each failure in a row, from
``BACKOFF_S`` to ``MAX_BACKOFF_S``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from skillexec.environments.installer import InstallSettings
from skillexec.environments.locks import atomic_write
from skillexec.errors import DependencyError

__all__ = ["BACKOFF_S", "MAX_BACKOFF_S", "Failure", "failure_error", "for_skill", "read_failure",
           "settings_mark", "unavailable"]

BACKOFF_S = 15.0
MAX_BACKOFF_S = 600.0
_LEGACY_SKILL = re.compile(r"^skill '[^']*': ")


def settings_mark(settings: InstallSettings) -> str:
    """A digest of what the installer was told (the index, find-links, ...): a failure
    under other settings is not this one's (the index's credentials are hashed only)."""
    text = json.dumps(asdict(settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Failure:
    reason: str
    transient: bool = False
    settings: str = ""  # settings_mark; "" for a file of an older version: any settings
    at: float = 0.0  # time.time() of the failure
    attempts: int = 1  # transient failures in a row

    @property
    def retry_at(self) -> float:
        """When it is tried again (never, for a failure of the packages)."""
        if not self.transient:
            return float("inf")
        return self.at + min(MAX_BACKOFF_S, BACKOFF_S * 2.0 ** (self.attempts - 1))

    def said(self) -> str:
        """The reason, and for a transient failure when it will be tried again."""
        if not self.transient:
            return self.reason
        wait = max(0.0, self.retry_at - time.time())
        return (f"{self.reason} (a temporary failure: tried again at a call in "
                f"{wait:.0f} s or later, or now with skillexec skills install)")

    def write(self, path: Path) -> None:
        atomic_write(path, json.dumps(asdict(self)))


def read_failure(path: Path, settings: InstallSettings) -> Failure | None:
    """The failure remembered at ``path`` that holds under ``settings`` (a transient one
    even when due: see ``Failure.retry_at``); None without one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        raw = json.loads(text)
        failure = Failure(reason=str(raw["reason"]), transient=bool(raw.get("transient")),
                          settings=str(raw.get("settings", "")), at=float(raw.get("at", 0)),
                          attempts=max(1, int(raw.get("attempts", 1))))
    except (ValueError, TypeError, KeyError):
        # An older version's plain reason, which began with the skill that failed.
        return Failure(reason=_LEGACY_SKILL.sub("", text.strip()) or "failed")
    if failure.settings and failure.settings != settings_mark(settings):
        return None  # failed under other settings (another index): not this one's
    return failure


def failure_error(failure: Failure) -> DependencyError:
    """A remembered failure as the error it was (naming no skill)."""
    return DependencyError(failure.reason, code="install_failed", retryable=failure.transient,
                           details={"reason": failure.reason, "transient": failure.transient})


def for_skill(skill_id: str, exc: DependencyError) -> DependencyError:
    """``exc`` said to a caller of ``skill_id``: named after it, whichever skill of the set
    made the install."""
    said = exc.message + (" (a temporary failure: tried again at a later call)"
                          if exc.details.get("transient") else "")
    return DependencyError(f"skill {skill_id!r}: {said}", code=exc.code,
                           retryable=exc.retryable,
                           details={**exc.details, "skill_id": skill_id})


def unavailable(skill_id: str, failure: Failure) -> DependencyError:
    if failure.transient:
        return DependencyError(f"skill {skill_id!r}: {failure.said()}", code="install_failed",
                               retryable=True, details={"skill_id": skill_id,
                                                        "reason": failure.reason,
                                                        "transient": True})
    return DependencyError(
        f"skill {skill_id!r}: {failure.reason} (the skill stays unavailable until its "
        f"requirements are fixed, or `skillexec skills install {skill_id}` succeeds)",
        code="install_failed", details={"skill_id": skill_id, "reason": failure.reason})
