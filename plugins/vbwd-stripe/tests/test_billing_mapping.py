"""Stripe billing objects -> the core's models: statuses, plans, subscriptions, methods."""

from __future__ import annotations

import logging
import typing
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe._subscription import Subscription as StripeSubscription
from vbwd_stripe._billing_mapping import (
    SUBSCRIPTION_STATUSES,
    host_ids,
    host_metadata,
    lookup_key_for,
    plan_mismatch,
    product_id_for,
    subscription_status,
    to_checkout_session,
    to_payment_method,
    to_subscription,
)
from vbwd_stripe._currency import stripe_units

from vbwd_plugins import Money
from vbwd_plugins.payments import CheckoutMode, Interval, Plan, SubscriptionStatus

from ._billing_objects import SUB, T0, USER, checkout_session, subscription

PRO = Plan(key="pro", name="Pro", price=Money("20.00", "USD"))


def sdk_statuses() -> set[str]:
    """The subscription statuses the pinned SDK declares (its Literal)."""
    union = StripeSubscription.__annotations__["status"]
    (literal,) = [arg for arg in typing.get_args(union) if typing.get_origin(arg) is typing.Literal]
    return set(typing.get_args(literal))


def test_every_sdk_status_has_a_standard_status() -> None:
    """The table covers exactly the statuses the pinned API version can send."""
    assert set(SUBSCRIPTION_STATUSES) == sdk_statuses()
    assert SUBSCRIPTION_STATUSES["incomplete"] is SubscriptionStatus.PENDING
    assert SUBSCRIPTION_STATUSES["canceled"] is SubscriptionStatus.CANCELLED
    assert SUBSCRIPTION_STATUSES["incomplete_expired"] is SubscriptionStatus.EXPIRED


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_paused_collection_is_paused(status: str) -> None:
    """pause_collection set on a live subscription reads as PAUSED."""
    sub = subscription(status=status, pause_collection={"behavior": "void", "resumes_at": None})
    assert subscription_status(sub) is SubscriptionStatus.PAUSED


def test_an_ended_subscription_stays_ended_with_pause_collection() -> None:
    """A cancelled subscription is CANCELLED even if pause_collection was left set."""
    sub = subscription(status="canceled", pause_collection={"behavior": "void"})
    assert subscription_status(sub) is SubscriptionStatus.CANCELLED


