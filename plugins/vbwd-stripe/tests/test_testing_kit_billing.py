"""The fake's billing API and controls, driven by the real ``stripe.StripeClient`` over HTTP.

Shapes are checked through what the pinned SDK deserializes (API version
``2026-10-28.endive``): the period on subscription items, an invoice's subscription under
``parent.subscription_details``; every control's deliveries are checked with Stripe's own
``Webhook.construct_event``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stripe._api_version import _ApiVersion
from vbwd_stripe.testing import API_VERSION, FakeStripe

from vbwd_plugins.testing import WebhookDelivery

from .conftest import WEBHOOK_SECRET

DAY = 86400


@pytest.fixture
def bfake(make_fake: Callable[..., FakeStripe]) -> FakeStripe:
    """A fake account whose controls sign with the suite's webhook secret."""
    fake = make_fake()
    fake.webhook_secret = WEBHOOK_SECRET
    return fake


@pytest.fixture
def client(bfake: FakeStripe) -> stripe.StripeClient:
    """The real SDK client, pointed at the fake."""
    return stripe.StripeClient(
        bfake.api_key,
        base_addresses={"api": bfake.url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=5),
    )


def events(deliveries: Sequence[WebhookDelivery]) -> list[stripe.Event]:
    """Each delivery verified and parsed by Stripe's own webhook code."""
    parsed = []
    for delivery in deliveries:
        event = stripe.Webhook.construct_event(
            delivery.body.decode(), delivery.headers["Stripe-Signature"], WEBHOOK_SECRET
        )
        assert event.api_version == _ApiVersion.CURRENT
        assert delivery.description == event.type == delivery.extra["type"]
        parsed.append(event)
    return parsed


def types(deliveries: Sequence[WebhookDelivery]) -> list[str]:
    """The event types of ``deliveries``, in order (each verified)."""
    return [e.type for e in events(deliveries)]


def of_type(deliveries: Sequence[WebhookDelivery], event_type: str) -> stripe.Event:
    """The one delivery of ``event_type``, verified and parsed."""
    (found,) = [e for e in events(deliveries) if e.type == event_type]
    return found


def plan(
    client: stripe.StripeClient, amount: int = 2900, currency: str = "eur", interval: str = "month"
) -> stripe.Price:
    """A product and a recurring price."""
    product = client.v1.products.create(params={"name": "Pro"})
    return client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": amount,
            "currency": currency,
            "recurring": {"interval": interval, "interval_count": 1},
        }
    )


def customer_with_card(client: stripe.StripeClient, card: str = "pm_card_visa") -> tuple[str, str]:
    """A customer and a payment method saved through a confirmed SetupIntent."""
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    seti = client.v1.setup_intents.create(
        params={"customer": customer.id, "payment_method": card, "confirm": True}
    )
    assert seti.status == "succeeded"
    assert isinstance(seti.payment_method, str)
    return customer.id, seti.payment_method


def subscribe(
    client: stripe.StripeClient, price: stripe.Price, card: str = "pm_card_visa", **extra: Any
) -> stripe.Subscription:
    """A subscription created through the API, charged to a saved card."""
    customer, pm = customer_with_card(client, card)
    return client.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price.id, "quantity": 1}],
            "default_payment_method": pm,
            "metadata": {"subscription_id": "host-sub-1", "user_id": "host-user-1"},
            **extra,
        }
    )


# -- catalogue, customers, errors, idempotency ------------------------------------------


def test_the_fake_speaks_the_sdks_pinned_api_version() -> None:
    """Events and answers carry the API version the installed SDK pins."""
    assert API_VERSION == _ApiVersion.CURRENT


def test_customers_are_created_and_retrieved(client: stripe.StripeClient) -> None:
    """A customer keeps its email, name and metadata."""
    made = client.v1.customers.create(
        params={"email": "x@example.com", "name": "X", "metadata": {"user_id": "u1"}}
    )
    got = client.v1.customers.retrieve(made.id)
    assert (got.id, got.email, got.name, got.metadata["user_id"]) == (
        made.id,
        "x@example.com",
        "X",
        "u1",
    )


