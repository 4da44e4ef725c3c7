"""Billing webhooks: Stripe events (API version 2026-10-28.endive) -> standard billing events."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st
from vbwd_stripe import StripePlugin
from vbwd_stripe import _billing_events as billing_events_module
from vbwd_stripe._billing_events import BILLING_EVENT_TYPES, billing_events
from vbwd_stripe._billing_mapping import API_VERSION
from vbwd_stripe._currency import stripe_units

from vbwd_plugins import Money
from vbwd_plugins.errors import WebhookPayloadError
from vbwd_plugins.payments import (
    BillingEventData,
    BillingEventType,
    CheckoutCompleted,
    CheckoutMode,
    DisputeClosed,
    DisputeOpened,
    DisputeOutcome,
    SubscriptionCancelled,
    SubscriptionEventData,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionStatus,
    SubscriptionTrialWillEnd,
    SubscriptionUpdated,
)

from ._billing_objects import (
    MONTH,
    SUB,
    T0,
    USER,
    checkout_session,
    dispute,
    event,
    invoice,
    line,
    subscription,
)


def at(ts: int) -> datetime:
    """A Unix time as Stripe's aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def names(found: list[BillingEventData]) -> list[str]:
    """The standard event names, in order."""
    return [data.event_type.value for data in found]


def translate(event_type: str, obj: dict[str, Any], previous: Any = None) -> list[BillingEventData]:
    """Translate one Stripe event built around ``obj``."""
    return billing_events(event(event_type, obj, previous), provider="stripe")


def subs(found: list[BillingEventData]) -> list[SubscriptionEventData]:
    """The events as subscription events (each must be one)."""
    assert all(isinstance(data, SubscriptionEventData) for data in found)
    return [data for data in found if isinstance(data, SubscriptionEventData)]


# -- customer.subscription.created / deleted / paused / resumed / trial_will_end --------------


def test_created_active_is_created_and_activated_with_host_ids() -> None:
    """An active new subscription is created and activated, naming the host's ids."""
    found = translate("customer.subscription.created", subscription())
    assert names(found) == ["subscription.created", "subscription.activated"]
    for data in subs(found):
        assert (data.subscription_id, data.user_id) == (SUB, USER)
        assert data.provider_subscription_id == "sub_1"
        assert data.provider_plan_id == "price_pro"
        assert data.customer_id == "cus_1"
        assert data.current_period_end == at(T0 + MONTH)
        assert data.occurred_at == at(T0 + 1)
        assert data.provider_event_id == "evt_1"


def test_created_trialing_is_activated_as_trialing() -> None:
    """A subscription that starts its trial is usable at once."""
    found = translate("customer.subscription.created", subscription(status="trialing"))
    assert names(found) == ["subscription.created", "subscription.activated"]
    assert subs(found)[1].status is SubscriptionStatus.TRIALING


def test_created_incomplete_is_only_created_and_pending() -> None:
    """A subscription waiting for its first payment is created, not activated."""
    found = translate("customer.subscription.created", subscription(status="incomplete"))
    assert names(found) == ["subscription.created"]
    assert subs(found)[0].status is SubscriptionStatus.PENDING


def test_events_without_host_metadata_say_so() -> None:
    """No metadata from the plugin: host ids are None and host_ids_returned is False."""
    (data, _) = translate("customer.subscription.created", subscription(metadata={"a": "b"}))
    assert (data.subscription_id, data.user_id, data.host_ids_returned) == (None, None, False)
    assert data.metadata == {"a": "b"}


def test_deleted_now_is_cancelled_not_at_period_end() -> None:
    """An immediate cancellation ends access at ended_at."""
    sub = subscription(status="canceled", canceled_at=T0 + 5, ended_at=T0 + 5)
    (data,) = translate("customer.subscription.deleted", sub)
    assert isinstance(data, SubscriptionCancelled)
    assert (data.at_period_end, data.ends_at, data.status) == (
        False,
        at(T0 + 5),
        SubscriptionStatus.CANCELLED,
    )


