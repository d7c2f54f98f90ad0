"""``journal_url``: which journal a node uses, and how it is named in messages.

Unset (the default): the embedded SQLite file ``<data_dir>/journal.db``. ``sqlite:///path``:
a SQLite file elsewhere. ``postgresql://`` (or ``postgres://``): a PostgreSQL database
shared by every node that names it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

__all__ = ["check", "kind", "redacted", "sqlite_path"]

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&]*", re.IGNORECASE)
_SCHEMES = ("postgresql://", "postgres://", "sqlite:///")


def check(url: str | None) -> str | None:
    """``url`` if it names a journal; ValueError saying what is wrong (pydantic's check)."""
    if url is None or url == "":
        return None
    if not url.startswith(_SCHEMES):
        raise ValueError(f"{redacted(url)!r} is not a journal URL: use postgresql://user@host/db"
                         " or sqlite:///path/journal.db (or leave it unset: the embedded file)")
    if url.startswith("sqlite:///") and len(url) == len("sqlite:///"):
        raise ValueError("sqlite:/// names no file: use sqlite:///path/journal.db")
    return url


def kind(url: str | None) -> Literal["sqlite", "postgresql"]:
    return "postgresql" if url and url.startswith(("postgresql://", "postgres://")) else "sqlite"


def sqlite_path(url: str | None, default: Path) -> Path:
    """The SQLite file ``url`` names (``default`` when unset)."""
    return Path(url.removeprefix("sqlite:///")) if url else default


def redacted(url: str) -> str:
    """``url`` without its password: what messages and logs may show."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))
