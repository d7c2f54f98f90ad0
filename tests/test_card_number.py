"""Card numbers are masked as issuers make them, not every Luhn-valid run of digits: one
such run in ten passes Luhn, and a script printing two numbers a space apart, or a
nanosecond clock, had them masked as a card (``print(time.monotonic_ns(), ms)``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from skillexec.security.card_number import card_span, is_card_number
from skillexec.security.redaction import masked_text

CARDS = ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
         "5555555555554444", "2223000048400011", "378282246310005", "3782 822463 10005",
         "30569309025904", "6011111111111117", "3530111333300000", "6200000000000005",
         "4222222222222"]
NOT_CARDS = [
    "423456789013 712345",  # two numbers a space apart (Luhn-valid as one run)
    "21600000000002",  # a 14-digit clock reading: no issuer gives 2160... 14 digits
    "41000000000000004",  # 17 digits: no Visa has them
    "4111 11111111 1111",  # not as a card is printed
    "4111-1111 1111-1111",  # two kinds of separator
    "1234 5678 9012 3452",  # Luhn-valid, no issuer starts 1
]


def test_issuers_cards_are_masked_in_every_layout() -> None:
    for card in CARDS:
        assert masked_text(f"paid with {card}.") == "paid with [REDACTED:card_number].", card


def test_luhn_valid_runs_that_are_no_card_stay() -> None:
    for text in NOT_CARDS:
        assert masked_text(f"value {text} end") == f"value {text} end", text


def test_a_card_after_another_number_is_found_within_the_run() -> None:
    assert masked_text("qty 2 4111 1111 1111 1111") == "qty 2 [REDACTED:card_number]"
    assert masked_text("12 4111111111111111") == "12 [REDACTED:card_number]"


def _check_digit(body: str) -> str:
    for d in "0123456789":
        total = 0
        for i, ch in enumerate(reversed(body + d)):
            v = int(ch) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return body + d
    raise AssertionError(body)


@given(st.sampled_from([("4", 16), ("51", 16), ("55", 16), ("34", 15), ("37", 15),
                        ("6011", 16), ("65", 19), ("3530", 17), ("62", 18)]),
       st.text(alphabet="0123456789", min_size=19, max_size=19))
def test_any_issuers_number_is_a_card(issuer: tuple[str, int], fill: str) -> None:
    prefix, n = issuer
    number = _check_digit((prefix + fill)[:n - 1])
    if len(set(number)) == 1:
        return
    assert is_card_number(number)
    grouped = " ".join(number[i:i + 4] for i in range(0, n, 4))
    assert masked_text(f"card {grouped} ok") == "card [REDACTED:card_number] ok"


@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_no_run_starting_with_0_1_7_8_9_is_a_card(digits: str) -> None:
    if digits[0] in "01789":
        assert not is_card_number(digits) and card_span(digits) is None