def test_deleted_after_a_scheduled_cancellation_is_at_period_end() -> None:
    """A subscription that ran out its period after cancel_at_period_end ends at period end."""
    end = T0 + MONTH
    sub = subscription(
        status="canceled", cancel_at_period_end=True, cancel_at=end, ended_at=end, canceled_at=T0
    )
    (data,) = translate("customer.subscription.deleted", sub)
    assert isinstance(data, SubscriptionCancelled)
    assert (data.at_period_end, data.ends_at) == (True, at(end))


@pytest.mark.parametrize(
    ("stripe_type", "standard"),
    [
        ("customer.subscription.paused", "subscription.paused"),
        ("customer.subscription.resumed", "subscription.resumed"),
    ],
)
def test_paused_and_resumed_map_one_to_one(stripe_type: str, standard: str) -> None:
    """Stripe's pause endpoint events become subscription.paused / resumed."""
    status = "paused" if stripe_type.endswith("paused") else "active"
    (data,) = translate(stripe_type, subscription(status=status))
    assert data.event_type.value == standard


def test_trial_will_end_carries_the_trial_end() -> None:
    """The reminder names when the trial ends."""
    sub = subscription(status="trialing", trial_start=T0, trial_end=T0 + 14 * 86400)
    (data,) = translate("customer.subscription.trial_will_end", sub)
    assert isinstance(data, SubscriptionTrialWillEnd)
    assert data.trial_end == at(T0 + 14 * 86400)


# -- customer.subscription.updated ------------------------------------------------------------


def test_price_change_is_updated_with_the_previous_plan() -> None:
    """A new price on the item is subscription.updated naming the old price."""
    old = subscription(price_id="price_basic")
    found = translate(
        "customer.subscription.updated", subscription(price_id="price_pro"), {"items": old["items"]}
    )
    assert names(found) == ["subscription.updated"]
    assert isinstance(found[0], SubscriptionUpdated)
    assert (found[0].previous_plan_id, found[0].provider_plan_id) == ("price_basic", "price_pro")


def test_a_new_period_alone_is_not_an_update() -> None:
    """A renewal moves the item's period; without a price change nothing is emitted."""
    old = subscription(period=(T0 - MONTH, T0))
    assert translate("customer.subscription.updated", subscription(), {"items": old["items"]}) == []


@pytest.mark.parametrize(
    ("before", "now", "expected", "status"),
    [
        ("active", "past_due", "subscription.past_due", SubscriptionStatus.PAST_DUE),
        ("trialing", "past_due", "subscription.past_due", SubscriptionStatus.PAST_DUE),
        ("past_due", "unpaid", "subscription.past_due", SubscriptionStatus.UNPAID),
        ("past_due", "active", "subscription.activated", SubscriptionStatus.ACTIVE),
        ("incomplete", "active", "subscription.activated", SubscriptionStatus.ACTIVE),
        ("unpaid", "active", "subscription.activated", SubscriptionStatus.ACTIVE),
        ("incomplete", "incomplete_expired", "subscription.cancelled", SubscriptionStatus.EXPIRED),
    ],
)
def test_status_changes(before: str, now: str, expected: str, status: SubscriptionStatus) -> None:
    """Each status change that matters to a host has its event and standard status."""
    found = translate("customer.subscription.updated", subscription(status=now), {"status": before})
    assert names(found) == [expected]
    assert subs(found)[0].status is status


@pytest.mark.parametrize(("before", "now"), [("trialing", "active"), ("active", "active")])
def test_quiet_status_changes(before: str, now: str) -> None:
    """A trial turning active is reported by invoice.paid, not here."""
    assert (
        translate("customer.subscription.updated", subscription(status=now), {"status": before})
        == []
    )


def test_cancel_at_period_end_is_cancelled_at_period_end() -> None:
    """Scheduling the cancellation says access lasts until the period's end."""
    end = T0 + MONTH
    sub = subscription(cancel_at_period_end=True, cancel_at=end, canceled_at=T0 + 1)
    previous = {"cancel_at_period_end": False, "cancel_at": None, "canceled_at": None}
    (data,) = translate("customer.subscription.updated", sub, previous)
    assert isinstance(data, SubscriptionCancelled)
    assert (data.at_period_end, data.ends_at, data.status) == (
        True,
        at(end),
        SubscriptionStatus.ACTIVE,
    )


