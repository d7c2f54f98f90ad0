"""Binary parameters of entries (DESIGN §3.5): a schema property with ``"format": "binary"``
or a ``contentMediaType`` takes bytes — ``bytes`` from Python, a base64 string in JSON —
which are written into the attempt's workspace; the skill receives the file's path.

Bytes are turned into base64 at admission (what the journal keeps is JSON), and into a
file when an attempt starts (each attempt has a fresh workspace).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skillexec.errors import ParameterError
from skillexec.skills.model import Skill
from skillexec.skills.schema import Field, binary_fields

__all__ = ["BinaryFields", "binary_fields"]


class BinaryFields:
    """Per skill (memoised by object): its binary fields; encode at admission, write at
    each attempt. A skill without any costs one dict lookup per call."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Skill, tuple[Field, ...]]] = {}

    def of(self, skill: Skill) -> tuple[Field, ...]:
        hit = self._memo.get(id(skill))
        if hit is not None and hit[0] is skill:
            return hit[1]
        fields = binary_fields(skill.parameters_schema)
        self._memo[id(skill)] = (skill, fields)
        return fields

    @staticmethod
    def encode(params: Mapping[str, Any] | None, fields: tuple[Field, ...],
               ) -> Mapping[str, Any] | None:
        """Bytes given for a binary field, as base64 text (the validator and the journal
        see JSON)."""
        if not params or not any(isinstance(params.get(n), bytes | bytearray | memoryview)
                                 for n, _ in fields):
            return params
        out = dict(params)
        for name, _ in fields:
            value = out.get(name)
            if isinstance(value, bytes | bytearray | memoryview):
                out[name] = base64.b64encode(bytes(value)).decode()
        return out

    @staticmethod
    def write(params: dict[str, Any], fields: tuple[Field, ...], workdir: Path,
              ) -> dict[str, Any]:
        """The parameters with each binary field's content written to ``workdir/inputs``
        and replaced by the file's path."""
        out = dict(params)
        folder: Path | None = None
        for name, suffix in fields:
            value = out.get(name)
            if not isinstance(value, str):
                continue
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ParameterError(f"parameter {name!r} takes bytes: give bytes, or a "
                                     "base64 string in JSON", code="invalid_binary") from None
            if folder is None:
                folder = workdir / "inputs"
                folder.mkdir(mode=0o755, exist_ok=True)
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:64] or "input"
            path = folder / f"{safe}{suffix}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            out[name] = str(path)
        return out
