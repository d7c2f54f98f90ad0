"""Classification (table-driven), backoff bounds (properties), the retry budget, decisions."""

from __future__ import annotations

import errno
import itertools
import socket
import ssl
import urllib.error
from email.message import Message
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec.errors import (
    ErrorInfo,
    ErrorType,
    ParameterError,
    PermanentError,
    TransientError,
)
from skillexec.reliability.analysis import fingerprint
from skillexec.reliability.budget import RetryBudget
from skillexec.reliability.classify import (
    ClassificationRule,
    CodeRule,
    ErrorClassifier,
    StatusRule,
    parse_retry_after,
)
from skillexec.reliability.retry import ExponentialBackoffRetryStrategy, TypePolicy
from skillexec.reliability.settings import ReliabilitySettings


def _http_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    req = httpx.Request("GET", "https://example.invalid/x")
    resp = httpx.Response(status, headers=headers or {}, request=req)
    return httpx.HTTPStatusError(f"status {status}", request=req, response=resp)


def _chained() -> BaseException:
    try:
        try:
            raise ConnectionResetError(errno.ECONNRESET, "reset by peer")
        except OSError as inner:
            raise RuntimeError("fetching the page failed") from inner
    except RuntimeError as outer:
        return outer


def _urllib_503() -> urllib.error.HTTPError:
    hdrs = Message()
    hdrs["Retry-After"] = "7"
    return urllib.error.HTTPError("http://x", 503, "unavailable", hdrs, None)


CASES: list[tuple[str, BaseException, ErrorType, str, bool]] = [
    ("memory", MemoryError(), ErrorType.RESOURCE, "memory_exhausted", True),
    ("recursion", RecursionError("deep"), ErrorType.EXECUTION, "recursion_limit", False),
    ("timeout", TimeoutError("slow"), ErrorType.TIMEOUT, "operation_timeout", True),
    ("dns", socket.gaierror(-2, "Name or service not known"), ErrorType.NETWORK,
     "dns_failure", True),
    ("tls cert", ssl.SSLCertVerificationError("bad cert"), ErrorType.NETWORK,
     "tls_certificate", False),
    ("tls eof", ssl.SSLEOFError("eof"), ErrorType.NETWORK, "tls_connection_lost", True),
    ("reset", ConnectionResetError("reset"), ErrorType.NETWORK, "connection_failed", True),
    ("refused", ConnectionRefusedError("no"), ErrorType.NETWORK, "connection_failed", True),
    ("errno net", OSError(errno.ENETUNREACH, "unreachable"), ErrorType.NETWORK,
     "network_unreachable", True),
    ("errno disk", OSError(errno.ENOSPC, "full"), ErrorType.RESOURCE,
     "os_resource_exhausted", True),
    ("errno perm", OSError(errno.EROFS, "ro"), ErrorType.PERMISSION, "os_permission_denied",
     False),
    ("perm", PermissionError("no"), ErrorType.PERMISSION, "os_permission_denied", False),
    ("import", ImportError("x"), ErrorType.DEPENDENCY, "import_failed", False),
    # An undeclared import: the runners then name the package to declare.
    ("missing module", ModuleNotFoundError("x", name="x"), ErrorType.DEPENDENCY,
     "missing_module", False),
    ("cause chain", _chained(), ErrorType.NETWORK, "connection_failed", True),
    ("httpx connect", httpx.ConnectError("refused"), ErrorType.NETWORK,
     "http_transport_error", True),
    ("httpx timeout", httpx.ReadTimeout("slow"), ErrorType.TIMEOUT, "http_timeout", True),
    ("httpx 503", _http_error(503, {"Retry-After": "2"}), ErrorType.NETWORK,
     "http_503_unavailable", True),
    ("httpx 429", _http_error(429), ErrorType.RESOURCE, "http_429_rate_limited", True),
    ("httpx 404", _http_error(404), ErrorType.EXECUTION, "http_404_not_found", False),
    ("httpx 403", _http_error(403), ErrorType.PERMISSION, "http_403_forbidden", False),
    ("httpx 422", _http_error(422), ErrorType.EXECUTION, "http_client_error", False),
    ("urllib 503", _urllib_503(), ErrorType.NETWORK, "http_503_unavailable", True),
    ("urllib url", urllib.error.URLError("down"), ErrorType.NETWORK, "url_error", True),
    ("transient", TransientError("later"), ErrorType.EXECUTION, "transient_failure", True),
    ("permanent", PermanentError("never"), ErrorType.EXECUTION, "permanent_failure", False),
    ("value", ValueError("bad"), ErrorType.EXECUTION, "skill_raised", False),
    ("param", ParameterError("bad"), ErrorType.PARAMETER, "invalid_parameters", False),
]