def test_cancel_at_period_end_without_cancel_at_ends_with_the_period() -> None:
    """Without cancel_at, the item's period end is when access ends."""
    sub = subscription(cancel_at_period_end=True)
    (data,) = translate("customer.subscription.updated", sub, {"cancel_at_period_end": False})
    assert isinstance(data, SubscriptionCancelled)
    assert data.ends_at == at(T0 + MONTH)


def test_withdrawn_cancellation_is_activated() -> None:
    """Undoing cancel_at_period_end tells the host the subscription continues."""
    previous = {"cancel_at_period_end": True, "cancel_at": T0 + MONTH}
    found = translate("customer.subscription.updated", subscription(), previous)
    assert names(found) == ["subscription.activated"]


def test_pause_collection_set_and_cleared() -> None:
    """pause_collection set is subscription.paused (status PAUSED); cleared is resumed."""
    paused = subscription(pause_collection={"behavior": "void", "resumes_at": None})
    (data,) = subs(translate("customer.subscription.updated", paused, {"pause_collection": None}))
    assert data.event_type is BillingEventType.SUBSCRIPTION_PAUSED
    assert data.status is SubscriptionStatus.PAUSED
    previous = {"pause_collection": {"behavior": "void", "resumes_at": None}}
    (data,) = subs(translate("customer.subscription.updated", subscription(), previous))
    assert data.event_type is BillingEventType.SUBSCRIPTION_RESUMED
    assert data.status is SubscriptionStatus.ACTIVE


def test_one_update_can_carry_several_changes() -> None:
    """A price change and a recovery in one update give both events."""
    old = subscription(price_id="price_basic")
    previous = {"items": old["items"], "status": "past_due"}
    found = translate("customer.subscription.updated", subscription(), previous)
    assert names(found) == ["subscription.updated", "subscription.activated"]


def test_metadata_only_update_emits_nothing() -> None:
    """Changes a host does not act on produce no event."""
    previous = {"metadata": {"plan": "old"}}
    assert translate("customer.subscription.updated", subscription(), previous) == []


# -- invoices -----------------------------------------------------------------------------------


def test_invoice_paid_is_renewed_with_the_lines_period() -> None:
    """A paid renewal invoice: amount, currency, the billed period, invoice and host ids."""
    (data,) = translate("invoice.paid", invoice())
    assert isinstance(data, SubscriptionRenewed)
    assert (data.amount, data.currency, data.invoice_id) == (2000, "USD", "in_1")
    assert (data.period_start, data.period_end) == (at(T0 + MONTH), at(T0 + 2 * MONTH))
    assert data.current_period_end == data.period_end
    assert (data.provider_subscription_id, data.provider_plan_id) == ("sub_1", "price_pro")
    assert (data.subscription_id, data.user_id, data.customer_id) == (SUB, USER, "cus_1")


def test_invoice_paid_ignores_proration_lines_for_the_period() -> None:
    """Proration lines are partial periods; the new period comes from the regular line."""
    start, end = T0 + MONTH, T0 + 2 * MONTH
    lines = [
        line(-500, (T0 + 10, start), proration=True, price_id="price_basic"),
        line(700, (T0 + 10, start), proration=True),
        line(2000, (start, end)),
    ]
    (data,) = translate("invoice.paid", invoice(amount=2200, lines=lines))
    assert isinstance(data, SubscriptionRenewed)
    assert (data.amount, data.period_start, data.period_end) == (2200, at(start), at(end))
    assert data.provider_plan_id == "price_pro"


def test_invoice_paid_first_invoice_of_a_trial_is_a_free_period() -> None:
    """A trial's zero invoice renews to the trial's end with amount 0."""
    trial = (T0, T0 + 14 * 86400)
    inv = invoice(amount=0, billing_reason="subscription_create", lines=[line(0, trial)])
    (data,) = translate("invoice.paid", inv)
    assert isinstance(data, SubscriptionRenewed)
    assert (data.amount, data.period_end) == (0, at(trial[1]))


