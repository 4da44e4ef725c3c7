"""OAuth tokens, retries, timeouts and idempotency headers, as the fake server saw them."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from vbwd_paypal import PayPalClient, PayPalConfig
from vbwd_paypal.testing import error_body

from vbwd_plugins import (
    PaymentErrorCode,
    PaymentResult,
)

from .conftest import CLIENT_ID, CLIENT_SECRET, FakeClock, Rig

SUB, USER = uuid.uuid4(), uuid.uuid4()
ORDERS = r"/v2/checkout/orders"


def create(rig: Rig, key: str | None = None) -> PaymentResult:
    """Create a 10 USD order."""
    return rig.plugin.create_payment_intent(Decimal("10.00"), "USD", SUB, USER, idempotency_key=key)


def test_token_is_fetched_once_with_basic_auth_and_reused(rig: Rig) -> None:
    """One client-credentials token serves many calls, sent as a Bearer header."""
    for _ in range(3):
        assert create(rig).success
    assert rig.fake.token_requests == 1
    (token_call,) = rig.fake.calls("POST", "/v1/oauth2/token")
    assert token_call.body == b"grant_type=client_credentials"
    assert (token_call.header("Authorization") or "").startswith("Basic ")
    bearers = {c.header("Authorization") for c in rig.fake.calls("POST", ORDERS)}
    assert len(bearers) == 1
    assert str(bearers.pop()).startswith("Bearer A21AA")


def test_token_is_refreshed_shortly_before_it_expires(rig: Rig, clock: FakeClock) -> None:
    """A token is reused until 5 minutes before expires_in, then replaced."""
    rig.fake.expires_in = 3600
    assert create(rig).success
    clock.advance(3000)
    assert create(rig).success
    assert rig.fake.token_requests == 1
    clock.advance(301)
    assert create(rig).success
    assert rig.fake.token_requests == 2


def test_short_lived_token_is_refreshed_after_ninety_percent(rig: Rig, clock: FakeClock) -> None:
    """A 100-second token is replaced after 90 seconds, not used until it lapses."""
    rig.fake.expires_in = 100
    assert create(rig).success
    clock.advance(91)
    assert create(rig).success
    assert rig.fake.token_requests == 2


def test_revoked_token_is_refreshed_once_and_the_call_repeated(rig: Rig) -> None:
    """A 401 invalidates the token; the call is repeated once with a new one and the same id."""
    assert create(rig).success
    rig.fake.revoke_tokens()
    assert create(rig, key="after-revoke").success
    assert rig.fake.token_requests == 2
    attempts = [
        c for c in rig.fake.calls("POST", ORDERS) if c.header("PayPal-Request-Id") == "after-revoke"
    ]
    assert len(attempts) == 2
    assert attempts[0].header("Authorization") != attempts[1].header("Authorization")


def test_persistent_401_is_authentication_failed(rig: Rig) -> None:
    """When the fresh token is refused too, the result is AUTHENTICATION_FAILED (one refresh)."""
    rig.fake.script(
        "POST",
        ORDERS,
        401,
        error_body("AUTHENTICATION_FAILURE", "Authentication failed."),
        per_operation=True,
    )
    result = create(rig)
    assert result.error_code is PaymentErrorCode.AUTHENTICATION_FAILED
    assert rig.fake.token_requests == 2
    assert len(rig.fake.calls("POST", ORDERS)) == 2


def test_concurrent_401s_refresh_the_token_only_once(rig: Rig) -> None:
    """Eight threads hitting a revoked token cause exactly one new token request."""
    assert create(rig).success
    rig.fake.revoke_tokens()
    rig.fake.token_delay = 0.2
    results: list[PaymentResult] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        results.append(create(rig))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert all(r.success for r in results), [r.error_message for r in results]
    assert rig.fake.token_requests == 2


def test_wrong_client_secret_is_authentication_failed(make_rig: Callable[..., Rig]) -> None:
    """PayPal's invalid_client answer becomes AUTHENTICATION_FAILED and nothing is created."""
    rig = make_rig(client_secret="not-the-secret")
    result = create(rig)
    assert result.error_code is PaymentErrorCode.AUTHENTICATION_FAILED
    assert "invalid_client" in (result.error_message or "")
    assert "not-the-secret" not in (result.error_message or "")
    assert rig.fake.calls("POST", ORDERS) == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_status_is_retried_with_the_same_request_id(rig: Rig, status: int) -> None:
    """429 and 5xx are retried by urllib3; every attempt carries the same PayPal-Request-Id."""
    rig.fake.script(
        "POST", ORDERS, status, error_body("INTERNAL_SERVER_ERROR", "try again"), times=2
    )
    result = create(rig, key=f"retry-{status}")
    assert result.success, result.error_message
    attempts = rig.fake.calls("POST", ORDERS)
    assert [a.header("PayPal-Request-Id") for a in attempts] == [f"retry-{status}"] * 3
    assert len(rig.fake.orders) == 1


