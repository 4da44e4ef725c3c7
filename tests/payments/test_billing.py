"""Recurring-billing requests and results: what a malformed request raises, what a result holds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import Money, PaymentErrorCode, PaymentResult
from vbwd_plugins.errors import BillingFailedError, BillingRequestError, MoneyError
from vbwd_plugins.payments import (
    BillingResult,
    CheckoutMode,
    CheckoutRequest,
    Interval,
    PaymentMethodSetup,
    Plan,
    SubscriptionRequest,
)

PLAN = Plan(key="pro-monthly", name="Pro", price=Money("9.99", "USD"), trial_days=14)
URLS = {"success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/no"}


def test_plan_defaults_to_monthly_without_trial() -> None:
    """A plan bills monthly, once per month, with no trial unless told otherwise."""
    plan = Plan(key="basic", name="Basic", price=Money("5", "EUR"))
    assert (plan.interval, plan.interval_count, plan.trial_days) == (Interval.MONTH, 1, 0)


def test_plan_interval_text_becomes_the_enum() -> None:
    """An interval given as text ("year") is stored as Interval.YEAR."""
    plan = Plan(key="y", name="Yearly", price=Money("50", "USD"), interval="year")  # type: ignore[arg-type]
    assert plan.interval is Interval.YEAR


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": "has space"}, "key"),
        ({"key": ""}, "key"),
        ({"name": ""}, "name"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval_count": 0}, "interval_count"),
        ({"interval_count": True}, "interval_count"),
        ({"trial_days": -1}, "trial_days"),
        ({"trial_days": 731}, "trial_days"),
        ({"price": Decimal("9.99")}, "price"),
    ],
)
def test_bad_plan_fields_are_named(changes: dict[str, object], field: str) -> None:
    """Each malformed plan field raises BillingRequestError naming that field."""
    values: dict[str, object] = {"key": "k", "name": "n", "price": Money("1", "USD")}
    values.update(changes)
    with pytest.raises(BillingRequestError) as caught:
        Plan(**values)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert field in str(caught.value)


def test_plan_price_must_be_positive() -> None:
    """A free plan is refused as a MoneyError: a subscription charges something."""
    with pytest.raises(MoneyError, match="positive"):
        Plan(key="free", name="Free", price=Money("0", "USD"))


def test_subscription_checkout_needs_a_plan() -> None:
    """A subscription checkout without a plan names the plan field."""
    with pytest.raises(BillingRequestError) as caught:
        CheckoutRequest(mode=CheckoutMode.SUBSCRIPTION, **URLS)
    assert caught.value.field == "plan"


def test_payment_checkout_needs_a_positive_amount() -> None:
    """A payment checkout needs Money; zero is a MoneyError."""
    with pytest.raises(BillingRequestError) as caught:
        CheckoutRequest(mode=CheckoutMode.PAYMENT, **URLS)
    assert caught.value.field == "amount"
    with pytest.raises(MoneyError):
        CheckoutRequest(mode=CheckoutMode.PAYMENT, amount=Money("0", "USD"), **URLS)


def test_setup_checkout_needs_a_customer() -> None:
    """Saving a method through checkout names the customer it saves for."""
    with pytest.raises(BillingRequestError) as caught:
        CheckoutRequest(mode="setup", **URLS)  # type: ignore[arg-type]
    assert caught.value.field == "customer_id"


@pytest.mark.parametrize("url", ["ftp://x/y", "/relative", "https://a b", "", None])
def test_checkout_urls_must_be_absolute_http(url: object) -> None:
    """A success URL that is not absolute http(s) is refused, naming success_url."""
    with pytest.raises(BillingRequestError) as caught:
        CheckoutRequest(
            mode=CheckoutMode.SUBSCRIPTION,
            plan=PLAN,
            success_url=url,  # type: ignore[arg-type]
            cancel_url="https://x.example/c",
        )
    assert caught.value.field == "success_url"


def test_trial_override_wins_over_the_plan() -> None:
    """trial_days on the request overrides the plan's; None keeps the plan's."""
    request = CheckoutRequest(mode=CheckoutMode.SUBSCRIPTION, plan=PLAN, **URLS)
    assert request.effective_trial_days == 14
    override = CheckoutRequest(mode=CheckoutMode.SUBSCRIPTION, plan=PLAN, trial_days=0, **URLS)
    assert override.effective_trial_days == 0
    assert SubscriptionRequest(plan=PLAN, trial_days=3).effective_trial_days == 3
    assert SubscriptionRequest(plan=PLAN).effective_trial_days == 14


def test_request_metadata_must_be_strings() -> None:
    """Metadata values other than strings are refused (providers store text only)."""
    with pytest.raises(BillingRequestError) as caught:
        SubscriptionRequest(plan=PLAN, metadata={"n": 1})  # type: ignore[dict-item]
    assert caught.value.field == "metadata"


@given(quantity=st.integers())
def test_quantity_range(quantity: int) -> None:
    """Quantities from 1 to 10,000 are accepted; anything else names quantity."""
    if 1 <= quantity <= 10_000:
        assert SubscriptionRequest(plan=PLAN, quantity=quantity).quantity == quantity
    else:
        with pytest.raises(BillingRequestError, match="quantity"):
            SubscriptionRequest(plan=PLAN, quantity=quantity)


def test_setup_client_secret_stays_out_of_repr() -> None:
    """A setup's client secret is never part of its repr (logs, tracebacks)."""
    setup = PaymentMethodSetup(id="seti_1", customer_id="cus_1", client_secret="seti_1_secret_x")
    assert "secret_x" not in repr(setup)


def test_billing_result_ok_and_unwrap() -> None:
    """A successful result holds its value; unwrap returns it."""
    result = BillingResult.ok("value", request_id="req_1")
    assert (result.success, result.unwrap(), result.metadata) == (
        True,
        "value",
        {"request_id": "req_1"},
    )


def test_billing_result_failure_unwrap_raises_with_the_code() -> None:
    """unwrap on a failure raises BillingFailedError carrying the standard code."""
    result: BillingResult[str] = BillingResult.failure(PaymentErrorCode.DECLINED, "card declined")
    with pytest.raises(BillingFailedError, match="declined") as caught:
        result.unwrap()
    assert caught.value.error_code is PaymentErrorCode.DECLINED


def test_billing_result_cannot_contradict_itself() -> None:
    """Success with an error code, or failure without one, cannot be built."""
    with pytest.raises(ValueError, match="successful"):
        BillingResult(True, "v", PaymentErrorCode.DECLINED)
    with pytest.raises(ValueError, match="error_code"):
        BillingResult(False)


def test_billing_result_from_payment_result_keeps_code_message_and_metadata() -> None:
    """A provider's payment-result mapping becomes the billing failure unchanged."""
    failed = PaymentResult.failure(
        PaymentErrorCode.RATE_LIMITED, "slow down", metadata={"request_id": "req_9"}
    )
    result: BillingResult[object] = BillingResult.from_payment_result(failed)
    assert (result.success, result.error_code, result.error_message) == (
        False,
        PaymentErrorCode.RATE_LIMITED,
        "slow down",
    )
    assert result.metadata == {"request_id": "req_9"}
