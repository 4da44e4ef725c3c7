"""The host's listeners fed standard events built from ``vbwd_plugins.payments`` classes.

No provider and no HTTP: each test builds the payloads a provider's translation produces,
dispatches them with an idempotency key (as a durable delivery does) and reads the rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from subscriptions_example import (
    BillingListeners,
    PlanCatalog,
    Status,
    Subscription,
    SubscriptionDB,
)

from vbwd_plugins import EventDispatcher, PaymentProviderPlugin
from vbwd_plugins.payments import (
    BillingEventData,
    CheckoutCompleted,
    CheckoutMode,
    CheckoutRequest,
    DisputeClosed,
    DisputeOpened,
    DisputeOutcome,
    PaymentEventData,
    PaymentRefunded,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPastDue,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionStatus,
    SubscriptionUpdated,
)
from vbwd_plugins.testing import MockPaymentPlugin

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
PSUB = "sub_provider_1"


@dataclass
class Host:
    """The listeners on a fresh database, and a row signed up with "stripe"."""

    db: SubscriptionDB
    dispatcher: EventDispatcher
    listeners: BillingListeners
    providers: dict[str, PaymentProviderPlugin] = field(default_factory=dict)

    def signup(self, provider: str = "stripe", session: str = "cs_1") -> str:
        """A pending row with its checkout session, as POST /subscriptions leaves it."""
        sub = self.db.create(str(uuid.uuid4()), "pro", 2900, "USD", provider)
        self.db.attach_checkout(sub.id, session, "https://checkout.example/cs", None)
        return sub.id

    def send(self, payload: BillingEventData | PaymentEventData, key: str | None = None) -> None:
        """Dispatch the payload's event as a delivery would: with an idempotency key."""
        event = payload.to_event()
        event.idempotency_key = key or uuid.uuid4().hex
        self.dispatcher.dispatch(event, strict=True)

    def row(self, subscription_id: str) -> Subscription:
        """The subscription as stored."""
        found = self.db.get(subscription_id)
        assert found is not None
        return found


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """Listeners subscribed on a dispatcher, over a fresh SQLite file."""
    return _host(tmp_path / "subs.sqlite3")


def _host(path: Path) -> Host:
    db = SubscriptionDB(path)
    dispatcher = EventDispatcher()
    providers: dict[str, PaymentProviderPlugin] = {}
    listeners = BillingListeners(db, PlanCatalog(), providers.get)
    listeners.subscribe(dispatcher)
    return Host(db, dispatcher, listeners, providers)


def common(sub: str | None, at: datetime, **extra: Any) -> dict[str, Any]:
    """Fields of a subscription event from provider "stripe" about ``PSUB``."""
    return {
        "provider": "stripe",
        "provider_event_type": "test",
        "provider_event_id": f"evt_{uuid.uuid4().hex[:8]}",
        "occurred_at": at,
        "subscription_id": sub,
        "provider_subscription_id": PSUB,
        **extra,
    }


def renewed(sub: str | None, at: datetime, amount: int, end: datetime, inv: str) -> Any:
    """subscription.renewed paying ``amount`` cents of USD until ``end``."""
    return SubscriptionRenewed(
        **common(sub, at), amount=amount, currency="USD", period_end=end, invoice_id=inv
    )


def lifecycle(sub: str) -> list[BillingEventData]:
    """trial -> active -> renewed -> failed -> past due -> recovered -> cancelled at period end."""
    t14, t44, t74, t77 = (T0 + n * DAY for n in (14, 44, 74, 77))
    return [
        CheckoutCompleted(
            provider="stripe",
            provider_event_type="checkout.session.completed",
            occurred_at=T0,
            subscription_id=sub,
            checkout_session_id="cs_1",
            mode=CheckoutMode.SUBSCRIPTION,
            provider_subscription_id=PSUB,
            customer_id="cus_1",
        ),
        SubscriptionCreated(**common(sub, T0, status=SubscriptionStatus.TRIALING)),
        SubscriptionActivated(
            **common(sub, T0, status=SubscriptionStatus.TRIALING, current_period_end=t14)
        ),
        renewed(sub, T0, 0, t14, "in_trial"),
        renewed(sub, t14, 2900, t44, "in_1"),
        renewed(sub, t44, 2900, t74, "in_2"),
        SubscriptionPaymentFailed(
            **common(sub, t74), amount=2900, currency="USD", attempt=1, next_retry_at=t77
        ),
        SubscriptionPastDue(**common(sub, t74, status=SubscriptionStatus.PAST_DUE)),
        renewed(sub, t77, 2900, T0 + 107 * DAY, "in_3"),
        SubscriptionActivated(
            **common(sub, t77, status=SubscriptionStatus.ACTIVE, current_period_end=t77 + 30 * DAY)
        ),
        SubscriptionCancelled(
            **common(sub, T0 + 80 * DAY, status=SubscriptionStatus.ACTIVE),
            at_period_end=True,
            ends_at=T0 + 107 * DAY,
        ),
        SubscriptionCancelled(
            **common(sub, T0 + 107 * DAY, status=SubscriptionStatus.CANCELLED),
            at_period_end=True,
            ends_at=T0 + 107 * DAY,
        ),
    ]


