"""The outbox on both stores: recording atomically, claims, outcomes, retries, purges."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.delivery._support import LEASE, event, receipt
from tests.delivery.conftest import Store
from tests.stores._support import StoreTarget
from vbwd_plugins.delivery import (
    DeliveryStatus,
    Outbox,
    delivery_id,
    delivery_prefix,
    idempotency_key,
)
from vbwd_plugins.delivery._model import MAX_ERROR, MAX_LISTENER_ID, NewEvent
from vbwd_plugins.errors import StoreError
from vbwd_plugins.stores import PostgresStateStore, SQLiteStateStore
from vbwd_plugins.webhooks import InboxStatus

P, R, S, D = (
    DeliveryStatus.PENDING,
    DeliveryStatus.RUNNING,
    DeliveryStatus.SUCCEEDED,
    DeliveryStatus.DEAD,
)
LATER = timedelta(hours=1)


def nothing_written(outbox: Store, event_id: str = "evt_1") -> bool:
    """No inbox row, event or delivery exists."""
    return (
        outbox.inbox_get("mock", event_id) is None
        and outbox.event_get(f"mock:{event_id}:0") is None
        and outbox.deliveries_list() == []
    )


def test_both_stores_implement_the_outbox(outbox: Store) -> None:
    """SQLite and PostgreSQL stores are outboxes."""
    assert isinstance(outbox, Outbox)


def test_accept_records_inbox_row_events_and_pending_deliveries(outbox: Store) -> None:
    """One call records the RECORDED inbox row, each event and one due delivery per listener."""
    before = datetime.now(UTC) - timedelta(seconds=5)
    events = [event(index=0), event(index=1, listeners=("host:c",), name="payment.refunded")]
    accepted = outbox.outbox_accept(receipt(), events)
    ids = (
        delivery_id("mock:evt_1:0", "host:a"),
        delivery_id("mock:evt_1:0", "host:b"),
        delivery_id("mock:evt_1:1", "host:c"),
    )
    assert accepted.new and accepted.pending == ids and accepted.dead == ()
    row = outbox.inbox_get("mock", "evt_1")
    assert row is not None and row.status is InboxStatus.RECORDED and row.payload["id"] == "evt_1"
    stored = outbox.event_get("mock:evt_1:1")
    assert stored is not None
    assert (stored.name, stored.payload, stored.source) == (
        "payment.refunded",
        events[1].payload,
        "webhook:mock",
    )
    deliveries = outbox.deliveries_of_webhook("mock", "evt_1")
    assert [d.id for d in deliveries] == list(ids)
    first = deliveries[0]
    assert (first.status, first.attempts, first.last_error, first.lease_until) == (P, 0, None, None)
    assert first.next_attempt_at is not None and first.next_attempt_at >= before
    assert first.idempotency_key == idempotency_key("mock:evt_1:0", "host:a")
    assert outbox.deliveries_due() == deliveries


def test_duplicate_receipt_writes_nothing_and_returns_unfinished_deliveries(outbox: Store) -> None:
    """A redelivery records nothing; the answer lists only what has not succeeded, dead apart."""
    events = [event(listeners=("a", "b", "c", "d"))]
    first = outbox.outbox_accept(receipt(), events)
    a, b, c, _ = first.pending
    claim_a = outbox.delivery_claim(a, lease=LEASE)
    claim_b = outbox.delivery_claim(b, lease=LEASE)
    outbox.delivery_claim(c, lease=LEASE)  # left running
    assert claim_a is not None and claim_b is not None
    assert outbox.delivery_succeed(a, claim_a.token)
    assert outbox.delivery_fail(b, claim_b.token, "Boom: no", retry_at=None)
    again = outbox.outbox_accept(receipt(), [event(listeners=("a", "b", "c", "d", "new"))])
    assert not again.new
    assert again.pending == first.pending[2:] and again.dead == (b,)
    assert len(outbox.deliveries_list()) == 4  # the extra listener was not recorded


def test_a_listener_id_too_long_midway_leaves_nothing_written(outbox: Store) -> None:
    """The second event's bad listener id fails the call after rows were written: all undone."""
    too_long = "x" * (MAX_LISTENER_ID + 1)
    events = [event(index=0), event(index=1, listeners=("ok", too_long))]
    with pytest.raises(StoreError, match=f"listener id '{too_long}'"):
        outbox.outbox_accept(receipt(), events)
    assert nothing_written(outbox)
    assert outbox.outbox_accept(receipt(), [event(index=0)]).new  # and the webhook can retry