def test_a_product_id_can_be_chosen_once(client: stripe.StripeClient) -> None:
    """An explicit product id is kept; creating it again is `resource_already_exists`."""
    product = client.v1.products.create(params={"id": "vbwd_pro", "name": "Pro"})
    assert client.v1.products.retrieve("vbwd_pro").name == product.name == "Pro"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.products.create(params={"id": "vbwd_pro", "name": "Pro again"})
    assert caught.value.code == "resource_already_exists"
    assert caught.value.http_status == 400


def test_prices_are_found_by_lookup_key(client: stripe.StripeClient) -> None:
    """A recurring price keeps its interval and is listed by its lookup key."""
    product = client.v1.products.create(params={"name": "Pro"})
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 1000,
            "currency": "usd",
            "recurring": {"interval": "year", "interval_count": 1},
            "lookup_key": "pro_yearly",
        }
    )
    assert price.recurring is not None
    assert (price.recurring.interval, price.recurring.interval_count) == ("year", 1)
    found = client.v1.prices.list(params={"lookup_keys": ["pro_yearly", "other"]})
    assert [p.id for p in found.data] == [price.id]
    assert client.v1.prices.retrieve(price.id).unit_amount == 1000
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.prices.create(
            params={
                "product": product.id,
                "unit_amount": 1,
                "currency": "usd",
                "lookup_key": "pro_yearly",
            }
        )
    assert caught.value.param == "lookup_key"


def test_unknown_objects_are_resource_missing(client: stripe.StripeClient) -> None:
    """Every billing object answers an unknown id with Stripe's 404."""
    for call in (
        lambda: client.v1.customers.retrieve("cus_nope"),
        lambda: client.v1.subscriptions.retrieve("sub_nope"),
        lambda: client.v1.prices.retrieve("price_nope"),
        lambda: client.v1.checkout.sessions.retrieve("cs_nope"),
        lambda: client.v1.invoices.retrieve("in_nope"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            call()
        assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


def test_idempotency_keys_replay_and_conflict(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """Same key and params replay the customer; same key, other params is idempotency_error."""
    options: Any = {"idempotency_key": "cus-key-1"}
    first = client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    again = client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    assert again.id == first.id
    assert len(bfake.customers) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "b@example.com"}, options=options)


def test_subscription_needs_a_recurring_price(client: stripe.StripeClient) -> None:
    """A one-time price is refused for subscriptions and in subscription-mode Checkout."""
    product = client.v1.products.create(params={"name": "Once"})
    once = client.v1.prices.create(
        params={"product": product.id, "unit_amount": 500, "currency": "usd"}
    )
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": once.id}]}
        )
    assert caught.value.param == "items[0][price]"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": once.id, "quantity": 1}],
                "success_url": "https://host.example/ok",
            }
        )


# -- hosted checkout ---------------------------------------------------------------------


def _subscription_session(
    client: stripe.StripeClient, price: stripe.Price, **extra: Any
) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://host.example/ok?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://host.example/cancel",
            "client_reference_id": "host-user-1",
            "metadata": {"user_id": "host-user-1"},
            "subscription_data": {"metadata": {"subscription_id": "host-sub-1"}, **extra},
        }
    )


def test_subscription_checkout_end_to_end(client: stripe.StripeClient, bfake: FakeStripe) -> None:
    """Completing a subscription session activates a paid subscription, with its webhooks."""
    price = plan(client)
    session = _subscription_session(client, price)
    assert (session.status, session.mode) == ("open", "subscription")
    assert session.url is not None and session.url.startswith(bfake.url)
    assert session.expires_at > session.created
    assert requests.get(session.url, timeout=5).status_code == 200
    deliveries = bfake.complete_checkout(session.id)
    assert types(deliveries) == [
        "customer.created",
        "payment_method.attached",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "checkout.session.completed",
    ]
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.client_reference_id == "host-user-1"
    assert isinstance(done.subscription, str)
    sub = client.v1.subscriptions.retrieve(done.subscription)
    assert sub.status == "active"
    assert sub.metadata["subscription_id"] == "host-sub-1"
    item = sub.items.data[0]
    assert item.current_period_end > item.current_period_start == sub.start_date
    paid = of_type(deliveries, "invoice.paid").data.object
    assert paid.amount_paid == paid.amount_due == 2900
    assert paid.currency == "eur"
    assert paid.billing_reason == "subscription_create"
    assert paid.parent.subscription_details.subscription == sub.id
    assert paid.parent.subscription_details.metadata["subscription_id"] == "host-sub-1"
    assert paid.lines.data[0].period.end == item.current_period_end
    assert "payment_intent" not in paid
    updated = of_type(deliveries, "customer.subscription.updated").data
    assert updated.previous_attributes["status"] == "incomplete"
    invoice = client.v1.invoices.retrieve(paid.id, params={"expand": ["payments"]})
    assert invoice.payments is not None
    (payment,) = invoice.payments.data
    assert payment.payment.type == "payment_intent"
    assert client.v1.payment_intents.retrieve(str(payment.payment.payment_intent)).status == (
        "succeeded"
    )