def test_the_whole_lifecycle_in_order(host: Host) -> None:
    """Each event moves the row as the host guide says, from pending to cancelled."""
    sub = host.signup()
    seen = []
    for payload in lifecycle(sub):
        host.send(payload)
        row = host.row(sub)
        seen.append((row.status, row.paid_until, row.failed_payments, row.cancel_at_period_end))
    statuses = [s for s, *_ in seen]
    assert statuses == [
        Status.PENDING,  # checkout.completed: ids stored, nothing paid
        Status.PENDING,
        Status.TRIALING,
        Status.TRIALING,  # the trial's invoice of 0
        Status.ACTIVE,
        Status.ACTIVE,
        Status.ACTIVE,  # a failed charge keeps access until paid_until
        Status.PAST_DUE,
        Status.ACTIVE,  # recovered
        Status.ACTIVE,
        Status.ACTIVE,  # cancels at period end: still active
        Status.CANCELLED,
    ]
    assert seen[2][1] == T0 + 14 * DAY
    assert seen[4][1] == T0 + 44 * DAY
    assert seen[6][2] == 1 and seen[8][2] == 0
    assert seen[10][3] is True
    row = host.row(sub)
    assert (row.provider_subscription_id, row.customer_id) == (PSUB, "cus_1")
    assert row.ends_at == T0 + 107 * DAY == row.access_until()
    assert [(p.reference, p.amount) for p in host.db.payments(sub)] == [
        ("in_1", 2900),
        ("in_2", 2900),
        ("in_3", 2900),
    ]


def test_a_redelivery_changes_nothing(host: Host) -> None:
    """The same delivery again (same idempotency key) is not applied twice."""
    sub = host.signup()
    failed = SubscriptionPaymentFailed(**common(sub, T0), amount=2900, currency="USD", attempt=1)
    for _ in range(3):
        host.send(failed, key="k-failed")
    assert host.row(sub).failed_payments == 1
    assert [e.key for e in host.db.handled_events(sub)] == ["k-failed"]


def test_without_host_ids_the_provider_id_finds_the_row(host: Host) -> None:
    """checkout.completed finds the row by its session; later events by the provider's id."""
    sub = host.signup(session="cs_anon")
    host.send(
        CheckoutCompleted(
            provider="stripe",
            provider_event_type="checkout.session.completed",
            occurred_at=T0,
            checkout_session_id="cs_anon",
            mode=CheckoutMode.SUBSCRIPTION,
            provider_subscription_id=PSUB,
        )
    )
    activated = SubscriptionActivated(**common(None, T0, current_period_end=T0 + DAY))
    assert activated.to_event().data["host_ids_returned"] is False
    host.send(activated)
    row = host.row(sub)
    assert (row.status, row.paid_until) == (Status.ACTIVE, T0 + DAY)


def test_another_providers_event_naming_the_row_is_ignored(host: Host) -> None:
    """A host id in an event of a provider the row does not use changes nothing."""
    sub = host.signup(provider="paypal")
    host.send(SubscriptionActivated(**common(sub, T0, current_period_end=T0 + DAY)))
    assert host.row(sub).status is Status.PENDING
    assert host.db.handled_events()[0].outcome.startswith("ignored")


def test_older_events_do_not_undo_newer_ones(host: Host) -> None:
    """A past_due older than the recovery does not mark it past due; paid_until never shrinks."""
    sub = host.signup()
    host.send(renewed(sub, T0 + 10 * DAY, 2900, T0 + 40 * DAY, "in_9"))
    host.send(SubscriptionPastDue(**common(sub, T0 + 5 * DAY)))
    host.send(SubscriptionActivated(**common(sub, T0, current_period_end=T0 + 20 * DAY)))
    row = host.row(sub)
    assert (row.status, row.paid_until) == (Status.ACTIVE, T0 + 40 * DAY)


