"""Where a skill's environment stands (``skills list``, ``show``, ``check``, ``install``)."""

from __future__ import annotations

from dataclasses import dataclass

from skillexec.environments.npm import NpmPackages

__all__ = ["EnvStatus"]


@dataclass(frozen=True, slots=True)
class EnvStatus:
    """A skill's environment: ``none needed`` | ``ready`` | ``not installed`` | ``failed``
    (its Python packages'), with the files they were read from (``sources``, relative to
    the skill's folder: a plugin's ``../../pyproject.toml``) and its ``package.json``'s
    npm packages (``npm``; skillexec installs none of those)."""

    state: str
    reason: str = ""
    key: str | None = None
    requirements: tuple[str, ...] = ()
    path: str | None = None
    sources: tuple[str, ...] = ()
    npm: NpmPackages | None = None
    note: str = ""  # said beside a ready one: its --hash values not checked (pip)

    @property
    def npm_missing(self) -> bool:
        """Whether its package.json lists npm packages nobody installed."""
        return self.npm is not None and not self.npm.installed

    def to_dict(self) -> dict[str, object]:
        return {"state": self.state, "reason": self.reason or None, "key": self.key,
                "requirements": list(self.requirements), "path": self.path,
                "sources": list(self.sources),
                "npm": self.npm.to_dict() if self.npm is not None else None,
                "note": self.note or None}

    def __str__(self) -> str:
        return f"{self.state}: {self.reason}" if self.reason else self.state
