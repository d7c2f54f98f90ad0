"""Output filtering: secrets masked as ``[REDACTED:<kind>]`` in outputs, error and progress
messages and logs.

Two sources of what is a secret:
- exact values: those the engine knows were secrets for this call (the values of secret
  or sensitive parameters and config keys), whatever their shape;
- well-known credential shapes, ported from gitleaks' rules (``config/gitleaks.toml``,
  MIT) and detect-secrets: cloud and SaaS keys and tokens with a literal prefix, private
  key blocks, JWTs, bearer tokens, passwords in URLs and in ``key=value`` text, and card
  numbers that pass the Luhn check.

Cheap by construction: a string shorter than the shortest secret, or with none of the
literal prefixes and no run of digits, is returned after one prefilter search; the rules are
one compiled alternation whose quantifiers are all bounded (no catastrophic backtracking).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["KINDS", "candidate", "mask", "mask_value", "masked_text"]

# (kind, pattern); a pattern with a group named "v" masks only that group (the key name
# or the URL around a password stays readable).
_RULES: tuple[tuple[str, str], ...] = (
    ("private_key", r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
                    r"[\s\S]{0,16384}?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
                    r"|\Z)"),
    ("aws_access_key", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b"),
    ("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20}(?![A-Za-z0-9_-])"),
    ("slack_token", r"\bxox[baprs]-[0-9A-Za-z-]{10,200}"),
    ("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,99}\b"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    ("anthropic_key", r"\bsk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA(?![A-Za-z0-9_-])"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{10,150}T3BlbkFJ"
                   r"[A-Za-z0-9_-]{10,150}"),
    ("age_secret_key", r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{8,4096}"),
    ("bearer_token", r"(?i:\bbearer)\s{1,5}(?P<v1>[A-Za-z0-9._~+/-]{16,4096}=*)"),
    ("url_password", r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@]{1,256}:"
                     r"(?P<v2>[^\s@/]{1,256})@"),
    ("password", r"(?i:\b(?:password|passwd|pwd|pass|secret|api[_-]?key|apikey|"
                 r"access[_-]?key|auth[_-]?token|token)\b)[\"']?\s{0,5}[:=]\s{0,5}[\"']?"
                 r"(?P<v3>[^\s\"',;&]{6,256})"),
    ("card_number", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])"),
)
KINDS = tuple(kind for kind, _ in _RULES)
_PATTERN = re.compile("|".join(f"(?P<{kind}>{rx})" for kind, rx in _RULES))
_VALUE_GROUP = {"bearer_token": "v1", "url_password": "v2", "password": "v3"}

# Each rule needs one of these (literal prefixes, case aside where the rule ignores case,
# or seven digits in a row give or take separators for a card number): a string with none
# is clean after this one search.
_PREFILTER = re.compile(
    r"PRIVATE KEY|A3T|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|glpat-|xox[baprs]-|"
    r"[sr]k_(?:live|test)_|AIza|sk-|AGE-SECRET|eyJ|://|(?i:bearer|pass|pwd|secret|key|token)"
    r"|\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d[ -]?\d")
_MIN_LEN = 8
_MAX_SCAN = 1 << 20  # past this, a string is scanned in pieces (bounded work per search)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _replace(m: re.Match[str]) -> str:
    kind = m.lastgroup or "secret"
    if kind == "card_number":
        digits = re.sub(r"[ -]", "", m.group(0))
        # issuers' first digits (2: Mastercard's 2-series, 3: Amex/Diners/JCB, 4: Visa,
        # 5: Mastercard, 6: Discover/UnionPay): a 13-digit millisecond timestamp is none
        if (not (13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits))
                or len(set(digits)) == 1):
            return m.group(0)
    group = _VALUE_GROUP.get(kind)
    if group is not None:
        start, end = m.span(group)
        whole = m.group(0)
        s0 = m.start()
        return f"{whole[:start - s0]}[REDACTED:{kind}]{whole[end - s0:]}"
    return f"[REDACTED:{kind}]"


def candidate(text: str) -> bool:
    """Whether ``text`` may hold a credential shape (else no rule can match it)."""
    return len(text) >= _MIN_LEN and _PREFILTER.search(text) is not None


def masked_text(text: str) -> str:
    """``text`` with every credential shape masked (no exact values)."""
    if len(text) < _MIN_LEN or _PREFILTER.search(text) is None:
        return text
    if len(text) <= _MAX_SCAN:
        return _PATTERN.sub(_replace, text)
    return "".join(_PATTERN.sub(_replace, text[i:i + _MAX_SCAN])
                   for i in range(0, len(text), _MAX_SCAN))


def mask(text: str, exact: Iterable[str] = ()) -> str:
    """``text`` with the ``exact`` secret values (longest first) and every credential shape
    masked."""
    for value in exact:
        if value and value in text:
            text = text.replace(value, "[REDACTED:secret]")
    return masked_text(text)


def mask_value(value: Any, exact: Iterable[str] = (), *, _depth: int = 0) -> tuple[Any, bool]:
    """A JSON value with its strings masked (keys too), and whether anything changed; the
    value itself when nothing did (no copy)."""
    values = exact if isinstance(exact, tuple) else tuple(exact)
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