def test_a_withdrawn_cancellation_is_active_again(host: Host) -> None:
    """subscription.activated after a scheduled cancellation clears it."""
    sub = host.signup()
    host.send(SubscriptionActivated(**common(sub, T0, current_period_end=T0 + 30 * DAY)))
    host.send(SubscriptionCancelled(**common(sub, T0 + DAY), at_period_end=True))
    assert host.row(sub).ends_at == T0 + 30 * DAY  # the paid period's end
    host.send(SubscriptionActivated(**common(sub, T0 + 2 * DAY, current_period_end=T0 + 30 * DAY)))
    row = host.row(sub)
    assert (row.cancel_at_period_end, row.ends_at, row.access_until()) == (
        False,
        None,
        T0 + 30 * DAY,
    )


def test_an_immediate_cancellation_ends_access_now(host: Host) -> None:
    """at_period_end=False: cancelled, access until the moment it happened."""
    sub = host.signup()
    host.send(SubscriptionActivated(**common(sub, T0, current_period_end=T0 + 30 * DAY)))
    host.send(SubscriptionCancelled(**common(sub, T0 + DAY), at_period_end=False))
    row = host.row(sub)
    assert (row.status, row.access_until()) == (Status.CANCELLED, T0 + DAY)
    assert not row.has_access(T0 + 2 * DAY)
    host.send(SubscriptionActivated(**common(sub, T0 + 3 * DAY, current_period_end=T0 + DAY)))
    assert host.row(sub).status is Status.CANCELLED  # terminal


def test_a_plan_change_follows_the_provider_plan(host: Host) -> None:
    """subscription.updated names a provider plan id: the row takes that plan and its price."""
    mock = MockPaymentPlugin("stripe")
    ids = host.listeners.catalog.ensure(mock)
    sub = host.signup()
    host.send(SubscriptionUpdated(**common(sub, T0, provider_plan_id=ids["basic"])))
    row = host.row(sub)
    assert (row.plan, row.amount, row.currency) == ("basic", 999, "EUR")
    host.send(SubscriptionUpdated(**common(sub, T0, provider_plan_id="price_elsewhere")))
    assert (host.row(sub).plan, host.row(sub).provider_plan_id) == ("basic", "price_elsewhere")


def test_a_renewal_without_a_period_asks_the_provider(host: Host) -> None:
    """A renewal without a period end asks the provider; with none to ask it fails (retried)."""
    sub = host.signup(provider="mock")
    payload = SubscriptionRenewed(
        **{**common(sub, T0), "provider": "mock"}, amount=2900, currency="USD", invoice_id="s_1"
    )
    with pytest.raises(ExceptionGroup):
        host.send(payload, key="k1")
    assert host.db.handled_events() == []
    mock = MockPaymentPlugin()
    plan = host.listeners.catalog.plans["pro"]
    host.providers["mock"] = mock
    session = mock.create_checkout_session(
        CheckoutRequest(
            mode=CheckoutMode.SUBSCRIPTION,
            plan=plan,
            success_url="https://h.example/ok",
            cancel_url="https://h.example/no",
            subscription_id=sub,
        )
    ).unwrap()
    events = mock.complete_checkout(session.id)
    provider_id = next(
        e.data["provider_subscription_id"] for e in events if e.name == "checkout.completed"
    )
    expected = mock.get_subscription(provider_id).unwrap().current_period_end
    payload = SubscriptionRenewed(
        **{**common(sub, T0), "provider": "mock", "provider_subscription_id": provider_id},
        amount=2900,
        currency="USD",
        invoice_id="s_1",
    )
    host.send(payload, key="k1")
    assert host.row(sub).paid_until == expected is not None