def test_invoice_without_a_subscription_is_ignored() -> None:
    """A one-off invoice is not a renewal."""
    assert translate("invoice.paid", invoice(subscription=None, billing_reason="manual")) == []
    assert translate("invoice.payment_failed", invoice(subscription=None, paid=False)) == []


def test_invoice_without_lines_has_no_period() -> None:
    """Without lines the period is unknown (None), not guessed from period_start/end."""
    (data,) = translate("invoice.paid", invoice(lines=[]))
    assert isinstance(data, SubscriptionRenewed)
    assert (data.period_start, data.period_end) == (None, None)


def test_invoice_payment_failed_carries_attempt_and_next_retry() -> None:
    """A failed renewal: the attempt number and when Stripe retries."""
    inv = invoice(paid=False, attempt_count=2, next_payment_attempt=T0 + 5 * 86400)
    (data,) = translate("invoice.payment_failed", inv)
    assert isinstance(data, SubscriptionPaymentFailed)
    assert (data.attempt, data.next_retry_at) == (2, at(T0 + 5 * 86400))
    assert (data.amount, data.currency, data.invoice_id) == (2000, "USD", "in_1")
    assert (data.subscription_id, data.user_id) == (SUB, USER)


def test_last_failed_attempt_has_no_retry() -> None:
    """No next_payment_attempt: Stripe will not retry."""
    inv = invoice(paid=False, attempt_count=4, next_payment_attempt=None)
    (data,) = translate("invoice.payment_failed", inv)
    assert isinstance(data, SubscriptionPaymentFailed)
    assert (data.attempt, data.next_retry_at) == (4, None)


def test_invoice_with_a_bad_amount_is_a_payload_error() -> None:
    """An amount that is not an integer is refused, naming the field."""
    with pytest.raises(WebhookPayloadError, match="amount_paid"):
        translate("invoice.paid", invoice(amount_paid="20.00"))


def test_invoice_payment_failed_has_no_decline_reason() -> None:
    """The invoice does not say why it was declined: error_code/message stay None.

    ``last_finalization_error`` is about finalizing the invoice, not about the payment; the
    decline is on the PaymentIntent (``payment.failed``).
    """
    error = {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
    inv = invoice(paid=False, last_finalization_error=error)
    (data,) = translate("invoice.payment_failed", inv)
    assert isinstance(data, SubscriptionPaymentFailed)
    assert (data.error_code, data.error_message) == (None, None)


def older_invoice(*, paid: bool = True) -> dict[str, Any]:
    """A subscription invoice as an endpoint on API version 2024-06-20 sends it.

    Before 2025-03-31 an invoice named its subscription at the top (``subscription``,
    ``subscription_details.metadata``) and its ``payment_intent``, and had no ``parent``.
    """
    period = (T0 + MONTH, T0 + 2 * MONTH)
    return {
        "id": "in_1",
        "object": "invoice",
        "amount_due": 2000,
        "amount_paid": 2000 if paid else 0,
        "amount_remaining": 0 if paid else 2000,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "charge": "ch_1",
        "collection_method": "charge_automatically",
        "currency": "usd",
        "customer": "cus_1",
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": "il_1",
                    "object": "line_item",
                    "amount": 2000,
                    "currency": "usd",
                    "period": {"start": period[0], "end": period[1]},
                    "price": {"id": "price_pro", "object": "price", "unit_amount": 2000},
                    "proration": False,
                    "quantity": 1,
                    "subscription": "sub_1",
                    "subscription_item": "si_1",
                    "type": "subscription",
                }
            ],
            "has_more": False,
            "url": "/v1/invoices/in_1/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "paid": paid,
        "payment_intent": "pi_1",
        "period_start": T0,
        "period_end": T0 + MONTH,
        "status": "paid" if paid else "open",
        "subscription": "sub_1",
        "subscription_details": {"metadata": {"subscription_id": SUB, "user_id": USER}},
        "total": 2000,
    }


