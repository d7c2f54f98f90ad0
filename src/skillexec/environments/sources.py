"""Where a skill's packages come from, as its requirement files and PEP 723 blocks say.

skillexec installs every environment from the operator's index (``environments``
settings) alone, by name and version. A requirements file that names an index of its own
(``--index-url``, ``--extra-index-url``, ``--find-links``, ``--trusted-host``), an
editable or VCS source (``-e git+https://...``), a constraints file, or a PEP 723 block
whose ``[tool.uv]`` names an index or ``[tool.uv.sources]``, ties its names to code that
is not on that index: installed from it instead, a name would be whatever anyone
registered there (dependency confusion). Such a skill is refused (``invalid_requirements``)
rather than provisioned with what it did not mean, and its names are never offered as
packages to install (``tied_names``).

Also pip-compile's own shapes: ``\\`` continuations are joined, and ``--hash`` options are
kept beside their requirement (``HashedRequirement``) for the installer to check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from skillexec.errors import ManifestError

__all__ = ["HashedRequirement", "directive", "joined_lines", "mask_credentials",
           "merged_hashes", "refuse_uv_index", "script_dependencies", "script_line",
           "split_hashes", "tied_in_lines", "tied_in_script"]

_COMMENT = re.compile(r"(^|\s+)#.*$")
# user:password@ or token@ in a URL: what pip and uv mask in their own messages.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][\w+.-]*://)(?P<user>[^/@\s:]*)"
                       r"(?::(?P<password>[^/@\s]*))?@")
_OPTION = re.compile(r"^(?P<name>--?[A-Za-z][\w-]*)(?:\s*=\s*|\s+)?(?P<value>.*)$")
_HASH = re.compile(r"(?:^|\s)--hash(?:\s*=\s*|\s+)(?P<value>\S+)")
_HASH_VALUE = re.compile(r"[a-z0-9]+:[0-9a-fA-F]+")
_EGG = re.compile(r"[#&]egg=(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")

# Options that tie the file's names to an index or a source other than the operator's.
_INDEX_OPTIONS = frozenset({"-i", "--index-url", "--extra-index-url", "-f", "--find-links",
                            "--trusted-host", "--no-index"})
_SOURCE_OPTIONS = frozenset({"-e", "--editable"})
_CONSTRAINT_OPTIONS = frozenset({"-c", "--constraint"})
# [tool.uv] (and [tool.uv.pip]) settings that name where packages come from.
_UV_INDEX_KEYS = ("index", "index-url", "extra-index-url", "default-index", "find-links",
                  "no-index", "sources")
_WHY = ("skillexec installs packages by name from the operator's index only, so a name "
        "tied to another index or source would be installed from that index instead, "
        "where it may be someone else's package (dependency confusion)")


class HashedRequirement(Requirement):
    """A requirement with the hashes (``sha256:...``) its line allows (pip's ``--hash``)."""

    def __init__(self, text: str, hashes: tuple[str, ...]) -> None:
        super().__init__(text)
        self.hashes = hashes


def mask_credentials(text: str) -> str:
    """``text`` with a URL's password (or lone token) replaced by ``****``, as pip does:
    the author's credentials would otherwise go to every caller's error and the journal."""
    def masked(m: re.Match[str]) -> str:
        if m.group("password") is not None:
            return f"{m.group('scheme')}{m.group('user')}:****@"
        return f"{m.group('scheme')}****@"
    return _USERINFO.sub(masked, text)


def joined_lines(text: str) -> Iterator[tuple[int, str]]:
    """Each logical line of a requirements file, comments removed, with the number of the
    line it starts on: a line ending in ``\\`` goes on with the next (pip-compile's
    ``name==1.0 \\`` then ``--hash=...``), as pip reads it; a comment line never does."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        is_comment = raw.lstrip().startswith("#")
        if raw.endswith("\\") and not is_comment:
            if not pending:
                start = number
            pending.append(raw[:-1])
            continue
        if pending:
            pending.append("" if is_comment else raw)
            yield start, _COMMENT.sub("", " ".join(pending)).strip()
            pending = []
        else:
            yield number, _COMMENT.sub("", raw).strip()
    if pending:  # a last line that ends in a backslash
        yield start, _COMMENT.sub("", " ".join(pending)).strip()


def directive(line: str, *, where: str) -> None:
    """Check a line that is a pip option: ManifestError for one that names an index, a
    source or a constraints file (see the module's doc); others (``-r``, read by the
    includer; ``--pre``, ``--only-binary``, ...) are skipped."""
    name, _ = _option(line)
    if name in ("-r", "--requirement"):
        return
    shown = mask_credentials(line)
    if name in _INDEX_OPTIONS:
        raise ManifestError(f"{where}: {shown!r} names a package index or a folder of its "
                            f"own: {_WHY}; remove the line (the operator chooses the index: "
                            "environments.index_url, find_links)",
                            details={"requirement": shown})
    if name in _SOURCE_OPTIONS:
        raise ManifestError(f"{where}: {shown!r} installs from a source (an editable folder, "
                            f"git or a URL), not a package of the index: {_WHY}; name a "
                            "package and a version instead", details={"requirement": shown})
    if name in _CONSTRAINT_OPTIONS:
        raise ManifestError(f"{where}: {shown!r}: a constraints file is not applied "
                            "(skillexec installs the packages of the requirement lines by "
                            "name); pin the versions on those lines instead",
                            details={"requirement": shown})


def split_hashes(line: str, *, where: str) -> tuple[str, tuple[str, ...]]:
    """A requirement line's requirement and its ``--hash`` values; ManifestError for any
    other option after it, or a hash that is not ``algorithm:hex``."""
    hashes = tuple(m.group("value") for m in _HASH.finditer(line))
    text = _HASH.sub(" ", line).strip()
    for value in hashes:
        if not _HASH_VALUE.fullmatch(value):
            raise ManifestError(f"{where}: --hash={value!r} is not a hash (algorithm:hex, "
                                "as sha256:...)",
                                details={"requirement": mask_credentials(line)})
    if (option := re.search(r"(?:^|\s)(--?[A-Za-z][\w-]*)", text)) is not None \
            and " @ " not in text[:option.start()]:
        raise ManifestError(f"{where}: {mask_credentials(line)!r}: the option "
                            f"{option.group(1)!r} is not supported on a requirement line "
                            "(only --hash is)", details={"requirement": mask_credentials(line)})
    return text, hashes


def refuse_uv_index(uv: object, *, where: str, sources: bool = True) -> None:
    """ManifestError when a ``[tool.uv]`` table (or its ``pip`` table) names an index or,
    with ``sources``, sources of its own (see the module's doc). An index that is
    ``explicit`` serves only the packages its sources name: said by those alone."""
    if not isinstance(uv, dict):
        return
    for table, prefix in ((uv, "tool.uv"), (uv.get("pip"), "tool.uv.pip")):
        if not isinstance(table, dict):
            continue
        named = [k for k in _UV_INDEX_KEYS if k in table and (sources or k != "sources")
                 and not (k == "index" and _explicit(table[k]))]
        if named:
            keys = ", ".join(f"[{prefix}] {k}" if k != "index" else f"[[{prefix}.index]]"
                             for k in named)
            raise ManifestError(f"{where}: {keys}: {_WHY}; remove it (the operator chooses "
                                "the index: environments.index_url, find_links)",
                                details={"path": where})


def _explicit(indexes: object) -> bool:
    return isinstance(indexes, list) and all(
        isinstance(i, dict) and i.get("explicit") is True for i in indexes)


def tied_in_lines(text: str) -> set[str]:
    """The package names a requirements file ties to another index or source: every name
    of a file that names an index, and the name of each editable, VCS or URL line (its
    ``#egg=``, its ``name @``, or the last part of its path). Never raises."""
    names: set[str] = set()
    elsewhere = False
    for _, line in joined_lines(text):
        if not line:
            continue
        option, value = _option(line) if line.startswith("-") else ("", line)
        if option in _INDEX_OPTIONS:
            elsewhere = True
        elif option in _SOURCE_OPTIONS or (not option and (
                "://" in line or "+" in line.split("@")[0].split("#")[0][:5])):
            names.add(_source_name(value))
        elif not line.startswith("-"):
            req = _lenient(line)
            if req is not None and req.url:
                names.add(req.name)
    if elsewhere:
        names.update(r.name for _, line in joined_lines(text)
                     if line and not line.startswith("-") and (r := _lenient(line)))
    return {canonicalize_name(n) for n in names if n}


def tied_in_script(block: dict[str, Any]) -> set[str]:
    """The names a PEP 723 block (as TOML) ties elsewhere: all of its dependencies when its
    ``[tool.uv]`` names an index, and those its ``[tool.uv.sources]`` names."""
    tool = block.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    if not isinstance(uv, dict):
        return set()
    names: set[str] = set()
    sources = uv.get("sources")
    if isinstance(sources, dict):
        names.update(canonicalize_name(k) for k in sources if isinstance(k, str))
    if any(k in uv and not (k == "index" and _explicit(uv[k]))
           for k in _UV_INDEX_KEYS if k != "sources"):
        deps = block.get("dependencies")
        names.update(canonicalize_name(r.name) for d in _strings(deps)
                     if (r := _lenient(d)) is not None)
    return names


def _option(line: str) -> tuple[str, str]:
    """A pip option line's option and value (``-ihttps://x`` is ``-i``, ``https://x``)."""
    match = _OPTION.match(line)
    name, value = (match.group("name"), match.group("value")) if match else (line, "")
    if not name.startswith("--") and len(name) > 2:
        name, value = name[:2], line[2:].lstrip("= ")
    return name, value.strip()


def _strings(value: object) -> Iterable[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _source_name(value: str) -> str:
    if (egg := _EGG.search(value)) is not None:
        return egg.group("name")
    if (req := _lenient(value)) is not None:
        return req.name
    tail = value.split("#")[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    tail = tail.split("@")[0].removesuffix(".git")
    return re.split(r"-\d", tail)[0] if re.fullmatch(r"[A-Za-z0-9][\w.-]*", tail) else ""


def _lenient(text: str) -> Requirement | None:
    try:
        return Requirement(_HASH.sub(" ", text).strip())
    except InvalidRequirement:
        return None


def script_line(script: Path, toml_message: str) -> int | None:
    """The line of ``script`` where the TOML error ``toml_message`` of its ``# /// script``
    block is ("at line 2, column 5" of the block; "at end of document": its last line)."""
    try:
        with script.open("rb") as f:
            lines = f.read(1 << 20).decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    start = next((n for n, line in enumerate(lines) if line == "# /// script"), None)
    if start is None:
        return None
    end = next((n for n in range(start + 1, len(lines)) if lines[n] == "# ///"), len(lines))
    at = re.search(r"at line (\d+)", toml_message)
    if at is not None:
        return start + 1 + int(at.group(1))
    return end  # the block's last line (1-based: the line before the closing one)


def script_dependencies(script: Path, *, read: Callable[[Path], list[str]],
                        block: Callable[[Path], dict[str, Any]]) -> list[str]:
    """A script's PEP 723 dependencies (``read``: requirements.pep723_dependencies);
    ManifestError when its ``[tool.uv]`` names an index or sources of its own, or when
    the block (``block``: requirements.pep723_block) is not TOML, with the script's
    line."""
    try:
        deps = read(script)
    except ManifestError as exc:
        if "not valid TOML" not in exc.message or (
                line := script_line(script, exc.message)) is None:
            raise
        raise ManifestError(exc.message.replace(f"{script}: ", f"{script}: line {line}: ", 1),
                            details={**exc.details, "line": line}) from None
    if deps:  # (without any, there is nothing an index of its own could be asked for)
        tool = block(script).get("tool")
        refuse_uv_index(tool.get("uv") if isinstance(tool, dict) else None,
                        where=f"{script}: # /// script")
    return deps


def merged_hashes(reqs: Iterable[Requirement]) -> tuple[str, ...]:
    """``name --hash=...`` for each package some line gives hashes for (merged)."""
    by_name: dict[str, set[str]] = {}
    for req in reqs:
        if isinstance(req, HashedRequirement) and (req.marker is None or req.marker.evaluate()):
            by_name.setdefault(canonicalize_name(req.name), set()).update(req.hashes)
    return tuple(f"{name} " + " ".join(f"--hash={h}" for h in sorted(hashes))
                 for name, hashes in sorted(by_name.items()))
