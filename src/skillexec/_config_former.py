"""The flat setting names of earlier releases (``default_memory_mb``, ``zygote_idle_s``,
``journal = false``, ``SKILLEXEC_TRUSTED_SKILLS``...), now keys of sections: ``Moved`` reads
``config.<old name>`` through to its place, and the sources here put an old name given as
input (keyword, skillexec.toml, environment) in its section, source by source, so that
precedence holds between an old name in one source and the current one in another.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

__all__ = ["FormerEnv", "Moved", "Placed", "placed"]

T = TypeVar("T")


class Moved(Generic[T]):
    """A flat setting of earlier releases, now a key of a section: reading
    ``config.<old>`` reads ``config.<section>.<key>``, and the old name is accepted as input
    (keyword, skillexec.toml, environment) and put in its place."""

    def __init__(self, section: str, key: str = "") -> None:
        self.section = section
        self.key = key

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = self.key or name

    @overload
    def __get__(self, obj: None, owner: type) -> Moved[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.section), self.key)


def placed(data: Mapping[str, Any], *, former: Mapping[str, tuple[str, str]],
           sections: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """Input with the former flat names put in their sections (both given: an error).
    ``former``: old name -> (section, key); ``sections``: each section's model."""
    out = dict(data)
    if "journal" in out and not isinstance(out["journal"], Mapping | sections["journal"]):
        out["journal"] = {"enabled": out["journal"]}
    for old in [k for k in out if k in former]:
        section, key = former[old]
        value = out.pop(old)
        given = out.get(section, {})
        model = sections[section]
        merged = dict(given.model_dump() if isinstance(given, model) else given)
        if key in merged and not isinstance(given, model):
            raise ValueError(f"{old} and {section}.{key} are the same setting, given twice "
                             f"(keep {section}.{key})")
        merged[key] = value
        out[section] = merged
    return out


class Placed(PydanticBaseSettingsSource):
    """A source whose former flat names are put in their sections (by ``place``)."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource,
                 place: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        super().__init__(settings_cls)
        self.inner = inner
        self.place = place

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # all done in __call__

    def __call__(self) -> dict[str, Any]:
        return self.place(self.inner())


class FormerEnv(PydanticBaseSettingsSource):
    """``SKILLEXEC_<FORMER FLAT NAME>`` variables, read below the current scheme."""

    def __init__(self, settings_cls: type[BaseSettings], names: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.names = names

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # all done in __call__

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        found: dict[str, Any] = {}
        for old in self.names:
            raw = env.get(f"SKILLEXEC_{old.upper()}")
            if raw is not None:
                text = raw.strip()
                found[old] = json.loads(text) if text[:1] in ("[", "{") else raw
        return found
