"""Output filtering: secrets masked as ``[REDACTED:<kind>]`` in outputs, error and progress
messages and logs.

Two sources of what is a secret:
- exact values: those the engine knows were secrets for this call (the values of secret
  or sensitive parameters and config keys), whatever their shape;
- well-known credential shapes, ported from gitleaks' rules (``config/gitleaks.toml``,
  MIT) and detect-secrets: cloud and SaaS keys and tokens with a literal prefix, private
  key blocks, JWTs, bearer tokens, passwords in URLs and in ``key=value`` text, and card
  numbers that pass the Luhn check.

Cheap by construction: every rule starts with a literal or a character class, so each
rule's own search (the prefilter) runs at substring-search speed; a text where none finds
anything is returned as it is. The rules found are then applied in one pass, as one
compiled alternation (cached per set of rules). Every quantifier is bounded (no
catastrophic backtracking).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from skillexec.security.card_number import card_span

__all__ = ["KINDS", "candidate", "mask", "mask_value", "masked_text"]

# (kind, pattern, bounded): every pattern starts with a literal or a character class, never
# with a look-behind, \b or an inline flag, so that CPython searches for it at the speed of a
# substring search; "bounded" rules must not follow a letter, digit or "_" (checked on the
# match). A pattern with a group named "v<n>" masks only that group (the key name or the URL
# around a password stays readable).
_RULES: tuple[tuple[str, str, bool], ...] = (
    ("private_key", r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
                    r"[\s\S]{0,16384}?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
                    r"|\Z)", False),
    ("aws_access_key", r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])", True),
    ("github_token", r"(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})"
                     r"(?![A-Za-z0-9_])", True),
    ("gitlab_token", r"glpat-[A-Za-z0-9_-]{20}(?![A-Za-z0-9_-])", True),
    ("slack_token", r"xox[baprs]-[0-9A-Za-z-]{10,200}", True),
    ("stripe_key", r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,99}(?![A-Za-z0-9])", True),
    ("google_api_key", r"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", True),
    ("anthropic_key", r"sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA(?![A-Za-z0-9_-])", True),
    ("openai_key", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{10,150}T3BlbkFJ"
                   r"[A-Za-z0-9_-]{10,150}", True),
    ("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"
                       r"(?![A-Za-z0-9])", True),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{8,4096}", True),
    ("bearer_token", r"(?:[Bb]earer|BEARER)\s{1,5}(?P<v1>[A-Za-z0-9._~+/-]{16,4096}=*)", True),
    ("url_password", r"://[^\s:/@]{1,256}:(?P<v2>[^\s@/]{1,256})@", False),
    # A bare "pass" is a key as a name's last part (DB_PASS, smtp.pass, &pass=, smtpPass),
    # quoted ("pass": ...) or right before "=" (pass=...): "PASS: python3 found" is a
    # test's verdict, not a credential.
    ("password", r"(?:(?<=[_.&?-])(?:[Pp]ass|PASS)|(?<=[a-z])Pass|(?<=[\"'])(?:[Pp]ass|PASS)"
                 r"(?=[\"'])|(?:[Pp]ass|PASS)(?==)|[Pp]ass(?:word|wd|phrase)|"
                 r"PASS(?:WORD|WD|PHRASE)|[Pp]wd|PWD|[Ss]ecret|SECRET|"
                 r"[Aa]pi[_-]?[Kk]ey|API[_-]?KEY|[Aa]ccess[_-]?[Kk]ey|ACCESS[_-]?KEY|"
                 r"[Aa]uth[_-]?[Tt]oken|AUTH[_-]?TOKEN|[Tt]oken|TOKEN)(?![A-Za-z0-9])"
                 r"[\"']?\s{0,5}[:=]\s{0,5}[\"']?(?P<v3>[^\s\"',;&]{6,256})", False),
    ("card_number", r"[0-9](?:[ -]?[0-9]){12,18}(?![0-9])", True),
)
KINDS = tuple(kind for kind, _, _ in _RULES)
# The prefilter: a probe per rule, a pattern that starts with a character rare in prose (so
# that CPython skips to its occurrences at memchr speed) and that every match of the rule
# contains; measured on 64 KiB of prose, a probe takes 20-60 us where the rule itself
# (starting with a letter class, or one alternation of all rules) takes milliseconds.
_PROBES: dict[str, str] = {
    "private_key": r"PRIVATE KEY", "aws_access_key": r"A(?:3T[A-Z0-9]|KIA|SIA|BIA|CCA)[A-Z2-7]{16}",
    "github_token": r"_[A-Za-z0-9_]{36}", "gitlab_token": r"-[A-Za-z0-9_-]{20}",
    "slack_token": r"xox[baprs]-", "stripe_key": r"_(?:live|test)_[A-Za-z0-9]{10}",
    "google_api_key": r"AIza", "anthropic_key": r"-ant-(?:api03|admin01)-",
    "openai_key": r"T3BlbkFJ", "age_secret_key": r"AGE-SECRET-KEY-1",
    "jwt": r"J[A-Za-z0-9_-]{7,4096}\.eyJ", "bearer_token": r"(?:Bearer|bearer|BEARER)\s",
    "url_password": r"://[^\s:/@]{1,256}:[^\s@/]{1,256}@",
    "password": r"[:=]\s{0,5}[\"']?[^\s\"',;&]{6}",  # run only where ":" or "=" is (memchr)
    "card_number": r"[0-9](?:[ -]?[0-9]){12}",  # run only where a digit is (memchr)
}
_GATES: dict[str, tuple[str, ...]] = {"password": (":", "="), "card_number": tuple("0123456789")}
_SEARCH = tuple((kind, re.compile(_PROBES[kind]), _GATES.get(kind, ())) for kind, _, _ in _RULES)
# On a short text the cost is in calling fifteen searches, not in scanning: every probe
# starts with one of these characters, so a short text with none of them is clean.
_FIRST_CHARS = frozenset("PAJTx_-:=Bb0123456789")
_SHORT = 256
_BOUNDED = frozenset(kind for kind, _, bounded in _RULES if bounded)
_VALUE_GROUP = {"bearer_token": "v1", "url_password": "v2", "password": "v3"}
_MIN_LEN = 8


@functools.lru_cache(maxsize=256)
def _combined(kinds: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation of the rules found in a text (in their order of precedence)."""
    return re.compile("|".join(f"(?P<{kind}>{rx})" for kind, rx, _ in _RULES if kind in kinds))