def test_unknown_status_is_pending_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A status a later API version adds does not fail: PENDING with a warning."""
    with caplog.at_level(logging.WARNING):
        assert subscription_status(subscription(status="hibernating")) is (
            SubscriptionStatus.PENDING
        )
    assert "hibernating" in caplog.text


def test_subscription_reads_its_period_from_the_item() -> None:
    """This API version keeps the current period on the item, not the subscription."""
    sub = to_subscription(subscription(quantity=4, cancel_at_period_end=True, trial_end=T0 + 86400))
    assert (sub.id, sub.status, sub.quantity, sub.provider_plan_id) == (
        "sub_1",
        SubscriptionStatus.ACTIVE,
        4,
        "price_pro",
    )
    assert sub.current_period_start is not None and sub.current_period_end is not None
    assert int(sub.current_period_start.timestamp()) == T0
    assert (sub.cancel_at_period_end, sub.subscription_id, sub.user_id) == (True, SUB, USER)
    assert sub.trial_end is not None and int(sub.trial_end.timestamp()) == T0 + 86400


def test_subscription_without_items_has_no_period() -> None:
    """No items (not expanded, or a foreign shape): no period and no plan, not an error."""
    sub = to_subscription(subscription(items={"object": "list", "data": []}, metadata={}))
    assert (sub.current_period_end, sub.provider_plan_id, sub.quantity) == (None, None, 1)
    assert (sub.subscription_id, sub.user_id) == (None, None)


def test_host_ids_win_over_caller_metadata() -> None:
    """The plugin's subscription_id/user_id cannot be overridden by the caller's metadata."""
    tags = host_metadata({"user_id": "spoof", "plan": "pro"}, SUB, USER)
    assert tags == {"plan": "pro", "subscription_id": SUB, "user_id": USER}
    assert host_metadata({"user_id": "spoof"}, None, None) == {}
    assert host_ids(tags) == (SUB, USER, {"plan": "pro"})
    assert host_ids(None) == (None, None, {})


def test_payment_methods_of_other_types_have_no_card_details() -> None:
    """A SEPA debit method is listed by type without brand or last4."""
    pm = to_payment_method({"id": "pm_1", "type": "sepa_debit", "sepa_debit": {"last4": "3000"}})
    assert (pm.type, pm.brand, pm.last4) == ("sepa_debit", None, "3000")


def test_checkout_session_names_what_it_created() -> None:
    """provider_object_id is the subscription, intent or SetupIntent when Stripe says."""
    cs = to_checkout_session(
        checkout_session(url="https://checkout.stripe.com/c/pay/cs_1"), CheckoutMode.SUBSCRIPTION
    )
    assert (cs.provider_object_id, cs.url) == ("sub_1", "https://checkout.stripe.com/c/pay/cs_1")
    assert cs.expires_at is not None and int(cs.expires_at.timestamp()) == T0 + 86400


def test_product_id_and_lookup_key_are_derived_from_the_plan() -> None:
    """Product id from the key; lookup key from key, Stripe amount, currency and interval."""
    assert product_id_for(PRO) == "vbwd_pro"
    assert lookup_key_for(PRO) == "vbwd:pro:2000:usd:month:1"
    isk = Plan(key="pro", name="Pro", price=Money("10", "ISK"), interval=Interval.YEAR)
    assert lookup_key_for(isk) == "vbwd:pro:1000:isk:year:1"  # ISK: two decimals on Stripe


def price_for(plan: Plan, **changes: object) -> dict[str, object]:
    """The Stripe price that bills ``plan`` exactly."""
    price: dict[str, object] = {
        "id": "price_1",
        "active": True,
        "currency": plan.price.currency.lower(),
        "unit_amount": stripe_units(plan.price),
        "recurring": {"interval": plan.interval.value, "interval_count": plan.interval_count},
    }
    price.update(changes)
    return price


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"unit_amount": 2001}, "2001"),
        ({"currency": "eur"}, "'eur'"),
        ({"recurring": {"interval": "month", "interval_count": 2}}, "every 2"),
        ({"recurring": None}, "not recurring"),
        ({"active": False}, "archived"),
        ({"unit_amount": None}, "None"),
    ],
)
def test_a_price_with_other_terms_is_a_mismatch(changes: dict[str, object], why: str) -> None:
    """Each differing term is named in the reason."""
    reason = plan_mismatch(price_for(PRO, **changes), PRO)
    assert reason is not None and why in reason and "price_1" in reason


CURRENCIES = {"USD": 2, "JPY": 0, "ISK": 0, "MGA": 0, "KWD": 3, "TND": 3}


@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    units=st.integers(min_value=1, max_value=99_999),
    count=st.integers(min_value=1, max_value=12),
    interval=st.sampled_from(list(Interval)),
)
def test_lookup_keys_tell_plans_apart(
    currency: str, units: int, count: int, interval: Interval
) -> None:
    """A plan matches its own price; another amount gets another lookup key."""
    exponent = CURRENCIES[currency]
    step = 10 if exponent == 3 else 1
    price = Money(Decimal(units * step).scaleb(-exponent), currency)
    plan = Plan(key="k", name="K", price=price, interval=interval, interval_count=count)
    dearer = Plan(
        key="k",
        name="K",
        price=Money(Decimal((units + 1) * step).scaleb(-exponent), currency),
        interval=interval,
        interval_count=count,
    )
    assert plan_mismatch(price_for(plan), plan) is None
    assert plan_mismatch(price_for(plan), dearer) is not None
    assert lookup_key_for(plan) != lookup_key_for(dearer)
    assert str(stripe_units(price)) in lookup_key_for(plan)