def test_a_database_error_midway_leaves_nothing_written(outbox: Store) -> None:
    """An event uid the table refuses (too long), after earlier rows were inserted: all undone."""
    bad = NewEvent("mock:evt_1:" + "9" * 500, "payment.completed", "{}", ("host:a",))
    with pytest.raises(StoreError):
        outbox.outbox_accept(receipt(), [event(index=0), bad])
    assert nothing_written(outbox)


def test_a_forced_error_while_writing_deliveries_leaves_nothing_written(
    outbox: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception raised between two delivery inserts rolls back the whole transaction."""
    calls: list[str] = []

    def failing_id(event_uid: str, listener_id: str) -> str:
        calls.append(listener_id)
        if len(calls) == 3:
            raise RuntimeError("forced")
        return delivery_id(event_uid, listener_id)

    kind = "sqlite" if isinstance(outbox, SQLiteStateStore) else "postgres_batch"
    module = f"vbwd_plugins.stores._outbox_{kind}"
    monkeypatch.setattr(f"{module}.delivery_id", failing_id)
    with pytest.raises(RuntimeError, match="forced"):
        outbox.outbox_accept(receipt(), [event(listeners=("a", "b", "c"))])
    assert calls == ["a", "b", "c"]
    assert nothing_written(outbox)


def test_published_events_have_no_inbox_row_and_record_once(outbox: Store) -> None:
    """Without a receipt, events are 'publish'; recording the same uid again adds nothing."""
    published = NewEvent("evt_host_1", "order.shipped", '{"n": 1}', ("host:mail", "host:mail"))
    first = outbox.outbox_accept(None, [published])
    assert first.new and first.pending == (delivery_id("evt_host_1", "host:mail"),)
    stored = outbox.event_get("evt_host_1")
    assert stored is not None and stored.source == "publish"
    assert outbox.inbox_list() == []
    again = outbox.outbox_accept(None, [published])
    assert not again.new and again.pending == first.pending
    assert len(outbox.deliveries_list()) == 1


def test_claim_takes_a_pending_delivery_once(outbox: Store) -> None:
    """A claim sets RUNNING, counts the attempt, leases it; a second claim gets nothing."""
    (did, *_) = outbox.outbox_accept(receipt(), [event()]).pending
    claim = outbox.delivery_claim(did, lease=LEASE)
    assert claim is not None and claim.token
    assert (claim.delivery.status, claim.delivery.attempts) == (R, 1)
    assert claim.delivery.lease_until is not None
    assert claim.event.uid == "mock:evt_1:0" and claim.event.name == "payment.completed"
    assert outbox.delivery_claim(did, lease=LEASE) is None
    assert outbox.delivery_claim(did, lease=LEASE, due_only=False) is None
    assert outbox.delivery_claim("dlv_unknown", lease=LEASE) is None
    stored = outbox.delivery_get(did)
    assert stored is not None and stored.status is R and stored.attempts == 1


def test_claim_refuses_a_lease_that_is_not_positive(outbox: Store) -> None:
    """A zero lease would be expired at once: refused with the argument named."""
    (did, *_) = outbox.outbox_accept(receipt(), [event()]).pending
    with pytest.raises(StoreError, match="lease"):
        outbox.delivery_claim(did, lease=timedelta(0))


def test_an_expired_lease_is_claimed_again_and_the_old_token_is_stale(outbox: Store) -> None:
    """A runner that died leaves a RUNNING delivery; after its lease another runner takes it."""
    (did, *_) = outbox.outbox_accept(receipt(), [event()]).pending
    dead_runner = outbox.delivery_claim(did, lease=timedelta(milliseconds=1))
    assert dead_runner is not None
    time.sleep(0.05)  # let the lease run out (not a timing assertion)
    assert [d.id for d in outbox.deliveries_due()] == [did, delivery_id("mock:evt_1:0", "host:b")]
    second = outbox.delivery_claim(did, lease=LEASE)
    assert second is not None and second.token != dead_runner.token
    assert second.delivery.attempts == 2
    assert not outbox.delivery_succeed(did, dead_runner.token)
    assert not outbox.delivery_fail(did, dead_runner.token, "late", retry_at=None)
    assert outbox.delivery_succeed(did, second.token)


def test_outcomes_need_the_current_token_and_repeat_harmlessly(outbox: Store) -> None:
    """Stale tokens change nothing; the holder's call can be repeated (a retried write)."""
    first, second = outbox.outbox_accept(receipt(), [event()]).pending
    claim = outbox.delivery_claim(first, lease=LEASE)
    assert claim is not None
    assert not outbox.delivery_succeed(first, "not-the-token")
    assert outbox.delivery_succeed(first, claim.token)
    assert outbox.delivery_succeed(first, claim.token)  # repeated: same answer
    assert not outbox.delivery_fail(first, claim.token, "after success", retry_at=None)
    done = outbox.delivery_get(first)
    assert done is not None and done.status is S and done.next_attempt_at is None
    assert outbox.delivery_claim(first, lease=LEASE, due_only=False) is None
    other = outbox.delivery_claim(second, lease=LEASE)
    assert other is not None
    assert outbox.delivery_fail(second, other.token, "Boom: x", retry_at=None)
    assert outbox.delivery_fail(second, other.token, "Boom: x", retry_at=None)
    assert not outbox.delivery_succeed(second, other.token)


def test_failure_with_retry_at_waits_until_then_unless_claimed_regardless(outbox: Store) -> None:
    """A failed delivery is PENDING at ``retry_at``; ``due_only=False`` claims it early."""
    (did, *_) = outbox.outbox_accept(receipt(), [event()]).pending
    claim = outbox.delivery_claim(did, lease=LEASE)
    assert claim is not None
    retry_at = datetime.now(UTC) + LATER
    assert outbox.delivery_fail(did, claim.token, "Timeout: slow", retry_at=retry_at)
    stored = outbox.delivery_get(did)
    assert stored is not None and (stored.status, stored.last_error) == (P, "Timeout: slow")
    assert stored.next_attempt_at is not None
    assert abs(stored.next_attempt_at - retry_at) < timedelta(milliseconds=1)
    assert stored.lease_until is None
    assert did not in [d.id for d in outbox.deliveries_due()]
    assert did in [d.id for d in outbox.deliveries_due(now=retry_at + timedelta(seconds=1))]
    assert outbox.delivery_claim(did, lease=LEASE) is None
    early = outbox.delivery_claim(did, lease=LEASE, due_only=False)
    assert early is not None and early.delivery.attempts == 2


def test_errors_are_bounded_and_times_must_be_aware(outbox: Store) -> None:
    """A huge error is cut to MAX_ERROR characters; naive datetimes are refused."""
    (did, *_) = outbox.outbox_accept(receipt(), [event()]).pending
    claim = outbox.delivery_claim(did, lease=LEASE)
    assert claim is not None
    with pytest.raises(StoreError, match="timezone-aware"):
        outbox.delivery_fail(did, claim.token, "x", retry_at=datetime.now() + LATER)
    with pytest.raises(StoreError, match="timezone-aware"):
        outbox.deliveries_due(now=datetime.now())
    assert outbox.delivery_fail(did, claim.token, "E" * 10_000, retry_at=None)
    stored = outbox.delivery_get(did)
    assert stored is not None and stored.last_error is not None
    assert len(stored.last_error) == MAX_ERROR and stored.last_error.endswith("...")


def _dead(outbox: Store, did: str) -> None:
    claim = outbox.delivery_claim(did, lease=LEASE, due_only=False)
    assert claim is not None
    assert outbox.delivery_fail(did, claim.token, "Boom: x", retry_at=None)


def test_retry_filters_by_delivery_listener_and_webhook(outbox: Store) -> None:
    """Dead deliveries come back PENDING and due, chosen by id, listener, webhook or all."""
    ids = {}
    for n in (1, 2):
        ids[n] = outbox.outbox_accept(receipt(f"evt_{n}"), [event(f"evt_{n}")]).pending
        for did in ids[n]:
            _dead(outbox, did)
    assert outbox.deliveries_retry(delivery_id=ids[1][0]) == [ids[1][0]]
    assert outbox.deliveries_retry(listener_id="host:b") == [ids[1][1], ids[2][1]]
    assert outbox.deliveries_retry(webhook=("mock", "evt_2")) == [ids[2][0]]
    assert outbox.deliveries_retry() == []
    retried = outbox.delivery_get(ids[2][0])
    assert retried is not None and (retried.status, retried.attempts) == (P, 1)
    assert retried.last_error == "Boom: x"  # kept for the operator
    assert {d.id for d in outbox.deliveries_due()} == set(ids[1] + ids[2])
    _dead(outbox, ids[1][0])
    assert outbox.deliveries_retry(status=D) == [ids[1][0]]


def test_retry_never_touches_succeeded_or_live_running_deliveries(outbox: Store) -> None:
    """SUCCEEDED is refused outright; a RUNNING delivery is retried only once its lease expired."""
    first, second = outbox.outbox_accept(receipt(), [event()]).pending
    live = outbox.delivery_claim(first, lease=LEASE)
    stale = outbox.delivery_claim(second, lease=timedelta(milliseconds=1))
    assert live is not None and stale is not None
    with pytest.raises(StoreError, match="succeeded"):
        outbox.deliveries_retry(status=S)
    time.sleep(0.05)  # let the short lease run out (not a timing assertion)
    assert outbox.deliveries_retry(status=R) == [second]
    assert not outbox.delivery_succeed(second, stale.token)  # the operator took it back
    assert outbox.delivery_succeed(first, live.token)


def test_listing_filters_and_orders_by_last_update(outbox: Store) -> None:
    """Newest update first; filters combine; the limit is validated."""
    first, second = outbox.outbox_accept(receipt(), [event()]).pending
    (third,) = outbox.outbox_accept(
        receipt("evt_2"), [event("evt_2", listeners=("host:a",), name="payment.refunded")]
    ).pending
    _dead(outbox, first)
    assert outbox.deliveries_list()[0].id == first
    assert [d.id for d in outbox.deliveries_list(status=D)] == [first]
    assert {d.id for d in outbox.deliveries_list(status=P)} == {second, third}
    assert [d.id for d in outbox.deliveries_list(event_name="payment.refunded")] == [third]
    assert [d.id for d in outbox.deliveries_list(listener_id="host:a", status=P)] == [third]
    assert len(outbox.deliveries_list(limit=2)) == 2
    with pytest.raises(StoreError, match="limit"):
        outbox.deliveries_list(limit=0)
    with pytest.raises(StoreError, match="limit"):
        outbox.deliveries_due(limit=True)


def test_purge_deletes_old_succeeded_deliveries_and_their_bare_events(outbox: Store) -> None:
    """Only SUCCEEDED deliveries go; an event goes once it has none left; the inbox row follows."""
    first, second = outbox.outbox_accept(receipt(), [event()]).pending
    claim = outbox.delivery_claim(first, lease=LEASE)
    assert claim is not None and outbox.delivery_succeed(first, claim.token)
    assert outbox.deliveries_purge(older_than=LATER) == 0  # too recent
    assert outbox.inbox_purge(older_than=timedelta(0)) == 0  # a delivery is unfinished
    assert outbox.deliveries_purge(older_than=timedelta(0)) == 1
    assert outbox.delivery_get(first) is None and outbox.delivery_get(second) is not None
    assert outbox.event_get("mock:evt_1:0") is not None  # still has a delivery
    claim = outbox.delivery_claim(second, lease=LEASE)
    assert claim is not None and outbox.delivery_succeed(second, claim.token)
    assert outbox.inbox_purge(older_than=timedelta(0)) == 1  # all succeeded: the row goes
    assert outbox.deliveries_purge(older_than=timedelta(0)) == 1
    assert outbox.event_get("mock:evt_1:0") is None
    with pytest.raises(StoreError, match="older_than"):
        outbox.deliveries_purge(older_than=timedelta(seconds=-1))
    with pytest.raises(StoreError, match="older_than"):
        outbox.deliveries_purge(older_than=timedelta.max)


def test_a_recorded_inbox_row_is_never_claimed_by_the_old_pipeline(outbox: Store) -> None:
    """``inbox_claim`` on a RECORDED row gets no token and reports RECORDED."""
    outbox.outbox_accept(receipt(), [event()])
    claim = outbox.inbox_claim("mock", "evt_1", event_type=None, payload="{}", lease=LEASE)
    assert not claim.claimed and claim.status is InboxStatus.RECORDED
    assert [r.event_id for r in outbox.inbox_list(status=InboxStatus.RECORDED)] == ["evt_1"]


def test_upgrading_a_version_2_store_keeps_its_inbox_rows(
    target: StoreTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store created before the outbox migrates on open; its inbox rows survive the rebuild."""
    from vbwd_plugins.stores import _migrations

    with monkeypatch.context() as patch:
        patch.setattr(_migrations, "MIGRATIONS", _migrations.MIGRATIONS[:2])
        old = target.open()
        assert isinstance(old, SQLiteStateStore | PostgresStateStore)
        old.inbox_claim("mock", "evt_old", event_type="t", payload='{"id": 1}', lease=LEASE)
        old.close()
    assert target.migration_versions() == [1, 2]
    store = target.open()
    try:
        assert isinstance(store, SQLiteStateStore | PostgresStateStore)
        assert target.migration_versions() == [1, 2, 3]
        row = store.inbox_get("mock", "evt_old")
        assert row is not None and row.status is InboxStatus.PROCESSING and row.payload == {"id": 1}
        assert store.outbox_accept(receipt(), [event()]).new
    finally:
        store.close()


# -- inbox rows recorded before the outbox ----------------------------------------------


def test_a_pre_outbox_failed_row_is_recorded_on_redelivery(outbox: Store) -> None:
    """A FAILED row without events gets its events and deliveries, and becomes RECORDED."""
    old = outbox.inbox_claim("mock", "evt_1", event_type="t", payload='{"id": 1}', lease=LEASE)
    assert old.token is not None
    assert outbox.inbox_fail("mock", "evt_1", old.token, "RuntimeError: boom")
    accepted = outbox.outbox_accept(receipt(), [event()])
    assert accepted.new and accepted.pending == (
        delivery_id("mock:evt_1:0", "host:a"),
        delivery_id("mock:evt_1:0", "host:b"),
    )
    row = outbox.inbox_get("mock", "evt_1")
    assert row is not None and row.status is InboxStatus.RECORDED
    assert (row.attempts, row.error, row.claimed_until, row.payload) == (2, None, None, {"id": 1})
    assert [d.id for d in outbox.deliveries_of_webhook("mock", "evt_1")] == list(accepted.pending)
    again = outbox.outbox_accept(receipt(), [event()])  # now an ordinary duplicate
    assert not again.new and again.pending == accepted.pending


def test_a_pre_outbox_row_is_recorded_only_once_its_claim_expired(outbox: Store) -> None:
    """PROCESSING under a live claim is left alone; once expired, the old token loses the row."""
    outbox.inbox_claim("mock", "evt_live", event_type="t", payload="{}", lease=LEASE)
    live = outbox.outbox_accept(receipt("evt_live"), [event("evt_live")])
    assert (live.new, live.pending) == (False, ())
    row = outbox.inbox_get("mock", "evt_live")
    assert row is not None and row.status is InboxStatus.PROCESSING
    assert outbox.event_get("mock:evt_live:0") is None

    crashed = outbox.inbox_claim(
        "mock", "evt_1", event_type="t", payload="{}", lease=timedelta(milliseconds=1)
    )
    assert crashed.token is not None
    time.sleep(0.05)  # let the old worker's claim run out (not a timing assertion)
    assert outbox.outbox_accept(receipt(), [event()]).new
    assert not outbox.inbox_complete("mock", "evt_1", crashed.token)
    row = outbox.inbox_get("mock", "evt_1")
    assert row is not None and row.status is InboxStatus.RECORDED


def test_a_pre_outbox_processed_row_stays_a_duplicate(outbox: Store) -> None:
    """A webhook the old pipeline handled is acknowledged; nothing is recorded for it."""
    old = outbox.inbox_claim("mock", "evt_1", event_type="t", payload="{}", lease=LEASE)
    assert old.token is not None and outbox.inbox_complete("mock", "evt_1", old.token)
    accepted = outbox.outbox_accept(receipt(), [event()])
    assert (accepted.new, accepted.pending, accepted.dead) == (False, (), ())
    assert outbox.event_get("mock:evt_1:0") is None and outbox.deliveries_list() == []
    row = outbox.inbox_get("mock", "evt_1")
    assert row is not None and row.status is InboxStatus.PROCESSED


def test_webhooks_unfinished_lists_undelivered_and_pre_outbox_webhooks(outbox: Store) -> None:
    """A webhook is unfinished while a delivery has not succeeded, or its row predates it all."""
    done = outbox.outbox_accept(receipt("evt_done"), [event("evt_done", listeners=("a",))])
    claim = outbox.delivery_claim(done.pending[0], lease=LEASE)
    assert claim is not None and outbox.delivery_succeed(done.pending[0], claim.token)
    dead = outbox.outbox_accept(receipt("evt_dead"), [event("evt_dead", listeners=("a", "b"))])
    _dead(outbox, dead.pending[0])
    outbox.outbox_accept(receipt("evt_new"), [event("evt_new")])
    outbox.outbox_accept(receipt("evt_none"), [event("evt_none", listeners=())])
    old = outbox.inbox_claim("mock", "evt_old", event_type="t", payload="{}", lease=LEASE)
    assert old.token is not None and outbox.inbox_fail("mock", "evt_old", old.token, "boom")
    outbox.outbox_accept(receipt("evt_x", provider="other"), [event("evt_x", provider="other")])
    outbox.outbox_accept(None, [NewEvent("evt_pub", "order.placed", "{}", ("a",))])  # no row

    found = outbox.webhooks_unfinished()
    assert sorted(found) == [
        ("mock", "evt_dead"),
        ("mock", "evt_new"),
        ("mock", "evt_old"),
        ("other", "evt_x"),
    ]
    assert len(found) == len(set(found))  # one row per webhook, however many deliveries
    assert outbox.webhooks_unfinished(provider="other") == [("other", "evt_x")]
    assert len(outbox.webhooks_unfinished(limit=2)) == 2
    with pytest.raises(StoreError, match="limit"):
        outbox.webhooks_unfinished(limit=0)


def test_a_webhook_whose_id_extends_another_keeps_its_own_deliveries(outbox: Store) -> None:
    """Webhook "a" finds, retries and purges only its deliveries, not those of "a:b" (whose
    event uids "mock:a:b:..." start like "a"'s)."""
    short = outbox.outbox_accept(receipt("a"), [event("a", listeners=("x",))]).pending
    long = outbox.outbox_accept(receipt("a:b"), [event("a:b", listeners=("x", "y"))]).pending
    assert [d.id for d in outbox.deliveries_of_webhook("mock", "a")] == list(short)
    assert [d.id for d in outbox.deliveries_of_webhook("mock", "a:b")] == list(long)
    assert outbox.deliveries_retry(webhook=("mock", "a"), status=P) == list(short)
    again = outbox.outbox_accept(receipt("a"), [event("a", listeners=("x",))])
    assert not again.new and again.pending == short
    assert outbox.inbox_purge(older_than=timedelta(0)) == 0  # both still have pending ones


def test_every_delivery_of_an_event_shares_its_id_prefix(outbox: Store) -> None:
    """Delivery ids start with delivery_prefix(event uid): the same for one event's
    deliveries, different for another event's."""
    first, second = outbox.outbox_accept(receipt(), [event()]).pending
    (third,) = outbox.outbox_accept(receipt("evt_2"), [event("evt_2", listeners=("a",))]).pending
    assert first.startswith(delivery_prefix("mock:evt_1:0"))
    assert second.startswith(delivery_prefix("mock:evt_1:0"))
    assert not third.startswith(delivery_prefix("mock:evt_1:0"))
    assert len({first, second, third}) == 3 and {len(first), len(third)} == {36}


def test_sqlite_refuses_a_webhook_event_with_another_webhooks_uid(tmp_path: Path) -> None:
    """SQLite finds a webhook's events by their uid prefix, so it refuses (writing nothing)
    an event whose uid does not start "<provider>:<event id>:"."""
    with SQLiteStateStore(tmp_path / "uids.sqlite3") as store:
        with pytest.raises(StoreError, match="must start with 'mock:evt_1:'"):
            store.outbox_accept(receipt(), [event(), event("evt_2")])
        assert nothing_written(store)
