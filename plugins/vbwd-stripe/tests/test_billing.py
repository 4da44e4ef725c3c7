"""Plans, hosted checkout, customers and saved payment methods: real SDK over HTTP, fake Stripe."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vbwd_stripe import StripePlugin
from vbwd_stripe._billing_mapping import lookup_key_for
from vbwd_stripe._currency import stripe_units
from vbwd_stripe.testing import FakeStripe

from vbwd_plugins import Money, PaymentErrorCode
from vbwd_plugins.payments import (
    CheckoutCompleted,
    CheckoutMode,
    CheckoutRequest,
    Interval,
    Plan,
)

from ._billing_objects import SUB, USER, standard_events

OK, NO = "https://host.example/ok", "https://host.example/cancel"
PRO = Plan(key="pro-monthly", name="Pro", price=Money("20.00", "USD"))


@pytest.fixture
def billing(fake: FakeStripe, make_plugin: Callable[..., StripePlugin]) -> StripePlugin:
    """A plugin whose webhook secret is the one the fake signs deliveries with."""
    return make_plugin(fake, webhook_secret=fake.webhook_secret)


# -- plans ------------------------------------------------------------------------------------


def test_ensure_plan_creates_a_product_and_a_price_once(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """The first call creates Product (explicit id) and Price (lookup key); later ones find them."""
    first = billing.ensure_plan(PRO).unwrap()
    again = billing.ensure_plan(PRO).unwrap()
    assert first == again
    assert first.provider_product_id == "vbwd_pro-monthly"
    price = fake.prices[first.provider_plan_id]
    assert (price["unit_amount"], price["currency"], price["product"]) == (
        2000,
        "usd",
        "vbwd_pro-monthly",
    )
    assert price["recurring"]["interval"] == "month"
    assert price["lookup_key"] == lookup_key_for(PRO)
    assert len(fake.requests_to("/v1/products")) == 1
    assert len(fake.requests_to("/v1/prices")) == 1


def test_a_new_price_for_the_same_plan_key_reuses_the_product(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """A changed amount gets a new Price; the existing Product is found, not an error."""
    first = billing.ensure_plan(PRO).unwrap()
    dearer = Plan(key=PRO.key, name="Pro", price=Money("25.00", "USD"))
    second = billing.ensure_plan(dearer).unwrap()
    assert second.provider_plan_id != first.provider_plan_id
    assert second.provider_product_id == first.provider_product_id
    assert list(fake.products) == ["vbwd_pro-monthly"]
    assert fake.prices[second.provider_plan_id]["unit_amount"] == 2500


def test_interval_and_count_are_part_of_the_plan(billing: StripePlugin, fake: FakeStripe) -> None:
    """A quarterly plan is a Price billed every 3 months, distinct from the monthly one."""
    quarterly = Plan(
        key=PRO.key, name="Pro", price=PRO.price, interval=Interval.MONTH, interval_count=3
    )
    monthly = billing.ensure_plan(PRO).unwrap()
    found = billing.ensure_plan(quarterly).unwrap()
    assert found.provider_plan_id != monthly.provider_plan_id
    assert fake.prices[found.provider_plan_id]["recurring"]["interval_count"] == 3


def test_configured_price_is_checked_not_created(billing: StripePlugin, fake: FakeStripe) -> None:
    """provider_plan_id names an existing Price: it is used when it bills the plan's terms."""
    made = billing.ensure_plan(PRO).unwrap()
    configured = Plan(
        key="legacy", name="Pro", price=PRO.price, provider_plan_id=made.provider_plan_id
    )
    before = len(fake.requests_to("/v1/.*"))
    found = billing.ensure_plan(configured).unwrap()
    assert found.provider_plan_id == made.provider_plan_id
    assert found.plan_key == "legacy"
    assert len(fake.requests_to("/v1/.*")) == before  # read only


@pytest.mark.parametrize(
    ("price", "interval", "why"),
    [
        (Money("21.00", "USD"), Interval.MONTH, "2100"),
        (Money("20.00", "EUR"), Interval.MONTH, "'eur'"),
        (Money("20.00", "USD"), Interval.YEAR, "'year'"),
    ],
)
def test_configured_price_that_does_not_match_is_refused(
    billing: StripePlugin, price: Money, interval: Interval, why: str
) -> None:
    """A configured Price with other terms than the plan is INVALID_REQUEST, saying which."""
    made = billing.ensure_plan(PRO).unwrap()
    plan = Plan(
        key="pro",
        name="Pro",
        price=price,
        interval=interval,
        provider_plan_id=made.provider_plan_id,
    )
    result = billing.ensure_plan(plan)
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert made.provider_plan_id in str(result.error_message)
    assert why in str(result.error_message)


def test_unknown_configured_price_is_not_found(billing: StripePlugin) -> None:
    """A provider_plan_id Stripe does not know maps to NOT_FOUND."""
    plan = Plan(key="pro", name="Pro", price=PRO.price, provider_plan_id="price_missing")
    assert billing.ensure_plan(plan).error_code is PaymentErrorCode.NOT_FOUND


