"""Semantic-version requirements for skills: ``^1.2``, ``~1.4.0``, ``>=1.0 <2.0``, ``1.x``, ``||``.

Versions are parsed by :class:`packaging.version.Version`, leniently (``"1"`` is 1.0.0,
``"v1.2"`` is 1.2, ``"1.0.0-beta.1"`` is a pre-release; so is ``"2.8.3-canary.4"``, which
PEP 440 has no word for: see ``parse_version``). The requirement grammar is npm's,
plus PEP 440's ``~=`` and ``==``, with these choices:

- ``,`` and whitespace both mean AND; ``||`` means OR.
- A bare full version (``1.2.3``) or ``==1.2.3`` is exact; a bare partial one (``1.2``) or a
  wildcard (``1.x``, ``1.2.*``) is the range of everything it leaves open.
- Numeric partial versions in comparisons are padded with zeros (``<=1.2`` is ``<=1.2.0``),
  as packaging compares them; wildcards in comparisons follow npm (``>1.x`` is ``>=2.0.0``).
- Pre-releases match only a requirement that names a pre-release of the same
  major.minor.patch (npm's rule), so ``^1.0`` never picks ``2.0.0-beta``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from packaging.version import InvalidVersion, Version

__all__ = ["best_match", "is_any", "matches", "parse_requirement", "parse_version"]

_ANY_WORDS = frozenset({"", "*", "x", "latest", "any"})
_OPERATORS = ("~=", ">=", "<=", "==", "!=", "^", "~", ">", "<", "=")
_TOKEN = re.compile(r"^(~=|>=|<=|==|!=|\^|~|>|<|=)?\s*(\S+)$")
_WILDCARD = re.compile(r"^(?:(\d+)(?:\.(\d+))?\.)?[xX*](?:\.[xX*])*$")
_HYPHEN = re.compile(r"^(\S+)\s+-\s+(\S+)$")
_SEMVER_PRE = re.compile(r"^(?P<core>\d+\.\d+\.\d+)-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)"
                         r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$")


@dataclass(frozen=True, slots=True)
class _Comparator:
    op: str  # one of >=, >, <, <=, ==, !=
    version: Version

    def accepts(self, v: Version) -> bool:
        match self.op:
            case ">=":
                return v >= self.version
            case ">":
                return v > self.version
            case "<":
                return v < self.version
            case "<=":
                return v <= self.version
            case "==":
                return v == self.version
            case _:
                return v != self.version


_Alternative = tuple[_Comparator, ...]


@lru_cache(maxsize=4096)
def parse_version(text: str) -> Version:
    """A version, leniently: ``"1"``, ``"v1.2"``, ``"1.0.0-rc.1"``. Raises ValueError."""
    cleaned = text.strip()
    if cleaned[:1] in ("v", "V"):
        cleaned = cleaned[1:]
    try:
        return Version(cleaned)
    except InvalidVersion:
        pass
    if (m := _SEMVER_PRE.match(cleaned)) is not None:
        # A semantic version's pre-release that PEP 440 has no word for (2.8.3-canary.4,
        # 1.0.0-next.1, 3.0.0-x.7.z.92): a development release of it, numbered by its first
        # number, its text kept (hex: any identifier is a valid label) as a local label, so
        # that two such versions stay two. Build metadata has no precedence (semver §10).
        number = next((w for w in m["pre"].split(".") if w.isdigit()), "0")
        return Version(f"{m['core']}.dev{int(number)}+x{m['pre'].encode().hex()}")
    raise ValueError(
        f"invalid version {text!r}: expected a semantic version such as 1.2.3") from None


def is_any(requirement: str | None) -> bool:
    """True when the requirement accepts every (non pre-release) version."""
    return requirement is None or requirement.strip().lower() in _ANY_WORDS


def matches(version: str, requirement: str) -> bool:
    """Does ``version`` satisfy ``requirement``? ValueError if either is malformed."""
    return _satisfies(parse_version(version), parse_requirement(requirement))


def best_match(versions: Iterable[str], requirement: str) -> str | None:
    """The highest of ``versions`` that satisfies ``requirement``, as written; None if none."""
    alternatives = parse_requirement(requirement)
    best: tuple[Version, str] | None = None
    for text in versions:
        v = parse_version(text)
        if _satisfies(v, alternatives) and (best is None or v > best[0]):
            best = (v, text)
    return best[1] if best else None


@lru_cache(maxsize=1024)
def parse_requirement(requirement: str) -> tuple[_Alternative, ...]:
    """The requirement as OR-ed alternatives of AND-ed comparators. Raises ValueError."""
    if not isinstance(requirement, str):
        raise ValueError(f"a version requirement must be a string, not {requirement!r}")
    alternatives = []
    for part in requirement.split("||"):
        text = part.strip()
        if not text and "||" in requirement:
            raise ValueError(f"invalid version requirement {requirement!r}: empty alternative")
        try:
            alternatives.append(_parse_alternative(text))
        except ValueError as exc:
            raise ValueError(f"invalid version requirement {requirement!r}: {exc}") from None
    return tuple(alternatives)


def _satisfies(v: Version, alternatives: tuple[_Alternative, ...]) -> bool:
    return any(_satisfies_one(v, alt) for alt in alternatives)


def _satisfies_one(v: Version, alternative: _Alternative) -> bool:
    if not all(c.accepts(v) for c in alternative):
        return False
    if not v.is_prerelease:
        return True
    release = _release3(v)
    return any(c.version.is_prerelease and _release3(c.version) == release for c in alternative)


def _parse_alternative(text: str) -> _Alternative:
    if text.lower() in _ANY_WORDS:
        return ()
    hyphen = _HYPHEN.match(text)
    if hyphen:
        low, _ = _partial(hyphen.group(1))
        high, high_n = _partial(hyphen.group(2))
        upper = _Comparator("<=", high) if high_n >= 3 else _upper_of_range(high, high_n)
        return tuple(c for c in (_Comparator(">=", low), upper) if c is not None)
    comparators: list[_Comparator] = []
    for token in _tokens(text):
        m = _TOKEN.match(token)
        if m is None:
            raise ValueError(f"cannot read {token!r}")
        comparators.extend(_expand(m.group(1) or "", m.group(2)))
    return tuple(comparators)


def _tokens(text: str) -> list[str]:
    """Split on commas and spaces, keeping an operator written apart (``>= 1.0``) with its
    version."""
    raw = text.replace(",", " ").split()
    out: list[str] = []
    pending = ""
    for piece in raw:
        if piece in _OPERATORS:
            if pending:
                raise ValueError(f"operator {pending!r} has no version")
            pending = piece
            continue
        out.append(pending + piece)
        pending = ""
    if pending:
        raise ValueError(f"operator {pending!r} has no version")
    return out


def _partial(text: str) -> tuple[Version, int]:
    """A version that may leave components open: returns it padded with zeros and how
    many components were given (3 for any full or pre-release version)."""
    cleaned = text.strip()
    if cleaned[:1] in ("v", "V"):
        cleaned = cleaned[1:]
    wild = _WILDCARD.match(cleaned)
    if wild:
        given = [g for g in wild.groups() if g is not None]
        return Version(".".join(given) if given else "0"), len(given)
    v = parse_version(cleaned)
    if v.is_prerelease or v.is_postrelease or v.local:
        return v, 3
    return v, min(len(v.release), 3)


def _release3(v: Version) -> tuple[int, int, int]:
    r = (*v.release, 0, 0)
    return r[0], r[1], r[2]


def _bump(v: Version, index: int) -> Version:
    """The next version that changes component ``index`` (0 major, 1 minor, 2 patch)."""
    parts = list(_release3(v))
    parts[index] += 1
    for i in range(index + 1, 3):
        parts[i] = 0
    return Version(".".join(map(str, parts)))


def _upper_of_range(v: Version, given: int) -> _Comparator | None:
    if given == 0:
        return None
    return _Comparator("<", _bump(v, given - 1))


def _expand(op: str, text: str) -> list[_Comparator]:
    if text.lower() in _ANY_WORDS and op in ("", "=", "==", ">="):
        return []
    v, given = _partial(text)
    is_wild = given < 3 and bool(_WILDCARD.match(text.lstrip("vV")))
    major, minor, _patch = _release3(v)
    if op == "^":
        if major > 0 or given == 1:
            index = 0
        elif minor > 0 or given == 2:
            index = 1
        else:
            index = 2
        return [_Comparator(">=", v), _Comparator("<", _bump(v, index))]
    if op == "~":
        return [_Comparator(">=", v), _Comparator("<", _bump(v, 0 if given == 1 else 1))]
    if op == "~=":
        if given < 2:
            raise ValueError(f"~= needs at least major.minor, got {text!r}")
        return [_Comparator(">=", v), _Comparator("<", _bump(v, given - 2))]
    if op in ("", "=", "=="):
        if given >= 3:
            return [_Comparator("==", v)]
        upper = _upper_of_range(v, given)
        return [_Comparator(">=", v)] + ([upper] if upper else [])
    if op == "!=":
        if is_wild:
            raise ValueError(f"!= cannot take a wildcard, got {text!r}")
        return [_Comparator("!=", v)]
    if is_wild:
        # npm: a wildcard stands for its whole range, so ">1.x" is above all of 1.x.
        upper = _upper_of_range(v, given)
        if op in (">", "<="):
            if upper is None:
                return [] if op == "<=" else [_Comparator("<", Version("0"))]
            return [_Comparator(">=" if op == ">" else "<", upper.version)]
        return [_Comparator(op, v)]
    return [_Comparator(op, v)]