def _replacement(m: re.Match[str]) -> str | None:
    """What replaces this match, or None to keep it (a look-alike)."""
    kind = m.lastgroup or "secret"
    start = m.start()
    if kind in _BOUNDED and start > 0:
        before = m.string[start - 1]
        if before.isalnum() or before == "_" or (kind == "card_number" and before == "-"):
            return None
    if kind == "card_number":
        run = m.group(0)
        span = card_span(run)
        if span is None:
            return None
        return f"{run[:span[0]]}[REDACTED:card_number]{run[span[1]:]}"
    group = _VALUE_GROUP.get(kind)
    if group is not None:
        g0, g1 = m.span(group)
        if kind == "password" and _kept(m.string[start:g0], m.string[g0:g1]):
            return None
        return f"{m.string[start:g0]}[REDACTED:{kind}]{m.string[g1:m.end()]}"
    return f"[REDACTED:{kind}]"


# A value that stands for one, in instructions and usage texts: "export OPENAI_API_KEY=
# sk-..." was masked, and the sentence that says what to set told a user nothing.
_PLACEHOLDER = re.compile(
    r"\.\.\.|\u2026|^[<{\[].*[>}\]]$|^\$\{?[A-Za-z_]\w*\}?$|^(?:your|YOUR|Your|my|MY|"
    r"example|EXAMPLE|changeme|CHANGEME|placeholder|PLACEHOLDER|dummy|DUMMY)(?:[-_]\w*)?$")


_RUN = re.compile(r"[A-Za-z0-9]{12,}")
_FOLDER_PATH = re.compile(r"/[\w.-]+(?:/[\w.-]+)+/?$")