def test_a_declined_card_does_not_complete_checkout(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """A card that would be declined leaves the session open and sends nothing."""
    session = _subscription_session(client, plan(client))
    before = len(bfake.events)
    with pytest.raises(ValueError, match="declined"):
        bfake.complete_checkout(session.id, payment_method="pm_card_chargeDeclined")
    assert len(bfake.events) == before
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    bfake.complete_checkout(session.id)
    with pytest.raises(ValueError, match="no open session"):
        bfake.complete_checkout(session.id)


def test_payment_checkout_carries_payment_intent_metadata(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """A one-off session pays a PaymentIntent that carries payment_intent_data's metadata."""
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": 500,
                        "product_data": {"name": "Credits"},
                    },
                    "quantity": 3,
                }
            ],
            "success_url": "https://host.example/ok",
            "payment_intent_data": {"metadata": {"transaction_id": "t-1"}},
        }
    )
    assert (session.amount_total, session.currency) == (1500, "jpy")
    deliveries = bfake.complete_checkout(session.id)
    assert types(deliveries) == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    intent = of_type(deliveries, "payment_intent.succeeded").data.object
    assert (intent.amount_received, intent.metadata["transaction_id"]) == (1500, "t-1")
    completed = of_type(deliveries, "checkout.session.completed").data.object
    assert completed.payment_intent == intent.id