def test_stripe_errors_become_failed_results(billing: StripePlugin, fake: FakeStripe) -> None:
    """An SDK exception never escapes: a 429 is RATE_LIMITED with Stripe's request id."""
    fake.script(*[fake.fail(429, "invalid_request_error", code="rate_limit")] * 3)
    result = billing.ensure_plan(PRO)
    assert (result.success, result.error_code) == (False, PaymentErrorCode.RATE_LIMITED)
    assert str(result.metadata["request_id"]).startswith("req_")


CURRENCIES = {
    "USD": 2,
    "EUR": 2,
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "UGX": 0,
    "MGA": 0,
    "KWD": 3,
    "BHD": 3,
    "TND": 3,
}


@st.composite
def plan_prices(draw: st.DrawFn) -> Money:
    """Prices Stripe can bill, in zero-, two- and three-decimal currencies."""
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    exponent = CURRENCIES[currency]
    units = draw(st.integers(min_value=1, max_value=999_999))
    if exponent == 3:
        units *= 10  # Stripe: three-decimal amounts end in 0
    return Money(Decimal(units).scaleb(-exponent), currency)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(price=plan_prices(), count=st.integers(min_value=1, max_value=12))
def test_plan_amounts_are_exact_in_every_currency(
    billing: StripePlugin, fake: FakeStripe, price: Money, count: int
) -> None:
    """The Price holds the plan's amount in Stripe's units; ensuring twice finds the same."""
    plan = Plan(key="p", name="P", price=price, interval=Interval.WEEK, interval_count=count)
    first = billing.ensure_plan(plan).unwrap()
    assert billing.ensure_plan(plan).unwrap() == first
    stored = fake.prices[first.provider_plan_id]
    assert stored["unit_amount"] == stripe_units(price)
    assert (
        Money.from_minor_units(
            stored["unit_amount"], stored["currency"], rules=billing.currency_rules
        )
        == price
    )


# -- hosted checkout ---------------------------------------------------------------------------


