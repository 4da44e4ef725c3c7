"""Standard recurring-billing events: typed payloads, validation and the JSON round trip."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import Event, PluginManager
from vbwd_plugins.errors import WebhookPayloadError
from vbwd_plugins.payments import (
    BillingEventData,
    BillingEventType,
    CheckoutCompleted,
    CheckoutMode,
    DisputeClosed,
    DisputeOpened,
    DisputeOutcome,
    Money,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPastDue,
    SubscriptionPaused,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionResumed,
    SubscriptionStatus,
    SubscriptionTrialWillEnd,
    SubscriptionUpdated,
)

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "provider": "stripe",
    "provider_event_type": "x.y",
    "occurred_at": AT,
    "provider_event_id": "evt_1",
}
SUB: dict[str, Any] = {**BASE, "provider_subscription_id": "sub_1", "subscription_id": "s-1"}
DISPUTE: dict[str, Any] = {
    **BASE,
    "dispute_id": "dp_1",
    "transaction_id": "pi_1",
    "amount": 999,
    "currency": "usd",
}

#: One valid payload per standard billing event.
SAMPLES: list[BillingEventData] = [
    SubscriptionCreated(**SUB, status=SubscriptionStatus.TRIALING),
    SubscriptionActivated(**SUB, status="active"),  # type: ignore[arg-type]
    SubscriptionRenewed(
        **SUB,
        amount=999,
        currency="USD",
        period_start=AT,
        period_end=AT + timedelta(days=30),
        invoice_id="in_1",
    ),
    SubscriptionPaymentFailed(
        **SUB, amount=999, currency="USD", attempt=2, next_retry_at=AT + timedelta(days=3)
    ),
    SubscriptionPastDue(**SUB),
    SubscriptionUpdated(**SUB, provider_plan_id="price_2", previous_plan_id="price_1"),
    SubscriptionTrialWillEnd(**SUB, trial_end=AT + timedelta(days=3)),
    SubscriptionPaused(**SUB),
    SubscriptionResumed(**SUB),
    SubscriptionCancelled(**SUB, at_period_end=True, ends_at=AT + timedelta(days=10)),
    CheckoutCompleted(
        **BASE,
        checkout_session_id="cs_1",
        mode=CheckoutMode.SUBSCRIPTION,
        provider_subscription_id="sub_1",
        user_id="u-1",
    ),
    DisputeOpened(**DISPUTE, reason="fraudulent"),
    DisputeClosed(**DISPUTE, outcome=DisputeOutcome.WON),
]


def test_every_billing_event_has_a_sample() -> None:
    """Each BillingEventType name has a payload class, and this file tests each one."""
    assert {sample.event_type for sample in SAMPLES} == set(BillingEventType)


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: p.event_type.value)
def test_payload_round_trips_through_json(payload: BillingEventData) -> None:
    """to_event -> JSON -> from_event gives back an equal payload of the same class."""
    restored = Event.from_json(payload.to_event().to_json())
    again = BillingEventData.from_event(restored)
    assert type(again) is type(payload)
    assert again == payload


def test_host_ids_returned_says_plainly_when_missing() -> None:
    """Events without the host's ids say so in their data; with them, they say that too."""
    without = SubscriptionPastDue(**{**SUB, "subscription_id": None})
    assert without.to_dict()["host_ids_returned"] is False
    assert SubscriptionPastDue(**SUB).to_dict()["host_ids_returned"] is True


def test_currency_is_normalized_and_money_exact() -> None:
    """A lower-case currency is stored upper case; money is exact in minor units."""
    renewed = SubscriptionRenewed(**SUB, amount=1500, currency="kwd")
    assert renewed.currency == "KWD"
    assert renewed.money == Money("1.500", "KWD")


@pytest.mark.parametrize(
    ("cls", "values", "field"),
    [
        (SubscriptionRenewed, {**SUB, "amount": -1, "currency": "USD"}, "amount"),
        (SubscriptionRenewed, {**SUB, "amount": 1.5, "currency": "USD"}, "amount"),
        (SubscriptionRenewed, {**SUB, "amount": 1, "currency": "usdx"}, "currency"),
        (SubscriptionPastDue, {**SUB, "provider_subscription_id": ""}, "provider_subscription_id"),
        (SubscriptionPastDue, {**SUB, "status": "zombie"}, "status"),
        (SubscriptionPastDue, {**SUB, "occurred_at": datetime(2026, 1, 1)}, "occurred_at"),
        (SubscriptionPaymentFailed, {**SUB, "attempt": 0}, "attempt"),
        (SubscriptionPaymentFailed, {**SUB, "error_code": "nope"}, "error_code"),
        (SubscriptionCancelled, {**SUB, "at_period_end": "yes"}, "at_period_end"),
        (SubscriptionPastDue, {**SUB, "user_id": "a\x00b"}, "user_id"),
        (DisputeClosed, {**DISPUTE, "outcome": "draw"}, "outcome"),
        (CheckoutCompleted, {**BASE, "checkout_session_id": "cs", "mode": "rent"}, "mode"),
    ],
)
def test_invalid_fields_are_named(
    cls: type[BillingEventData], values: dict[str, Any], field: str
) -> None:
    """A malformed field raises WebhookPayloadError naming it (a webhook answered 400)."""
    with pytest.raises(WebhookPayloadError, match=repr(field)):
        cls(**values)


def test_abstract_payloads_cannot_be_built() -> None:
    """The shared base classes are not events themselves."""
    with pytest.raises(TypeError, match="abstract"):
        BillingEventData(**BASE)


def test_from_event_refuses_other_names() -> None:
    """A payment event is not a billing event."""
    with pytest.raises(WebhookPayloadError, match=r"payment\.completed"):
        BillingEventData.from_event(Event(name="payment.completed", data={}))


def test_from_dict_reports_missing_fields() -> None:
    """A received event missing a required field fails naming the class."""
    with pytest.raises(WebhookPayloadError, match="SubscriptionRenewed"):
        SubscriptionRenewed.from_dict({**SUB})


def test_payloads_are_frozen() -> None:
    """A listener cannot change an event payload another listener also reads."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        SAMPLES[0].provider = "other"  # type: ignore[misc]


def test_manager_knows_billing_event_names() -> None:
    """Listeners on billing events are not reported as listening to unknown names."""
    manager = PluginManager()
    for name in BillingEventType:
        assert name.value in manager.known_event_names()


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    currency=st.sampled_from(["JPY", "USD", "KWD", "EUR", "BHD", "CLP"]),
    ids=st.tuples(st.none() | st.text(min_size=1, max_size=20), st.none() | st.uuids()),
)
def test_any_valid_renewal_survives_the_round_trip(
    amount: int, currency: str, ids: tuple[str | None, object]
) -> None:
    """Any amount, currency and host ids round-trip exactly through JSON."""
    sub_id, user = ids
    payload = SubscriptionRenewed(
        **{**SUB, "subscription_id": None},
        amount=amount,
        currency=currency,
        user_id=None if user is None else str(user),
    )
    if (
        sub_id is not None
        and "\x00" not in sub_id
        and not any(0xD800 <= ord(c) <= 0xDFFF for c in sub_id)
    ):
        payload = dataclasses.replace(payload, subscription_id=sub_id)
    restored = BillingEventData.from_event(Event.from_json(payload.to_event().to_json()))
    assert restored == payload
    assert restored.money == Money.from_minor_units(amount, currency)