def test_setup_checkout_saves_a_card_that_can_be_listed_and_detached(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """Setup mode saves a card on the customer; detaching removes it from the list."""
    customer = client.v1.customers.create()
    session = client.v1.checkout.sessions.create(
        params={"mode": "setup", "customer": customer.id, "success_url": "https://h.example/"}
    )
    deliveries = bfake.complete_checkout(session.id, payment_method="pm_card_mastercard")
    assert types(deliveries) == [
        "setup_intent.created",
        "payment_method.attached",
        "setup_intent.succeeded",
        "checkout.session.completed",
    ]
    (saved,) = client.v1.customers.payment_methods.list(customer.id).data
    assert saved.card is not None and saved.card.brand == "mastercard"
    detached = client.v1.payment_methods.detach(saved.id)
    assert detached.customer is None
    assert client.v1.customers.payment_methods.list(customer.id).data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.detach(saved.id)


def test_a_setup_intent_is_confirmed_by_the_control(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """An unconfirmed SetupIntent waits for the customer; the control saves the card."""
    customer = client.v1.customers.create()
    seti = client.v1.setup_intents.create(
        params={"customer": customer.id, "usage": "off_session", "payment_method_types": ["card"]}
    )
    assert (seti.status, seti.usage) == ("requires_payment_method", "off_session")
    assert seti.client_secret is not None
    assert types(bfake.confirm_setup_intent(seti.id)) == [
        "payment_method.attached",
        "setup_intent.succeeded",
    ]
    assert client.v1.setup_intents.retrieve(seti.id).status == "succeeded"


# -- trials, renewals, failures ------------------------------------------------------------


def test_trial_warns_then_ends_with_the_first_charge(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """A 14-day trial: a paid 0 invoice, trial_will_end 3 days before, then a paid period."""
    session = _subscription_session(client, plan(client), trial_period_days=14)
    started = bfake.complete_checkout(session.id)
    zero = of_type(started, "invoice.paid").data.object
    assert (zero.amount_paid, zero.billing_reason) == (0, "subscription_create")
    sub_id = of_type(started, "customer.subscription.created").data.object.id
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "trialing"
    assert sub.trial_end == sub["items"].data[0].current_period_end
    assert sub.trial_end == sub.start_date + 14 * DAY
    warned = bfake.trial_will_end(sub_id)
    assert types(warned) == ["customer.subscription.trial_will_end"]
    assert bfake.clock == sub.trial_end - 3 * DAY
    ended = bfake.end_trial(sub_id)
    paid = of_type(ended, "invoice.paid").data.object
    assert (paid.amount_paid, paid.billing_reason) == (2900, "subscription_cycle")
    assert paid.lines.data[0].period.start == sub.trial_end
    updated = of_type(ended, "customer.subscription.updated").data
    assert updated.object.status == "active"
    assert updated.previous_attributes["status"] == "trialing"


def test_renewal_failure_then_recovery(client: stripe.StripeClient, bfake: FakeStripe) -> None:
    """A failed renewal makes the subscription past_due; a successful retry restores it."""
    sub = subscribe(client, plan(client))
    assert sub.status == "active"
    first_end = sub["items"].data[0].current_period_end
    failed = bfake.renew(sub.id, succeed=False)
    assert types(failed)[-2:] == ["invoice.payment_failed", "customer.subscription.updated"]
    invoice = of_type(failed, "invoice.payment_failed").data.object
    assert (invoice.attempt_count, invoice.status, invoice.amount_paid) == (1, "open", 0)
    assert invoice.next_payment_attempt == first_end + 3 * DAY
    assert invoice.parent.subscription_details.metadata["user_id"] == "host-user-1"
    updated = of_type(failed, "customer.subscription.updated").data
    assert (updated.object.status, updated.previous_attributes["status"]) == ("past_due", "active")
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_start == (
        first_end
    )
    recovered = bfake.retry(sub.id)
    assert bfake.clock == first_end + 3 * DAY
    paid = of_type(recovered, "invoice.paid").data.object
    assert (paid.id, paid.attempt_count, paid.amount_paid) == (invoice.id, 2, 2900)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_renewal_success_moves_the_item_period(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """A renewal pays a cycle invoice and moves the item's period in the updated event."""
    sub = subscribe(client, plan(client, interval="month"))
    old = sub["items"].data[0]
    renewed = bfake.renew(sub.id)
    assert types(renewed)[-3:] == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    updated = of_type(renewed, "customer.subscription.updated").data
    new = updated.object["items"].data[0]
    assert new.current_period_start == old.current_period_end
    assert new.current_period_end > new.current_period_start
    assert updated.previous_attributes["items"]["data"][0]["current_period_end"] == (
        old.current_period_end
    )


def test_a_declined_card_exhausts_retries_and_cancels(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """With a card that declines, four attempts fail and the subscription is canceled."""
    sub = subscribe(client, plan(client), trial_period_days=7, card="pm_card_chargeDeclined")
    deliveries = bfake.advance_clock(timedelta(days=40))
    failures = [e for e in events(deliveries) if e.type == "invoice.payment_failed"]
    assert [f.data.object.attempt_count for f in failures] == [1, 2, 3, 4]
    assert failures[-1].data.object.next_payment_attempt is None
    assert types(deliveries)[-1] == "customer.subscription.deleted"
    gone = client.v1.subscriptions.retrieve(sub.id)
    assert gone.status == "canceled"
    assert gone.cancellation_details is not None
    assert gone.cancellation_details.reason == "payment_failed"


def test_creating_a_subscription_with_a_declined_card_leaves_it_incomplete(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """allow_incomplete: the first charge fails, status incomplete; paying it activates."""
    sub = subscribe(client, plan(client), card="pm_card_chargeDeclinedInsufficientFunds")
    assert sub.status == "incomplete"
    assert types(bfake.retry(sub.id))[-1] == "customer.subscription.updated"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


# -- cancellation, plan changes, pauses ----------------------------------------------------


def test_cancel_at_period_end_then_deleted(client: stripe.StripeClient, bfake: FakeStripe) -> None:
    """cancel_at_period_end sends updated now and deleted when the period ends, no invoice."""
    sub = subscribe(client, plan(client))
    mark = len(bfake.events)
    updated = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert updated.cancel_at == updated["items"].data[0].current_period_end
    (event,) = events(bfake.webhooks(bfake.events[mark:]))
    assert event.type == "customer.subscription.updated"
    assert event.data.previous_attributes["cancel_at_period_end"] is False
    ended = bfake.advance_clock(timedelta(days=62))
    assert types(ended) == ["customer.subscription.deleted"]
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"


def test_cancel_now(client: stripe.StripeClient, bfake: FakeStripe) -> None:
    """DELETE cancels at once; a second cancel finds nothing to cancel."""
    sub = subscribe(client, plan(client))
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert (canceled.status, canceled.ended_at) == ("canceled", bfake.clock)
    assert bfake.events[-1]["type"] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub.id)


@pytest.mark.parametrize(
    ("behavior", "lines_now", "lines_next"),
    [("none", 0, 1), ("create_prorations", 0, 3), ("always_invoice", 2, 1)],
)
def test_plan_change_prorations(
    client: stripe.StripeClient,
    bfake: FakeStripe,
    behavior: str,
    lines_now: int,
    lines_next: int,
) -> None:
    """A plan change prorates now, at the next renewal, or not at all, as asked."""
    sub = subscribe(client, plan(client, amount=1000, currency="usd"))
    bigger = plan(client, amount=3000, currency="usd")
    bfake.advance_clock(timedelta(days=10))
    mark = len(bfake.events)
    item = sub["items"].data[0]
    changed = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item.id, "price": bigger.id}],
            "proration_behavior": behavior,
        },
    )
    assert changed["items"].data[0].price.id == bigger.id
    now = [e for e in bfake.events[mark:] if e["type"] == "invoice.paid"]
    assert len(now[0]["data"]["object"]["lines"]["data"] if now else []) == lines_now
    if now:
        amounts = [line["amount"] for line in now[0]["data"]["object"]["lines"]["data"]]
        assert amounts[0] < 0 < amounts[1]
        assert now[0]["data"]["object"]["billing_reason"] == "subscription_update"
    renewal = of_type(bfake.renew(sub.id), "invoice.paid").data.object
    assert len(renewal.lines.data) == lines_next
    assert renewal.lines.data[-1].amount == 3000


def test_pause_collection_changes_no_status(client: stripe.StripeClient, bfake: FakeStripe) -> None:
    """pause_collection only sends updated; its period's invoice is voided, not charged."""
    sub = subscribe(client, plan(client))
    mark = len(bfake.events)
    paused = client.v1.subscriptions.update(
        sub.id, params={"pause_collection": {"behavior": "void"}}
    )
    assert paused.status == "active"
    assert paused.pause_collection is not None and paused.pause_collection.behavior == "void"
    assert [e["type"] for e in bfake.events[mark:]] == ["customer.subscription.updated"]
    renewal = types(bfake.renew(sub.id))
    assert "invoice.voided" in renewal and "invoice.paid" not in renewal
    resumed = client.v1.subscriptions.update(sub.id, params={"pause_collection": ""})
    assert resumed.pause_collection is None


def test_pause_and_resume_endpoints(client: stripe.StripeClient, bfake: FakeStripe) -> None:
    """The pause endpoint makes it paused (paused + updated); resume bills a new period."""
    sub = subscribe(client, plan(client))
    mark = len(bfake.events)
    assert client.v1.subscriptions.pause(sub.id).status == "paused"
    assert [e["type"] for e in bfake.events[mark:]] == [
        "customer.subscription.paused",
        "customer.subscription.updated",
    ]
    assert bfake.advance_clock(timedelta(days=100)) == []
    mark = len(bfake.events)
    resumed = client.v1.subscriptions.resume(sub.id)
    assert resumed.status == "active"
    assert resumed["items"].data[0].current_period_start == bfake.clock
    kinds = [e["type"] for e in bfake.events[mark:]]
    assert kinds[-2:] == ["customer.subscription.resumed", "customer.subscription.updated"]
    assert "invoice.paid" in kinds


def test_metadata_updates_merge(client: stripe.StripeClient) -> None:
    """metadata[k]=v adds or replaces, metadata[k]='' removes, other keys stay."""
    sub = subscribe(client, plan(client))
    changed = client.v1.subscriptions.update(
        sub.id, params={"metadata": {"plan": "pro", "user_id": ""}}
    )
    assert changed.metadata.to_dict() == {"subscription_id": "host-sub-1", "plan": "pro"}


# -- disputes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "last"),
    [("won", "charge.dispute.funds_reinstated"), ("lost", "charge.dispute.closed")],
)
def test_disputes_open_and_close(
    client: stripe.StripeClient, bfake: FakeStripe, outcome: Any, last: str
) -> None:
    """A disputed renewal payment: created (+funds withdrawn), closed won or lost."""
    subscribe(client, plan(client))
    (intent_id,) = [i for i, pi in bfake.intents.items() if pi["status"] == "succeeded"]
    opened = bfake.open_dispute(intent_id, amount=1000)
    assert types(opened) == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    dispute = of_type(opened, "charge.dispute.created").data.object
    assert (dispute.amount, dispute.reason, dispute.status) == (
        1000,
        "fraudulent",
        "needs_response",
    )
    assert dispute.payment_intent == intent_id
    closed = bfake.close_dispute(dispute.id, status=outcome)
    assert types(closed)[-1] == last
    final = of_type(closed, "charge.dispute.closed").data
    assert (final.object.status, final.previous_attributes["status"]) == (outcome, "needs_response")
    assert client.v1.disputes.retrieve(dispute.id).status == outcome
    with pytest.raises(ValueError, match="no open dispute"):
        bfake.close_dispute(dispute.id)