def test_subscription_checkout_carries_host_ids_everywhere(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """Session metadata, client_reference_id and subscription_data[metadata] name the host."""
    request = CheckoutRequest(
        mode=CheckoutMode.SUBSCRIPTION,
        success_url=OK,
        cancel_url=NO,
        plan=PRO,
        quantity=2,
        trial_days=7,
        subscription_id=SUB,
        user_id=USER,
        metadata={"campaign": "spring", "user_id": "spoofed"},
    )
    session = billing.create_checkout_session(request, idempotency_key="co-1").unwrap()
    assert session.url.endswith(f"/c/pay/{session.id}")
    assert session.mode is CheckoutMode.SUBSCRIPTION
    assert session.expires_at is not None
    (sent,) = fake.requests_to("/v1/checkout/sessions")
    assert sent.idempotency_key == "co-1"
    params = sent.params
    assert params["metadata[subscription_id]"] == SUB
    assert params["metadata[user_id]"] == USER  # the caller's "user_id" cannot override it
    assert params["metadata[campaign]"] == "spring"
    assert params["client_reference_id"] == SUB
    assert params["subscription_data[metadata][subscription_id]"] == SUB
    assert params["subscription_data[metadata][user_id]"] == USER
    assert params["subscription_data[trial_period_days]"] == "7"
    assert params["line_items[0][quantity]"] == "2"
    assert params["line_items[0][price]"] == billing.ensure_plan(PRO).unwrap().provider_plan_id


def test_completed_subscription_checkout_is_reported_with_host_ids(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """Completing the hosted page: checkout.completed and subscription.* name the host's ids."""
    request = CheckoutRequest(
        mode=CheckoutMode.SUBSCRIPTION,
        success_url=OK,
        cancel_url=NO,
        plan=PRO,
        subscription_id=SUB,
        user_id=USER,
    )
    session = billing.create_checkout_session(request).unwrap()
    events = [
        e
        for e in standard_events(billing, fake.complete_checkout(session.id))
        if not e.name.startswith("payment.")  # the invoice's PaymentIntent has no host ids
    ]
    assert sorted(e.name for e in events) == [
        "checkout.completed",
        "subscription.activated",
        "subscription.created",
        "subscription.renewed",
    ]
    assert all(e.data["subscription_id"] == SUB and e.data["user_id"] == USER for e in events)
    assert events[0].data["status"] == "pending"  # created incomplete, activated once paid
    completed = CheckoutCompleted.from_dict(events[-1].data)
    assert completed.checkout_session_id == session.id
    assert (completed.amount, completed.currency) == (2000, "USD")
    assert completed.provider_subscription_id == events[0].data["provider_subscription_id"]


def test_trial_checkout_starts_trialing_without_charging(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """With a trial nothing is paid at checkout: activated as trialing, no amount."""
    plan = Plan(key="pro-trial", name="Pro", price=PRO.price, trial_days=14)
    request = CheckoutRequest(
        mode=CheckoutMode.SUBSCRIPTION, success_url=OK, cancel_url=NO, plan=plan, user_id=USER
    )
    session = billing.create_checkout_session(request).unwrap()
    events = {e.name: e for e in standard_events(billing, fake.complete_checkout(session.id))}
    assert events["subscription.activated"].data["status"] == "trialing"
    assert events["checkout.completed"].data["amount"] is None
    assert events["subscription.renewed"].data["amount"] == 0
    assert events["checkout.completed"].data["subscription_id"] is None


@pytest.mark.parametrize(
    ("amount", "units"),
    [(Money("12.50", "EUR"), "1250"), (Money("1500", "JPY"), "1500"), (Money("10", "ISK"), "1000")],
)
def test_payment_checkout_sends_the_amount_in_stripe_units(
    billing: StripePlugin, fake: FakeStripe, amount: Money, units: str
) -> None:
    """A one-off checkout prices its line inline; the intent gets the host's ids."""
    request = CheckoutRequest(
        mode=CheckoutMode.PAYMENT,
        success_url=OK,
        cancel_url=NO,
        amount=amount,
        description="Top-up",
        subscription_id=SUB,
        user_id=USER,
    )
    session = billing.create_checkout_session(request).unwrap()
    params = fake.requests_to("/v1/checkout/sessions")[0].params
    assert params["line_items[0][price_data][unit_amount]"] == units
    assert params["line_items[0][price_data][currency]"] == amount.currency.lower()
    assert params["line_items[0][price_data][product_data][name]"] == "Top-up"
    assert params["payment_intent_data[metadata][user_id]"] == USER
    events = standard_events(billing, fake.complete_checkout(session.id))
    by_name = {e.name: e for e in events}
    completed = CheckoutCompleted.from_dict(by_name["checkout.completed"].data)
    assert completed.money == amount
    assert completed.transaction_id is not None
    assert by_name["payment.completed"].data["transaction_id"] == completed.transaction_id
    assert by_name["payment.completed"].data["subscription_id"] == SUB


def test_a_price_stripe_cannot_charge_is_refused_before_any_request(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """KWD amounts must end in 0 on Stripe: the contract refuses 1.005 KWD up front."""
    from vbwd_plugins.errors import MoneyError

    plan = Plan(key="kw", name="KW", price=Money("1.005", "KWD"))
    with pytest.raises(MoneyError):
        billing.ensure_plan(plan)
    assert fake.requests == []


# -- customers and saved payment methods -------------------------------------------------------


def test_customer_round_trip_keeps_the_host_user(billing: StripePlugin, fake: FakeStripe) -> None:
    """create_customer stores user_id in metadata; get_customer returns it."""
    made = billing.create_customer(
        email="ada@example.com",
        name="Ada",
        user_id=USER,
        metadata={"tier": "gold"},
        idempotency_key="cus-1",
    ).unwrap()
    assert fake.requests_to("/v1/customers")[0].idempotency_key == "cus-1"
    found = billing.get_customer(made.id).unwrap()
    assert found == made
    assert (found.email, found.name, found.user_id, dict(found.metadata)) == (
        "ada@example.com",
        "Ada",
        USER,
        {"tier": "gold"},
    )


def test_unknown_customer_is_not_found(billing: StripePlugin) -> None:
    """A customer Stripe does not know is NOT_FOUND, not an exception."""
    assert billing.get_customer("cus_missing").error_code is PaymentErrorCode.NOT_FOUND


def test_setup_intent_saves_a_card_that_can_be_listed_and_detached(
    billing: StripePlugin, fake: FakeStripe
) -> None:
    """Without URLs a SetupIntent is started; once confirmed the card is listed, then detached."""
    cus = billing.create_customer(user_id=USER).unwrap()
    setup = billing.start_payment_method_setup(cus.id).unwrap()
    assert setup.id.startswith("seti_") and setup.url is None
    assert setup.client_secret is not None and setup.client_secret not in repr(setup)
    assert billing.list_payment_methods(cus.id).unwrap() == ()
    fake.confirm_setup_intent(setup.id, payment_method="pm_card_mastercard")
    (card,) = billing.list_payment_methods(cus.id).unwrap()
    assert (card.type, card.brand, card.last4, card.exp_month) == ("card", "mastercard", "4444", 12)
    detached = billing.detach_payment_method(card.id, idempotency_key="det-1").unwrap()
    assert detached.id == card.id
    assert billing.list_payment_methods(cus.id).unwrap() == ()
    again = billing.detach_payment_method(card.id)
    assert again.error_code is PaymentErrorCode.INVALID_REQUEST


def test_setup_with_urls_is_a_setup_checkout(billing: StripePlugin, fake: FakeStripe) -> None:
    """With a success_url the payer saves the card on Checkout (setup mode)."""
    cus = billing.create_customer(user_id=USER).unwrap()
    setup = billing.start_payment_method_setup(cus.id, success_url=OK, cancel_url=NO).unwrap()
    assert setup.id.startswith("cs_") and setup.url is not None and setup.client_secret is None
    assert fake.requests_to("/v1/checkout/sessions")[0].params["mode"] == "setup"
    events = standard_events(billing, fake.complete_checkout(setup.id))
    completed = CheckoutCompleted.from_dict(events[-1].data)
    assert (completed.mode, completed.customer_id) == (CheckoutMode.SETUP, cus.id)
    assert len(billing.list_payment_methods(cus.id).unwrap()) == 1
