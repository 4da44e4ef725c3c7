"""Pure billing request bodies: product ids, billing cycles, plan matching, subscriptions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vbwd_paypal import PAYPAL_CURRENCY_RULES
from vbwd_paypal._billing_requests import (
    billing_cycles,
    catalog_product_body,
    plan_body,
    plan_description,
    plan_fingerprint,
    plan_mismatch,
    subscription_body,
)
from vbwd_paypal._subscriptions import cancel_note, subscription_of

from vbwd_plugins import Money
from vbwd_plugins.payments import Interval, Plan, SubscriptionStatus

_KEYS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(_KEYS, _KEYS, st.integers(1, 10**6))
def test_plan_identity_names_the_key(first: str, second: str, cents: int) -> None:
    """Plans of two keys never share a description or PayPal-Request-Id, and both fit PayPal."""
    plans = [
        Plan(key=key, name="Pro", price=Money.from_minor_units(cents, "USD"))
        for key in (first, second)
    ]
    bodies = [plan_body(plan, "VBWD-SUBSCRIPTIONS", PAYPAL_CURRENCY_RULES) for plan in plans]
    assert all(1 <= len(body["description"]) <= 127 for body in bodies)
    same = first == second
    assert (bodies[0]["description"] == bodies[1]["description"]) == same
    prints = [plan_fingerprint(p, "VBWD-SUBSCRIPTIONS", PAYPAL_CURRENCY_RULES) for p in plans]
    assert (prints[0] == prints[1]) == same


def test_the_catalog_product_is_one_service() -> None:
    """The catalog product body carries the configured id and is a SERVICE."""
    body = catalog_product_body("VBWD-SUBSCRIPTIONS")
    assert body["id"] == "VBWD-SUBSCRIPTIONS" and body["type"] == "SERVICE"
    assert plan_description("pro") == "vbwd plan pro"


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=730))
def test_trials_fit_paypal_day_cycles(days: int) -> None:
    """Any trial is free DAY cycles of at most 365 days that add up to exactly its length."""
    plan = Plan(key="k", name="K", price=Money("1", "USD"), trial_days=days)
    trial, regular = billing_cycles(plan, PAYPAL_CURRENCY_RULES)
    length = trial["frequency"]["interval_count"]
    assert trial["frequency"]["interval_unit"] == "DAY" and 1 <= length <= 365
    assert length * trial["total_cycles"] == days and trial["total_cycles"] <= 999
    assert "pricing_scheme" not in trial and regular["sequence"] == 2


_PRICES = st.one_of(
    st.tuples(st.sampled_from(["JPY", "HUF", "TWD"]), st.integers(1, 10**8)).map(
        lambda p: Money(p[1], p[0])
    ),
    st.tuples(st.sampled_from(["USD", "EUR", "GBP", "CAD"]), st.integers(1, 10**10)).map(
        lambda p: Money(Decimal(p[1]).scaleb(-2), p[0])
    ),
)


def _as_paypal_answers(body: dict[str, Any]) -> dict[str, Any]:
    """The plan as PayPal shows it: values without trailing zeros ("10" for "10.00")."""
    answer = {**body, "id": "P-1"}
    for cycle in answer["billing_cycles"]:
        fixed = cycle.get("pricing_scheme", {}).get("fixed_price")
        if fixed is not None:
            value = Decimal(fixed["value"]).normalize()
            fixed["value"] = f"{value:f}"
    return answer


@settings(max_examples=150, deadline=None)
@given(_PRICES, st.sampled_from(list(Interval)), st.integers(0, 30))
def test_a_plan_matches_what_paypal_answers_for_it(
    price: Money, interval: Interval, trial: int
) -> None:
    """Zero- and two-decimal prices are sent exactly and match PayPal's own rendering."""
    plan = Plan(key="k", name="K", price=price, interval=interval, trial_days=trial)
    body = plan_body(plan, "VBWD-k", PAYPAL_CURRENCY_RULES)
    sent = body["billing_cycles"][-1]["pricing_scheme"]["fixed_price"]
    assert Money(sent["value"], sent["currency_code"]) == price
    if price.currency in ("JPY", "HUF", "TWD"):
        assert "." not in sent["value"]
    assert plan_mismatch(_as_paypal_answers(body), plan, PAYPAL_CURRENCY_RULES) is None
    dearer = Plan(key="k", name="K", price=Money(price.amount + 1, price.currency))
    assert plan_mismatch(_as_paypal_answers(body), dearer, PAYPAL_CURRENCY_RULES) is not None


def test_inactive_plans_do_not_match() -> None:
    """A deactivated billing plan is not reused, whatever it bills."""
    plan = Plan(key="k", name="K", price=Money("5", "USD"))
    answer = {**plan_body(plan, "VBWD-k", PAYPAL_CURRENCY_RULES), "status": "INACTIVE"}
    assert "INACTIVE" in (plan_mismatch(answer, plan, PAYPAL_CURRENCY_RULES) or "")


def test_subscription_body_carries_urls_and_defaults() -> None:
    """return/cancel URLs go in application_context; SUBSCRIBE_NOW and no shipping default."""
    body = subscription_body(
        "P-1",
        quantity=3,
        custom_id="a,b",
        return_url="https://h/r",
        cancel_url="https://h/c",
        metadata={"brand_name": "Host", "unrelated": "x"},
    )
    assert body == {
        "plan_id": "P-1",
        "quantity": "3",
        "custom_id": "a,b",
        "application_context": {
            "brand_name": "Host",
            "user_action": "SUBSCRIBE_NOW",
            "shipping_preference": "NO_SHIPPING",
            "return_url": "https://h/r",
            "cancel_url": "https://h/c",
        },
    }


@pytest.mark.parametrize(
    ("status", "failed", "expected"),
    [
        ("APPROVAL_PENDING", 0, SubscriptionStatus.PENDING),
        ("APPROVED", 0, SubscriptionStatus.PENDING),
        ("ACTIVE", 0, SubscriptionStatus.ACTIVE),
        ("ACTIVE", 1, SubscriptionStatus.PAST_DUE),
        ("SUSPENDED", 0, SubscriptionStatus.PAUSED),
        ("SUSPENDED", 3, SubscriptionStatus.UNPAID),
        ("CANCELLED", 0, SubscriptionStatus.CANCELLED),
        ("EXPIRED", 0, SubscriptionStatus.EXPIRED),
    ],
)
def test_status_table(status: str, failed: int, expected: SubscriptionStatus) -> None:
    """PayPal's status and failed_payments_count map as the module table says."""
    resource = {"id": "I-1", "status": status, "billing_info": {"failed_payments_count": failed}}
    assert subscription_of(resource).status is expected


def test_cancelled_at_period_end_runs_until_paid_through() -> None:
    """Cancelled at period end: ACTIVE with cancel_at_period_end until then, CANCELLED after."""
    end = datetime(2024, 6, 1, 10, tzinfo=UTC)
    resource = {"id": "I-1", "status": "CANCELLED", "status_change_note": cancel_note(True, end)}
    before = subscription_of(resource, now=datetime(2024, 5, 20, tzinfo=UTC))
    assert (before.status, before.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)
    assert before.current_period_end == end and before.provider_status == "CANCELLED"
    after = subscription_of(resource, now=datetime(2024, 6, 2, tzinfo=UTC))
    assert (after.status, after.cancel_at_period_end) == (SubscriptionStatus.CANCELLED, True)