def test_invoices_from_an_older_api_version_are_not_guessed_and_warned_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint before 2025-03-31: no event, one warning naming both versions and the fix."""
    monkeypatch.setattr(billing_events_module._Once, "warned", False)
    caplog.set_level(logging.DEBUG, logger="vbwd_stripe._billing_events")
    for event_type, paid in [("invoice.paid", True), ("invoice.payment_failed", False)]:
        old = {**event(event_type, older_invoice(paid=paid)), "api_version": "2024-06-20"}
        assert billing_events(old, provider="stripe") == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert all(part in warnings[0] for part in ("'2024-06-20'", API_VERSION, "create the"))
    assert "invoice.paid" in warnings[0]
    current_one_off = invoice(subscription=None, billing_reason="manual")
    assert translate("invoice.paid", current_one_off) == []
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_the_api_version_read_is_the_one_the_sdk_sends() -> None:
    """The plugin's shapes and the pinned SDK's Stripe-Version are the same version."""
    assert API_VERSION == stripe.api_version == "2026-10-28.endive"


# -- checkout -----------------------------------------------------------------------------------


def test_subscription_checkout_completed() -> None:
    """A subscription checkout names the subscription, customer, amount and host ids."""
    (data,) = translate("checkout.session.completed", checkout_session())
    assert isinstance(data, CheckoutCompleted)
    assert (data.checkout_session_id, data.mode) == ("cs_test_1", CheckoutMode.SUBSCRIPTION)
    assert (data.provider_subscription_id, data.customer_id) == ("sub_1", "cus_1")
    assert (data.amount, data.currency, data.transaction_id) == (2000, "USD", None)
    assert (data.subscription_id, data.user_id) == (SUB, USER)


def test_payment_checkout_completed_names_the_payment_intent() -> None:
    """A paid one-off checkout's transaction is its PaymentIntent."""
    (data,) = translate("checkout.session.completed", checkout_session("payment"))
    assert isinstance(data, CheckoutCompleted)
    assert (data.mode, data.transaction_id, data.amount) == (CheckoutMode.PAYMENT, "pi_1", 2000)


@pytest.mark.parametrize("payment_status", ["unpaid", "no_payment_required"])
def test_checkout_without_payment_has_no_amount(payment_status: str) -> None:
    """A trial, a setup or a delayed payment moved no money yet: no amount."""
    cs = checkout_session(payment_status=payment_status, amount_total=0)
    (data,) = translate("checkout.session.completed", cs)
    assert isinstance(data, CheckoutCompleted)
    assert (data.amount, data.currency, data.money) == (None, None, None)


def test_setup_checkout_completed() -> None:
    """A setup checkout completes with no subscription and no transaction."""
    (data,) = translate("checkout.session.completed", checkout_session("setup"))
    assert isinstance(data, CheckoutCompleted)
    assert (data.mode, data.provider_subscription_id, data.transaction_id) == (
        CheckoutMode.SETUP,
        None,
        None,
    )


def test_unknown_checkout_mode_is_a_payload_error() -> None:
    """A mode the contract does not know is refused."""
    with pytest.raises(WebhookPayloadError, match="checkout mode"):
        translate("checkout.session.completed", checkout_session(mode="donation"))


# -- disputes -----------------------------------------------------------------------------------


def test_dispute_created_is_opened() -> None:
    """A dispute names the disputed PaymentIntent, amount and reason."""
    (data,) = translate("charge.dispute.created", dispute())
    assert isinstance(data, DisputeOpened)
    assert (data.dispute_id, data.transaction_id, data.amount, data.currency) == (
        "du_1",
        "pi_1",
        2000,
        "USD",
    )
    assert (data.reason, data.host_ids_returned) == ("fraudulent", False)