def test_controls_refuse_what_stripe_could_not_do(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """Controls name the subscription and its status when asked the impossible."""
    sub = subscribe(client, plan(client))
    with pytest.raises(ValueError, match="trialing"):
        bfake.end_trial(sub.id)
    with pytest.raises(ValueError, match="no open invoice"):
        bfake.retry(sub.id)
    with pytest.raises(ValueError, match="back"):
        bfake.advance_clock(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="no paid charge"):
        bfake.open_dispute("pi_nope")


def test_deliveries_fail_verification_with_another_secret(
    client: stripe.StripeClient, bfake: FakeStripe
) -> None:
    """The controls sign with the fake's webhook secret and nothing else."""
    sub = subscribe(client, plan(client))
    (delivery, *_) = bfake.renew(sub.id)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            delivery.body.decode(), delivery.headers["Stripe-Signature"], "whsec_other"
        )
    assert json.loads(delivery.body)["created"] == bfake.clock


# -- money across currencies -------------------------------------------------------------

_CURRENCIES = {"jpy": 1, "usd": 1, "eur": 1, "kwd": 10, "bhd": 10, "isk": 100, "mga": 1}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    currency=st.sampled_from(sorted(_CURRENCIES)),
    units=st.integers(min_value=1, max_value=99_999),
    quantity=st.integers(min_value=1, max_value=5),
    change_after_days=st.integers(min_value=1, max_value=27),
)
def test_amounts_stay_exact_in_every_currency(
    client: stripe.StripeClient,
    bfake: FakeStripe,
    currency: str,
    units: int,
    quantity: int,
    change_after_days: int,
) -> None:
    """Invoices charge unit_amount x quantity; prorations stay in the currency's steps."""
    step = _CURRENCIES[currency]
    amount = units * step
    price = plan(client, amount=amount, currency=currency)
    customer, pm = customer_with_card(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price.id, "quantity": quantity}],
            "default_payment_method": pm,
        }
    )
    first = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (first.amount_paid, first.currency) == (amount * quantity, currency)
    other = plan(client, amount=amount * 2, currency=currency)
    bfake.advance_clock(timedelta(days=change_after_days))
    client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": sub["items"].data[0].id, "price": other.id}],
            "proration_behavior": "always_invoice",
        },
    )
    prorated = client.v1.invoices.retrieve(
        str(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    )
    assert all(line.amount % step == 0 for line in prorated.lines.data)
    assert prorated.amount_due == max(0, sum(line.amount for line in prorated.lines.data))
    if step > 1:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            plan(client, amount=amount + 1, currency=currency)
        assert caught.value.param == "unit_amount"


def test_the_plugin_verifies_every_control_delivery(
    client: stripe.StripeClient, bfake: FakeStripe, make_plugin: Callable[..., Any]
) -> None:
    """The plugin's own verifier accepts each delivery a control returns."""
    plugin = make_plugin(bfake)
    session = _subscription_session(client, plan(client), trial_period_days=3)
    deliveries = [*bfake.complete_checkout(session.id), *bfake.advance_clock(timedelta(days=4))]
    assert "customer.subscription.trial_will_end" in types(deliveries)
    for delivery in deliveries:
        assert plugin.verify_webhook(delivery.body, delivery.headers["Stripe-Signature"])
