"""The YAML loader every manifest is read with: a SafeLoader subclass that turns any tag
it does not know (Py Copilot's own ``skill.yaml`` files carry ``!!python/object/apply:``
tags) into the plain value under it, so reading a manifest can never run code, and that
refuses a key given twice in one mapping."""

from __future__ import annotations

import importlib
from typing import Any

import yaml

__all__ = ["KeyGivenTwice", "safe_yaml_load"]


class KeyGivenTwice(yaml.constructor.ConstructorError):
    """A key given twice in one mapping: where first (``first``) and again (the problem's
    mark)."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(None, None, f"the key {key!r} is given twice", again)
        self.key, self.first = key, first


class _PlainMapping:
    """Refuses a key given twice in one mapping (PyYAML keeps the last, silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode):
                continue  # '<<' merges may override; a complex key is refused below
            key = self.construct_object(key_node)  # type: ignore[attr-defined]
            if key in seen:
                raise KeyGivenTwice(key, seen[key], key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc, no-any-return]


class _PlainLoader(_PlainMapping, yaml.SafeLoader):
    """SafeLoader that reads unknown tags as plain data and timestamps as strings."""


def _c_loader() -> type[yaml.SafeLoader] | None:
    # libyaml parses ten times faster than PyYAML's Python (a 3,000-skill folder loads in
    # half the time); from 0.2.5 it refuses nesting over 1,000 levels itself, so that a
    # hostile '[[[[...' cannot recurse through the C stack. Older or absent: Python's.
    c_loader = getattr(yaml, "CSafeLoader", None)
    try:  # the C extension's own module: its version is public there, not on yaml
        version = tuple(importlib.import_module("yaml._yaml").get_version())
    except (ImportError, AttributeError):
        return None
    if c_loader is None or version < (0, 2, 5):
        return None
    return type("_CPlainLoader", (_PlainMapping, c_loader), {})


def _construct_plain(loader: yaml.SafeLoader, suffix: Any, node: yaml.Node | None = None) -> Any:
    # Registered both as the fallback constructor (called with the node) and as the
    # multi-constructor for every prefix (called with the tag suffix and the node).
    target = node if node is not None else suffix
    if isinstance(target, yaml.MappingNode):
        return loader.construct_mapping(target, deep=True)
    if isinstance(target, yaml.SequenceNode):
        return loader.construct_sequence(target, deep=True)
    if isinstance(target, yaml.ScalarNode):
        return loader.construct_scalar(target)
    raise yaml.constructor.ConstructorError(None, None, f"cannot read tag {suffix!r}")


def _construct_timestamp_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    # Manifests end up in JSON (HTTP, journal): keep dates as the text that was written.
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_LOADERS = tuple(loader for loader in (_c_loader(), _PlainLoader) if loader is not None)
for _loader in _LOADERS:
    _loader.add_constructor(None, _construct_plain)
    _loader.add_multi_constructor("", _construct_plain)
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_text)


def safe_yaml_load(text: str) -> Any:
    """Parse YAML without ever constructing Python objects from tags."""
    return yaml.load(text, Loader=_LOADERS[0])  # noqa: S506 - a SafeLoader subclass
