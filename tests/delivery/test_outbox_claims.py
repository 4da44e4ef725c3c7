"""``outbox_accept(..., lease=...)``: deliveries recorded already claimed (inline runs), and the
recorded order of deliveries, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.delivery._support import LEASE, event, receipt
from tests.delivery.conftest import Store
from vbwd_plugins import Event, EventDispatcher
from vbwd_plugins.delivery import DeliveryRunner, DeliveryStatus, NewEvent, RunOutcome, delivery_id
from vbwd_plugins.errors import StoreError

R, S = DeliveryStatus.RUNNING, DeliveryStatus.SUCCEEDED


def test_accept_with_a_lease_records_new_deliveries_claimed(outbox: Store) -> None:
    """Each new delivery is RUNNING with one attempt under its own token, as a claim leaves it."""
    before = datetime.now(UTC) - timedelta(seconds=5)
    events = [event(index=0), event(index=1, listeners=("host:c",), name="payment.refunded")]
    accepted = outbox.outbox_accept(receipt(), events, lease=LEASE)
    assert accepted.new and [c.delivery.id for c in accepted.claims] == list(accepted.pending)
    assert len({claim.token for claim in accepted.claims}) == 3
    for claim in accepted.claims:
        stored = outbox.delivery_get(claim.delivery.id)
        assert stored is not None and (stored.status, stored.attempts) == (R, 1)
        assert claim.delivery.status is R and claim.delivery.attempts == 1
        assert claim.delivery.lease_until == stored.lease_until
        assert stored.lease_until is not None and stored.lease_until > before + LEASE
        assert claim.delivery.created_at == stored.created_at
        assert claim.event == outbox.event_get(claim.delivery.event_uid)
    last = accepted.claims[-1]
    assert (last.delivery.listener_id, last.event.name, last.event.source) == (
        "host:c",
        "payment.refunded",
        "webhook:mock",
    )
    assert all(outbox.delivery_succeed(c.delivery.id, c.token) for c in accepted.claims)
    assert {d.status for d in outbox.deliveries_of_webhook("mock", "evt_1")} == {S}


def test_a_claimed_delivery_is_held_until_its_lease_ends(outbox: Store) -> None:
    """No other runner claims it, and the sweep finds it only once the lease has run out."""
    (claim,) = outbox.outbox_accept(receipt(), [event(listeners=("a",))], lease=LEASE).claims
    assert outbox.delivery_claim(claim.delivery.id, lease=LEASE, due_only=False) is None
    assert outbox.deliveries_due() == []
    later = datetime.now(UTC) + LEASE + timedelta(seconds=5)
    assert [d.id for d in outbox.deliveries_due(now=later)] == [claim.delivery.id]


def test_a_redelivery_or_an_event_recorded_before_claims_nothing(outbox: Store) -> None:
    """Only deliveries the call creates are claimed; existing ones are listed, not taken."""
    first = outbox.outbox_accept(receipt(), [event()])
    again = outbox.outbox_accept(receipt(), [event()], lease=LEASE)
    assert not again.new and again.claims == () and again.pending == first.pending
    published = NewEvent("evt_host_1", "order.shipped", "{}", ("host:a",))
    assert len(outbox.outbox_accept(None, [published], lease=LEASE).claims) == 1
    repeat = outbox.outbox_accept(None, [published], lease=LEASE)
    assert not repeat.new and repeat.claims == () and len(repeat.pending) == 1


def test_accept_refuses_a_lease_that_is_not_positive(outbox: Store) -> None:
    """A zero lease raises StoreError and writes nothing."""
    with pytest.raises(StoreError, match="lease"):
        outbox.outbox_accept(receipt(), [event()], lease=timedelta(0))
    assert outbox.inbox_get("mock", "evt_1") is None and outbox.deliveries_list() == []


def test_deliveries_keep_the_order_they_were_recorded_in(outbox: Store) -> None:
    """Listing a webhook's deliveries, and retrying them, follows recording order, not ids."""
    listeners = ("z", "a", "m", "b")
    events = [event(listeners=listeners), event(index=1, listeners=("y", "c"))]
    accepted = outbox.outbox_accept(receipt(), events)
    expected = [delivery_id("mock:evt_1:0", one) for one in listeners] + [
        delivery_id("mock:evt_1:1", one) for one in ("y", "c")
    ]
    assert list(accepted.pending) == expected != sorted(expected)
    assert [d.id for d in outbox.deliveries_of_webhook("mock", "evt_1")] == expected
    for claim in (outbox.delivery_claim(one, lease=LEASE) for one in expected):
        assert claim is not None
        outbox.delivery_fail(claim.delivery.id, claim.token, "E: x", retry_at=None)
    assert outbox.deliveries_retry(webhook=("mock", "evt_1")) == expected


def test_the_runner_runs_a_claimed_delivery_without_claiming_it_again(outbox: Store) -> None:
    """``run_claimed`` calls the listener once and records success under the accept's claim."""
    dispatcher = EventDispatcher()
    seen: list[Event] = []
    dispatcher.add_listener("payment.completed", seen.append, id="ledger")
    data = Event("payment.completed", {"amount": 2900})
    new = NewEvent("mock:evt_1:0", data.name, data.to_json(), ("ledger",))
    (claim,) = outbox.outbox_accept(receipt(), [new], lease=LEASE).claims
    result = DeliveryRunner(outbox, dispatcher).run_claimed(claim)
    assert result.outcome is RunOutcome.SUCCEEDED
    assert [(e.data, e.delivery_id) for e in seen] == [({"amount": 2900}, claim.delivery.id)]
    done = outbox.delivery_get(claim.delivery.id)
    assert done is not None and (done.status, done.attempts) == (S, 1)