def test_dispute_of_a_charge_without_intent_names_the_charge() -> None:
    """Without a PaymentIntent the charge is the transaction."""
    (data,) = translate("charge.dispute.created", dispute(payment_intent=None))
    assert isinstance(data, DisputeOpened)
    assert data.transaction_id == "ch_1"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("won", DisputeOutcome.WON),
        ("lost", DisputeOutcome.LOST),
        ("warning_closed", DisputeOutcome.OTHER),
        ("prevented", DisputeOutcome.OTHER),
    ],
)
def test_dispute_closed_outcomes(status: str, outcome: DisputeOutcome) -> None:
    """won and lost are named; any other closing status is OTHER."""
    (data,) = translate("charge.dispute.closed", dispute(status))
    assert isinstance(data, DisputeClosed)
    assert data.outcome is outcome


def test_dispute_without_a_payment_is_a_payload_error() -> None:
    """A dispute that names no payment cannot be matched to one."""
    with pytest.raises(WebhookPayloadError, match="payment_intent or charge"):
        translate("charge.dispute.created", dispute(payment_intent=None, charge=None))


# -- the whole table ----------------------------------------------------------------------------


def test_unmapped_types_emit_nothing() -> None:
    """Types outside the table (and payment types) produce no billing event."""
    assert translate("customer.created", {"id": "cus_1", "object": "customer"}) == []
    assert translate("payment_intent.succeeded", {"id": "pi_1"}) == []
    assert "invoice.paid" in BILLING_EVENT_TYPES


def test_events_survive_a_json_round_trip() -> None:
    """Every payload rebuilds from its Event (as after a delivery store)."""
    found = [
        *translate("customer.subscription.created", subscription()),
        *translate("invoice.paid", invoice()),
        *translate("invoice.payment_failed", invoice(paid=False, next_payment_attempt=T0)),
        *translate("checkout.session.completed", checkout_session()),
        *translate("charge.dispute.closed", dispute("won")),
    ]
    for data in found:
        assert BillingEventData.from_event(data.to_event()) == data


def test_plugin_translates_payment_and_billing_events(plugin: StripePlugin) -> None:
    """translate_webhook returns billing events next to the payment ones (pure)."""
    events = plugin.translate_webhook(event("invoice.paid", invoice()))
    assert [e.name for e in events] == ["subscription.renewed"]
    assert events[0].data["subscription_id"] == SUB
    intent = {
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 2000,
        "amount_received": 2000,
        "currency": "usd",
        "metadata": {},
        "status": "succeeded",
    }
    events = plugin.translate_webhook(event("payment_intent.succeeded", intent))
    assert [e.name for e in events] == ["payment.completed"]


# -- money --------------------------------------------------------------------------------------

CURRENCIES = ["USD", "EUR", "JPY", "KRW", "CLP", "KWD", "BHD", "JOD", "ISK", "UGX", "MGA"]


@st.composite
def stripe_money(draw: st.DrawFn) -> Money:
    """Money Stripe can charge, in zero-, two- and three-decimal currencies."""
    currency = draw(st.sampled_from(CURRENCIES))
    units = draw(st.integers(min_value=0, max_value=9_999_999))
    exponent = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "UGX": 0, "MGA": 0}.get(currency, 2)
    if currency in ("KWD", "BHD", "JOD"):
        exponent, units = 3, units * 10  # Stripe: three-decimal amounts end in 0
    return Money(Decimal(units).scaleb(-exponent), currency)


@given(money=stripe_money())
def test_renewal_and_failure_amounts_are_exact(money: Money) -> None:
    """An invoice in Stripe units comes out as the same Money, ISO minor units exact."""
    units = stripe_units(money)
    inv = invoice(amount=units, currency=money.currency.lower())
    (renewed,) = translate("invoice.paid", inv)
    assert renewed.money == money
    (failed,) = translate("invoice.payment_failed", {**inv, "amount_paid": 0})
    assert failed.money == money


@given(money=stripe_money())
def test_dispute_amounts_are_exact(money: Money) -> None:
    """A disputed amount in Stripe units comes out as the same Money."""
    du = dispute(amount=stripe_units(money), currency=money.currency.lower())
    (data,) = translate("charge.dispute.created", du)
    assert data.money == money
