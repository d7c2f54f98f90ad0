"""How an engine refusal before a run becomes an HTTP answer (service/envelope.error_for)."""

from __future__ import annotations

from skillexec.errors import ResourceError
from skillexec.service.envelope import error_for


def test_a_journal_that_cannot_be_written_is_a_503_to_try_again() -> None:
    """A journal whose disk is full refuses every call until there is room: the server's
    state, which passes (503 with Retry-After), not a refusal of the request (it was 409)."""
    info = ResourceError("the journal could not be written: database or disk is full",
                         code="journal_write_failed").info
    err = error_for(info, retry_after_s=3)
    assert (err.status, err.code) == (503, "OVERLOADED")
    assert err.headers == {"Retry-After": "3"}


def test_a_limit_that_waiting_will_not_cure_is_a_409() -> None:
    info = ResourceError("over the limit", code="some_limit", retryable=False).info
    assert error_for(info, retry_after_s=3).status == 409
