"""Whether a run of digits is a payment card number, for redaction.

A run of 13-19 digits passing the Luhn check is one in ten of any such run: timestamps in
nanoseconds, order numbers, two numbers a space apart ("423456789012 712345") were masked
as cards. A card number is also the length its issuer gives it (a Visa has 13, 16 or 19
digits, a Mastercard 16, an Amex 15 beginning 34 or 37) and, written with separators, is
grouped as the card prints it (4-4-4-4, 4-6-5 for Amex, 4-6-4 for Diners), with one kind
of separator. Checked in that order: layout, issuer, Luhn.
"""

from __future__ import annotations

__all__ = ["card_span", "is_card_number"]

# (how many first digits, lowest, highest, the lengths that issuer's numbers have)
_ISSUERS: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    (1, 4, 4, frozenset({13, 16, 19})),  # Visa
    (2, 51, 55, frozenset({16})),  # Mastercard
    (4, 2221, 2720, frozenset({16})),  # Mastercard's 2-series
    (2, 34, 34, frozenset({15})), (2, 37, 37, frozenset({15})),  # Amex
    (2, 36, 36, frozenset({14, 16})), (3, 300, 305, frozenset({14, 16})),  # Diners
    (2, 38, 39, frozenset({14, 16})),
    (4, 6011, 6011, frozenset({16, 19})), (2, 65, 65, frozenset({16, 19})),  # Discover
    (3, 644, 649, frozenset({16, 19})),
    (4, 3528, 3589, frozenset({16, 17, 18, 19})),  # JCB
    (2, 62, 62, frozenset({16, 17, 18, 19})),  # UnionPay
    (4, 2200, 2204, frozenset({16, 17, 18, 19})),  # Mir
    (4, 5018, 5018, frozenset(range(12, 20))), (4, 5020, 5020, frozenset(range(12, 20))),
    (4, 5038, 5038, frozenset(range(12, 20))), (4, 5893, 5893, frozenset(range(12, 20))),
    (4, 6304, 6304, frozenset(range(12, 20))),  # Maestro
    (4, 6759, 6759, frozenset(range(12, 20))), (4, 6761, 6763, frozenset(range(12, 20))),
)
# Group lengths of a number printed with separators, the last group aside (1-4 digits
# after groups of 4), as issuers print them.
_GROUPED = frozenset({(4, 6, 5), (4, 6, 4)})


def is_card_number(text: str) -> bool:
    """Whether ``text`` (digits, with spaces or hyphens between some) is a card number."""
    seps = {ch for ch in text if ch in " -"}
    if len(seps) > 1:
        return False
    if seps:
        groups = tuple(len(g) for g in text.split(seps.pop()))
        if groups not in _GROUPED and not (
                len(groups) >= 3 and all(g == 4 for g in groups[:-1])
                and 1 <= groups[-1] <= 4):
            return False
    digits = text.replace(" ", "").replace("-", "")
    if not digits.isdigit() or len(set(digits)) == 1:
        return False
    n = len(digits)
    if not any(n in lengths and low <= int(digits[:width]) <= high
               for width, low, high, lengths in _ISSUERS):
        return False
    return _luhn(digits)


def card_span(text: str) -> tuple[int, int] | None:
    """Where in a run of digits and separators a card number is: the whole run, else a
    stretch of it printed as a card is (``qty 2 4111 1111 1111 1111``, ``12 41111...``):
    one group of 13-19 digits, or 3-5 groups from a group of 4. Linear in the run's
    groups (a run of ``1 1 1 ...`` has none worth a look)."""
    if is_card_number(text):
        return 0, len(text)
    groups: list[tuple[int, int]] = []
    at = 0
    for i, ch in enumerate(text):
        if ch in " -":
            groups.append((at, i))
            at = i + 1
    if not groups:
        return None  # one group: the whole run, which is none
    groups.append((at, len(text)))
    for i, (a, b) in enumerate(groups):
        n = b - a
        if 13 <= n <= 19 and is_card_number(text[a:b]):
            return a, b
        if n == 4:
            for j in range(min(len(groups), i + 5), i + 2, -1):  # the longest first
                if is_card_number(text[a:groups[j - 1][1]]):
                    return a, groups[j - 1][1]
    return None


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