@pytest.mark.parametrize(("name", "exc", "etype", "code", "retryable"), CASES,
                         ids=[c[0] for c in CASES])
def test_classify_exceptions(name: str, exc: BaseException, etype: ErrorType, code: str,
                             retryable: bool) -> None:
    info = ErrorClassifier().classify(exc)
    assert (info.type, info.code, info.retryable) == (etype, code, retryable)


def test_retry_after_read_from_http_errors() -> None:
    c = ErrorClassifier()
    assert c.classify(_http_error(503, {"Retry-After": "2"})).details["retry_after"] == 2.0
    assert c.classify(_urllib_503()).details["retry_after"] == 7.0
    assert c.classify(_http_error(503)).details.get("retry_after") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


INFO_CASES: list[tuple[dict[str, Any], ErrorType, bool, float | None]] = [
    ({"type": "execution_error", "code": "memory_limit_exceeded", "message": "m"},
     ErrorType.RESOURCE, False, None),
    ({"type": "execution_error", "code": "child_crashed", "message": "m"},
     ErrorType.EXECUTION, True, None),
    ({"type": "permission_error", "code": "sandbox_denied", "message": "m"},
     ErrorType.PERMISSION, False, None),
    ({"type": "execution_error", "code": "skill_reported_failure", "message": "busy",
      "details": {"status_code": 503, "retry_after": 3}}, ErrorType.NETWORK, True, 3.0),
    ({"type": "execution_error", "code": "skill_reported_failure", "message": "slow down",
      "details": {"status_code": 429, "headers": {"Retry-After": "1.5"}}},
     ErrorType.RESOURCE, True, 1.5),
    ({"type": "execution_error", "code": "skill_reported_failure", "message": "nope",
      "details": {"status_code": 400}}, ErrorType.EXECUTION, False, None),
    ({"type": "execution_error", "code": "skill_reported_failure", "message": "try again",
      "retryable": True}, ErrorType.EXECUTION, True, None),
]


@pytest.mark.parametrize(("raw", "etype", "retryable", "after"), INFO_CASES)
def test_classify_info(raw: dict[str, Any], etype: ErrorType, retryable: bool,
                       after: float | None) -> None:
    info = ErrorClassifier().classify_info(ErrorInfo.from_dict(raw))
    assert (info.type, info.retryable) == (etype, retryable)
    assert info.details.get("retry_after") == after


def test_plugins_add_rules_as_data() -> None:
    class QuotaError(Exception):
        pass

    c = ErrorClassifier()
    c.add_rule(ClassificationRule(QuotaError, ErrorType.RESOURCE, "quota", True))
    c.add_rule(StatusRule(418, 418, ErrorType.EXECUTION, "teapot", True))
    c.add_rule(CodeRule("flaky_vendor", ErrorType.NETWORK, True))
    assert c.classify(QuotaError()).code == "quota"
    assert c.classify(_http_error(418)).code == "teapot"
    info = c.classify_info(ErrorInfo(ErrorType.EXECUTION, "flaky_vendor", "x"))
    assert (info.type, info.retryable) == (ErrorType.NETWORK, True)


# -- retry strategy --------------------------------------------------------------------------

NET = ErrorInfo(ErrorType.NETWORK, "connection_failed", "x", retryable=True)


@pytest.mark.parametrize("etype", [ErrorType.PARAMETER, ErrorType.DEPENDENCY,
                                   ErrorType.PERMISSION, ErrorType.CANCELLED])
def test_never_retried_whatever_the_policy(etype: ErrorType) -> None:
    s = ExponentialBackoffRetryStrategy(policies={etype: TypePolicy(retry=True)},
                                        retry_on=frozenset({etype.value}))
    assert not s.should_retry(ErrorInfo(etype, "c", "m", retryable=True), 1, 5)


def test_policies_and_overrides() -> None:
    s = ExponentialBackoffRetryStrategy()
    assert s.should_retry(NET, 1, 2) and s.should_retry(NET, 2, 2)
    assert not s.should_retry(NET, 3, 2)
    mem = ErrorInfo(ErrorType.RESOURCE, "memory_exhausted", "m", retryable=True)
    assert s.should_retry(mem, 2, 5) and not s.should_retry(mem, 3, 5)  # twice at most
    assert not s.should_retry(ErrorInfo(ErrorType.EXECUTION, "permanent_failure", "m"), 1, 5)
    only_timeouts = s.for_skill({"retry_on": ["timeout_error"], "backoff": "none"})
    assert not only_timeouts.should_retry(NET, 1, 3)
    timeout = ErrorInfo(ErrorType.TIMEOUT, "execution_timeout", "m", retryable=True)
    assert only_timeouts.should_retry(timeout, 1, 3)
    assert only_timeouts.get_delay(timeout, 1) == 0.0
    slow = s.for_skill({"backoff": {"base_s": 1.0, "max_s": 2.0, "jitter": "none"}})
    assert [slow.get_delay(NET, n) for n in (1, 2, 3)] == [1.0, 2.0, 2.0]