def _kept(key: str, value: str) -> bool:
    """Whether a ``key=value`` match's value stays readable: the shell's ``PWD=/a/folder``
    (a script's ``echo "pwd=$PWD"`` too: a path of two or more folders, which a password
    seldom is), or a value that only stands for one, never one holding a run of 12 letters
    and digits as keys do (``<sk-proj-abcdef1234567890…>`` is one cut short)."""
    name = key.rstrip(" =:'\"")
    if value.startswith("/") and (name.endswith("PWD") or (
            name.lower().endswith("pwd") and _FOLDER_PATH.match(value))):
        return True
    if len(set(value)) == 1:
        return True
    return _PLACEHOLDER.search(value) is not None and (
        _RUN.search(value) is None or value.startswith("${"))


def candidate(text: str) -> bool:
    """Whether ``text`` may hold a credential shape (else no rule can match it)."""
    return len(text) >= _MIN_LEN and bool(_found(text)[0])


def _found(text: str) -> tuple[list[str], int]:
    """The rules whose probe finds something in ``text``, and where the first such find
    starts (no rule matches before it: each match contains its probe's)."""
    found: list[str] = []
    first = len(text)
    if len(text) <= _SHORT and _FIRST_CHARS.isdisjoint(text):
        return found, first
    for kind, probe, gates in _SEARCH:
        if gates and not any(g in text for g in gates):
            continue
        m = probe.search(text)
        if m is not None:
            found.append(kind)
            first = min(first, m.start())
    return found, first


# A match starts at most _BEFORE characters before its probe's find and ends at most
# _AFTER after it (a PEM block or a JWT: 16 KiB and more; a bearer token 4 KiB).
_BEFORE = 300
_AFTER = {"private_key": 17_000, "jwt": 17_000}
_AFTER_DEFAULT = 4_400


def _windows(text: str, found: list[str], first: int) -> list[tuple[int, int]]:
    """Where the rules found can match: around each of their probes' finds, merged; the
    whole text from the first find when it is short (scanning it costs less)."""
    n = len(text)
    if n - first <= 16_384:
        return [(max(0, first - _BEFORE), n)]
    spans: list[tuple[int, int]] = []
    for kind, probe, _ in _SEARCH:
        if kind in found:
            after = _AFTER.get(kind, _AFTER_DEFAULT)
            spans.extend((max(0, m.start() - _BEFORE), min(n, m.end() + after))
                         for m in probe.finditer(text))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def masked_text(text: str) -> str:
    """``text`` with every credential shape masked (no exact values)."""
    if len(text) < _MIN_LEN:
        return text
    found, first = _found(text)
    if not found:
        return text
    out: list[str] = []
    last = 0
    pattern = _combined(tuple(found))
    for start, end in _windows(text, found, first):
        for m in pattern.finditer(text, max(start, last), end):
            rep = _replacement(m)
            if rep is not None:
                out.append(text[last:m.start()])
                out.append(rep)
                last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def mask(text: str, exact: Iterable[str] = ()) -> str:
    """``text`` with the ``exact`` secret values (longest first) and every credential shape
    masked."""
    for value in exact:
        if value and value in text:
            text = text.replace(value, "[REDACTED:secret]")
    return masked_text(text)


def mask_value(value: Any, exact: Iterable[str] = ()) -> tuple[Any, bool]:
    """A JSON value with its strings masked (keys too), and whether anything changed; the
    value itself when nothing did (no copy)."""
    values = exact if isinstance(exact, tuple) else tuple(exact)
    if isinstance(value, str):  # the common shapes first: one string, a flat object
        out = mask(value, values)
        return out, out != value
    return _walk(value, lambda s: mask(s, values), 0)


def _walk(value: Any, fn: Callable[[str], str], depth: int) -> tuple[Any, bool]:
    if isinstance(value, str):
        out = fn(value)
        return out, out is not value and out != value
    if depth > 64:
        return value, False
    if isinstance(value, Mapping):
        changed = False
        items: dict[Any, Any] = {}
        for k, v in value.items():
            nk, ck = _walk(k, fn, depth + 1) if isinstance(k, str) else (k, False)
            nv, cv = _walk(v, fn, depth + 1)
            items[nk] = nv
            changed = changed or ck or cv
        return (items, True) if changed else (value, False)
    if isinstance(value, list | tuple):
        changed = False
        seq = []
        for v in value:
            nv, cv = _walk(v, fn, depth + 1)
            seq.append(nv)
            changed = changed or cv
        if not changed:
            return value, False
        return (seq if isinstance(value, list) else tuple(seq)), True
    return value, False