def test_5xx_beyond_the_retries_is_provider_unavailable(rig: Rig) -> None:
    """After max_retries the last 5xx answer becomes a retryable PROVIDER_UNAVAILABLE."""
    rig.fake.script("POST", ORDERS, 503, error_body("SERVICE_UNAVAILABLE", "down"), times=10)
    result = create(rig)
    assert result.error_code is PaymentErrorCode.PROVIDER_UNAVAILABLE
    assert result.error_code.retryable
    assert len(rig.fake.calls("POST", ORDERS)) == 3


@pytest.mark.timeout(60)
def test_rate_limit_with_a_long_retry_after_is_capped(make_rig: Callable[..., Rig]) -> None:
    """Retry-After: 3600 is waited at most retry_backoff_max, then RATE_LIMITED."""
    rig = make_rig(retry_backoff_max=0.05, max_retries=1)
    rig.fake.script(
        "POST",
        ORDERS,
        429,
        error_body("RATE_LIMIT_REACHED", "Too many requests."),
        headers={"Retry-After": "3600"},
        times=10,
    )
    result = create(rig)
    assert result.error_code is PaymentErrorCode.RATE_LIMITED
    assert len(rig.fake.calls("POST", ORDERS)) == 2


def test_client_errors_are_not_retried(rig: Rig) -> None:
    """A 422 is an answer, not a transient failure: exactly one attempt."""
    rig.fake.script(
        "POST", ORDERS, 422, error_body("UNPROCESSABLE_ENTITY", "no", "INSTRUMENT_DECLINED")
    )
    assert create(rig).error_code is PaymentErrorCode.DECLINED
    assert len(rig.fake.calls("POST", ORDERS)) == 1


def test_token_endpoint_5xx_is_retried(rig: Rig) -> None:
    """The token POST has no side effects and is retried like the rest."""
    rig.fake.script("POST", "/v1/oauth2/token", 503, error_body("SERVICE_UNAVAILABLE", "down"))
    assert create(rig).success
    assert rig.fake.token_requests == 2


def test_slow_answer_is_retried_with_the_same_request_id(make_rig: Callable[..., Rig]) -> None:
    """A read timeout is retried with the same id (so PayPal cannot act twice) until answered.

    The first attempt is held unanswered until the call returned (no race between a fixed
    delay and the timeout). Later attempts are answered at once; should one of them still
    miss the short timeout on a loaded machine, it is retried like the first.
    """
    rig = make_rig(timeout=0.3, max_retries=5)
    held = threading.Event()
    rig.fake.script("POST", ORDERS, 503, error_body("SERVICE_UNAVAILABLE", "late"), hold=held)
    try:
        result = create(rig, key="slow-once")
    finally:
        held.set()
    assert result.success, result.error_message
    ids = [c.header("PayPal-Request-Id") for c in rig.fake.calls("POST", ORDERS)]
    assert len(ids) >= 2
    assert set(ids) == {"slow-once"}


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("POST", ORDERS, lambda rig: create(rig)),
        (
            "GET",
            r"/v2/payments/captures/\w+",
            lambda rig: rig.plugin.get_payment("CAPTUREID0000001"),
        ),
        ("POST", "/v1/oauth2/token", lambda rig: create(rig)),
    ],
    ids=["create", "get", "token"],
)
def test_no_answer_in_time_is_a_timeout(
    make_rig: Callable[..., Rig],
    method: str,
    path: str,
    call: Callable[[Rig], PaymentResult],
) -> None:
    """Every call has a read timeout; no answer after the retries is a retryable TIMEOUT.

    Both attempts are held unanswered until the call returned (released afterwards with an
    error that changes nothing), so the outcome does not race a fixed delay.
    """
    rig = make_rig(timeout=0.3, max_retries=1)
    held = threading.Event()
    rig.fake.script(
        method, path, 503, error_body("SERVICE_UNAVAILABLE", "late"), hold=held, times=2
    )
    try:
        result = call(rig)
    finally:
        held.set()
    assert result.error_code is PaymentErrorCode.TIMEOUT
    assert result.error_code.retryable
    assert "unknown" in (result.error_message or "")


def test_unreachable_api_is_provider_unavailable(make_rig: Callable[..., Rig]) -> None:
    """Connection refused on every attempt is PROVIDER_UNAVAILABLE (nothing was sent)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rig = make_rig(api_base=f"http://127.0.0.1:{port}", max_retries=1)
    result = create(rig)
    assert result.error_code is PaymentErrorCode.PROVIDER_UNAVAILABLE


def test_client_refuses_a_money_moving_post_without_request_id(rig: Rig) -> None:
    """The retry rule holds by construction: a money-moving POST needs a PayPal-Request-Id."""
    client = PayPalClient(
        PayPalConfig.model_validate(
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "api_base": rig.config["api_base"],
            }
        ),
        rig.plugin.session,
        clock=FakeClock().monotonic,
    )
    with pytest.raises(ValueError, match="PayPal-Request-Id"):
        client.call("POST", "/v2/checkout/orders", body={})
    assert rig.fake.calls() == []