def test_retry_after_is_honoured() -> None:
    s = ExponentialBackoffRetryStrategy(base_delay_s=0.01, max_delay_s=0.1)
    busy = ErrorInfo(ErrorType.NETWORK, "http_503_unavailable", "m", retryable=True,
                     details={"retry_after": 0.5})
    for n in (1, 2, 3):
        assert 0.5 <= s.get_delay(busy, n) <= 0.51
    far = ErrorInfo(ErrorType.NETWORK, "http_503_unavailable", "m", retryable=True,
                    details={"retry_after": 3600})
    assert not s.should_retry(far, 1, 3)  # longer than max_retry_after_s: give up


@settings(max_examples=200, deadline=None)
@given(base=st.floats(0.0, 2.0), cap=st.floats(0.0, 10.0), mult=st.floats(1.0, 4.0),
       jitter=st.sampled_from(["full", "decorrelated", "none"]),
       attempts=st.integers(1, 80))
def test_delays_within_zero_and_cap(base: float, cap: float, mult: float, jitter: Any,
                                    attempts: int) -> None:
    s = ExponentialBackoffRetryStrategy(base_delay_s=base, max_delay_s=cap, multiplier=mult,
                                        jitter=jitter)
    previous = None
    for n in range(1, attempts + 1):
        d = s.get_delay(NET, n, previous)
        assert 0.0 <= d <= cap + 1e-9
        previous = d
    caps = [s.cap(n) for n in range(1, attempts + 1)]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(caps))  # monotone


@settings(max_examples=100, deadline=None)
@given(timeout=st.floats(0.01, 5.0), retries=st.integers(0, 8), base=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32))
def test_total_delay_within_deadline(timeout: float, retries: int, base: float,
                                     seed: int) -> None:
    """Through the handler: retries never go past the task's deadline."""
    from tests._reliability import decide_chain

    deadline_s = timeout * (retries + 1)
    total_delay, n = decide_chain(timeout=timeout, retries=retries, base=base, seed=seed)
    assert total_delay <= deadline_s
    assert n <= retries + 1


# -- the budget ------------------------------------------------------------------------------

def test_budget_limits_retries_to_a_share() -> None:
    b = RetryBudget(ratio=0.2, max_tokens=5)
    allowed = 0
    for _ in range(1000):
        b.deposit("s")
        if b.try_spend("s"):  # every call wants a retry: a dependency down
            allowed += 1
    assert 200 <= allowed <= 205  # 0.2 per first attempt, plus the bucket
    assert b.snapshot()["s"]["refused"] == 1000 - allowed
    other = RetryBudget(ratio=0.2, max_tokens=5)
    assert [other.try_spend("t") for _ in range(6)] == [True] * 5 + [False]  # per skill


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(st.booleans(), max_size=400), ratio=st.floats(0.0, 1.0))
def test_budget_property(ops: list[bool], ratio: float) -> None:
    b = RetryBudget(ratio=ratio, max_tokens=10)
    deposits = spent = 0
    for deposit in ops:
        if deposit:
            b.deposit("s")
            deposits += 1
        elif b.try_spend("s"):
            spent += 1
        assert 0.0 <= b.tokens("s") <= 10.0
    assert spent <= 10 + ratio * deposits + 1e-9


def test_settings_validate() -> None:
    with pytest.raises(ValueError):
        ReliabilitySettings(breaker_failure_rate=0)
    with pytest.raises(ValueError):
        ReliabilitySettings(jitter="bogus")  # type: ignore[arg-type]
    assert ReliabilitySettings.from_config(object()) == ReliabilitySettings()


def test_fingerprint_groups_variable_parts() -> None:
    a = fingerprint("connect to 10.0.0.7:5432 failed after 31 ms in /srv/app/x.py id "
                    "3f2a9c0d11e4 0xdeadbeef")
    b = fingerprint("connect to 10.0.0.9:6543 failed after 2 ms in /tmp/y/z.py id "
                    "aa0011bbcc22 0x1234")
    assert a == b
    assert "<path>" in a and "<n>" in a and "<hex>" in a
    assert fingerprint("user 'bob' not found") == fingerprint("user 'alice' not found")