def test_refunds_are_recorded_once_each(host: Host) -> None:
    """Refunds match by refund id, else by the payment; each counts its own amount once."""
    sub = host.signup()
    host.send(renewed(sub, T0, 2900, T0 + 30 * DAY, "in_1"))
    (payment,) = host.db.payments(sub)
    host.db.record_refund_request(sub, payment, "re_1", 1000)
    first = PaymentRefunded(
        provider="stripe",
        provider_event_type="refund.created",
        occurred_at=T0 + DAY,
        transaction_id="pi_unknown_to_the_host",
        refund_id="re_1",
        amount=1000,
        currency="USD",
    )
    host.send(first)
    host.send(first)  # another delivery of the same refund (new key): recorded once
    second = PaymentRefunded(
        provider="stripe",
        provider_event_type="refund.created",
        occurred_at=T0 + DAY,
        transaction_id="in_1",
        refund_id="re_2",
        amount=500,
        currency="USD",
    )
    host.send(second)
    assert [(r.refund_id, r.amount, r.status) for r in host.db.refunds(sub)] == [
        ("re_1", 1000, "refunded"),
        ("re_2", 500, "refunded"),
    ]
    assert host.db.payments(sub)[0].refunded == 1500


@pytest.mark.parametrize(
    ("outcome", "status", "disputed"),
    [
        (DisputeOutcome.WON, Status.ACTIVE, False),
        (DisputeOutcome.LOST, Status.REVOKED, False),
        (DisputeOutcome.OTHER, Status.ACTIVE, False),
    ],
)
def test_disputes_flag_then_clear_or_revoke(
    host: Host, outcome: DisputeOutcome, status: Status, disputed: bool
) -> None:
    """dispute.opened flags the payment's subscription; won clears it, lost revokes access."""
    sub = host.signup()
    host.send(renewed(sub, T0, 2900, T0 + 30 * DAY, "in_1"))
    fields: dict[str, Any] = {
        "provider": "stripe",
        "provider_event_type": "charge.dispute.created",
        "occurred_at": T0 + DAY,
        "dispute_id": "dp_1",
        "transaction_id": "in_1",
        "amount": 2900,
        "currency": "USD",
        "reason": "fraudulent",
    }
    host.send(DisputeOpened(**fields))
    assert host.row(sub).disputed is True
    host.send(DisputeClosed(**{**fields, "occurred_at": T0 + 5 * DAY}, outcome=outcome))
    row = host.row(sub)
    assert (row.status, row.disputed) == (status, disputed)
    assert [(d.dispute_id, d.status) for d in host.db.disputes(sub)] == [("dp_1", outcome.value)]
    assert row.has_access(T0 + 6 * DAY) is (status is Status.ACTIVE)


def test_a_dispute_of_an_unknown_payment_is_ignored(host: Host) -> None:
    """A dispute naming no payment or subscription of the host changes nothing."""
    sub = host.signup()
    host.send(
        DisputeOpened(
            provider="stripe",
            provider_event_type="charge.dispute.created",
            occurred_at=T0,
            dispute_id="dp_x",
            transaction_id="pi_x",
            amount=100,
            currency="USD",
        )
    )
    assert host.db.disputes(sub) == [] and host.row(sub).disputed is False
    assert host.db.handled_events()[0].outcome == "ignored: dispute of unknown payment pi_x"


def _final_state(host: Host, sub: str) -> tuple[Any, ...]:
    row = host.row(sub)
    return (
        row.status,
        row.paid_until,
        row.failed_payments,
        row.next_retry_at,
        row.cancel_at_period_end,
        row.ends_at,
        row.provider_subscription_id,
        row.customer_id,
        sorted((p.reference, p.amount) for p in host.db.payments(sub)),
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_and_redeliveries_end_in_the_same_state(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """The lifecycle in any order, with redeliveries, ends exactly as delivered in order."""
    base = tmp_path_factory.mktemp("order")
    in_order = _host(base / "in-order.sqlite3")
    sub = in_order.signup()
    payloads = lifecycle(sub)
    for payload in payloads:
        in_order.send(payload)
    shuffled = _host(base / "shuffled.sqlite3")
    other = shuffled.signup()
    events = [_retarget(p, sub, other) for p in payloads]
    keys = [uuid.uuid4().hex for _ in events]
    order = data.draw(st.permutations(range(len(events))))
    repeats = data.draw(st.lists(st.sampled_from(range(len(events))), max_size=6))
    for index in [*order, *repeats]:
        shuffled.send(events[index], key=keys[index])
    assert _final_state(shuffled, other) == _final_state(in_order, sub)
    assert len(shuffled.db.handled_events()) == len(events)


def _retarget(payload: BillingEventData, old: str, new: str) -> BillingEventData:
    data = payload.to_dict()
    data.pop("host_ids_returned")
    data["subscription_id"] = new if data["subscription_id"] == old else data["subscription_id"]
    return type(payload).from_dict(data)
