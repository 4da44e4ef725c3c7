"""The inbox on both stores: claims, outcomes, listing, purging and replaying stored events."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webhooks._support import SECRET, SideEffects, completed_delivery, signed
from vbwd_plugins import (
    Event,
    PaymentEventType,
    PluginManager,
    SQLiteStateStore,
    WebhookProcessor,
)
from vbwd_plugins.errors import StoreError
from vbwd_plugins.testing import MockPaymentPlugin
from vbwd_plugins.webhooks import (
    InboxStatus,
    WebhookInbox,
)

LEASE = timedelta(minutes=5)


def claim(store: WebhookInbox, event_id: str, lease: timedelta = LEASE) -> str | None:
    return store.inbox_claim(
        "mock", event_id, event_type="t", payload=json.dumps({"id": event_id}), lease=lease
    ).token


def test_store_implements_the_inbox(store: WebhookInbox) -> None:
    """Both shipped stores are webhook inboxes."""
    assert isinstance(store, WebhookInbox)


def test_only_one_claim_of_an_event_wins(store: WebhookInbox) -> None:
    """The first claim inserts and owns the event; a second sees it processing."""
    first = store.inbox_claim("mock", "evt_1", event_type=None, payload="{}", lease=LEASE)
    second = store.inbox_claim("mock", "evt_1", event_type=None, payload="{}", lease=LEASE)
    assert first.claimed and first.status is InboxStatus.PROCESSING
    assert not second.claimed and second.status is InboxStatus.PROCESSING
    assert store.inbox_claim("other", "evt_1", event_type=None, payload="{}", lease=LEASE).claimed


def test_complete_and_fail_need_the_current_token(store: WebhookInbox) -> None:
    """Outcomes are written only by the claim holder; a processed event is never reclaimed."""
    token = claim(store, "evt_1")
    assert token is not None
    assert not store.inbox_complete("mock", "evt_1", "not-the-token")
    assert not store.inbox_fail("mock", "evt_1", "not-the-token", "nope")
    assert store.inbox_complete("mock", "evt_1", token)
    assert not store.inbox_complete("mock", "evt_1", token)
    again = store.inbox_claim("mock", "evt_1", event_type=None, payload="{}", lease=LEASE)
    assert again.token is None and again.status is InboxStatus.PROCESSED


def test_failed_event_is_reclaimed_with_its_payload_kept(store: WebhookInbox) -> None:
    """A failed row is claimable again; attempts count up, the first payload stays."""
    token = claim(store, "evt_1")
    assert token is not None
    assert store.inbox_fail("mock", "evt_1", token, "RuntimeError: boom")
    failed = store.inbox_get("mock", "evt_1")
    assert failed is not None
    assert (failed.status, failed.error, failed.attempts) == (
        InboxStatus.FAILED,
        "RuntimeError: boom",
        1,
    )
    assert failed.claimed_until is None
    retry = store.inbox_claim(
        "mock", "evt_1", event_type="t", payload='{"changed": true}', lease=LEASE
    )
    assert retry.claimed
    row = store.inbox_get("mock", "evt_1")
    assert row is not None
    assert (row.status, row.attempts, row.payload) == (
        InboxStatus.PROCESSING,
        2,
        {"id": "evt_1"},
    )
    assert row.error == "RuntimeError: boom"  # kept until it succeeds


def test_list_filters_by_status_and_provider_newest_first(store: WebhookInbox) -> None:
    """inbox_list: by status, by provider, limited, most recently updated first."""
    for name in ("a", "b", "c", "d"):
        token = claim(store, name)
        assert token is not None
        if name in ("a", "c"):
            store.inbox_fail("mock", name, token, f"error {name}")
        elif name == "b":
            store.inbox_complete("mock", name, token)
        time.sleep(0.002)  # distinct update times
    store.inbox_claim("other", "z", event_type=None, payload="{}", lease=LEASE)
    assert [r.event_id for r in store.inbox_list(status=InboxStatus.FAILED)] == ["c", "a"]
    assert [r.event_id for r in store.inbox_list(status=InboxStatus.PROCESSED)] == ["b"]
    assert [r.event_id for r in store.inbox_list(status=InboxStatus.PROCESSING)] == ["z", "d"]
    assert [r.event_id for r in store.inbox_list(provider="other")] == ["z"]
    assert [r.event_id for r in store.inbox_list(limit=2)] == ["z", "d"]
    assert store.inbox_list(status=InboxStatus.FAILED, provider="other") == []
    with pytest.raises(StoreError, match="limit"):
        store.inbox_list(limit=0)


def test_purge_removes_only_old_processed_rows(store: WebhookInbox) -> None:
    """Purging deletes processed rows older than the age; failed and claimed rows stay."""
    for name in ("done-1", "done-2", "failed", "claimed"):
        token = claim(store, name)
        assert token is not None
        if name.startswith("done"):
            store.inbox_complete("mock", name, token)
        elif name == "failed":
            store.inbox_fail("mock", name, token, "boom")
    assert store.inbox_purge(older_than=timedelta(hours=1)) == 0
    time.sleep(0.01)
    assert store.inbox_purge(older_than=timedelta(0)) == 2
    assert sorted(r.event_id for r in store.inbox_list()) == ["claimed", "failed"]
    with pytest.raises(StoreError, match="older_than"):
        store.inbox_purge(older_than=timedelta(seconds=-1))


def test_get_of_an_unknown_event_is_none(store: WebhookInbox) -> None:
    """inbox_get answers None for an event never received."""
    assert store.inbox_get("mock", "evt_never") is None


def test_sqlite_inbox_durability_level_is_checked(tmp_path: Path) -> None:
    """inbox_synchronous accepts NORMAL / FULL / EXTRA only, and FULL works."""
    with SQLiteStateStore(tmp_path / "s.sqlite3") as store:
        store.inbox_synchronous = "FULL"
        assert claim(store, "evt_1") is not None
        store.inbox_synchronous = "OFF"
        with pytest.raises(StoreError, match="inbox_synchronous"):
            claim(store, "evt_2")
        store.inbox_synchronous = "NORMAL"
        assert claim(store, "evt_2") is not None


# -- replay -------------------------------------------------------------------------


def test_replay_handles_a_failed_event_from_its_stored_payload(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A failed event replayed: handled from the inbox (no delivery needed), then processed."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    effects.fail_once = frozenset({event_id})
    assert processor.process("mock", delivery.headers, delivery.body).status == 500
    response = processor.replay("mock", event_id)
    assert response.status == 200
    assert response.body == {"status": "processed", "event_id": event_id}
    assert effects.counts() == {event_id: 1}
    row = processor.inbox.inbox_get("mock", event_id)
    assert row is not None
    assert (row.status, row.attempts, row.error) == (InboxStatus.PROCESSED, 2, None)
    again = processor.replay("mock", event_id)
    assert again.status == 409 and again.body["status"] == "processed"
    assert effects.counts() == {event_id: 1}


def test_replay_hands_the_stored_redacted_payload_to_the_provider(
    processor: WebhookProcessor, manager: PluginManager, mock: MockPaymentPlugin
) -> None:
    """The handler sees the same (redacted) payload on delivery and on replay."""
    seen: list[dict[str, object]] = []
    original = mock.handle_webhook

    def spy(payload: dict[str, object]) -> None:
        seen.append(payload)
        original(payload)
        if len(seen) == 1:
            raise RuntimeError("first attempt fails")

    mock.handle_webhook = spy  # type: ignore[method-assign]
    delivery = signed(mock, {"id": "evt_r", "type": "x", "client_secret": "cs_hidden"})
    assert processor.process("mock", delivery.headers, delivery.body).status == 500
    assert processor.replay("mock", "evt_r").status == 200
    assert seen[0] == seen[1] == {"id": "evt_r", "type": "x", "client_secret": "[redacted]"}


def test_replay_that_fails_again_is_500_and_counts_the_attempt(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A replay whose handler fails leaves the row failed with attempts + 1."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    effects.fail_always.add(event_id)
    assert processor.process("mock", delivery.headers, delivery.body).status == 500
    assert processor.replay("mock", event_id).status == 500
    row = processor.inbox.inbox_get("mock", event_id)
    assert row is not None and (row.status, row.attempts) == (InboxStatus.FAILED, 2)


def test_replay_refuses_unknown_and_in_progress_events(
    processor: WebhookProcessor, manager: PluginManager
) -> None:
    """Unknown event or provider: 404; an event a worker holds right now: 409."""
    assert processor.replay("mock", "evt_unknown").status == 404
    assert processor.replay("nosuch", "evt_unknown").status == 404
    assert claim(processor.inbox, "evt_busy") is not None
    response = processor.replay("mock", "evt_busy")
    assert response.status == 409 and response.body["status"] == "in_progress"
    manager.disable_plugin("mock")
    assert processor.replay("mock", "evt_busy").status == 404


def test_replay_takes_over_an_abandoned_claim(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """A row left processing by a crashed worker is replayable once its lease expired."""
    delivery = completed_delivery(mock)
    event_id = json.loads(delivery.body)["id"]
    processor.inbox.inbox_claim(
        "mock",
        event_id,
        event_type=None,
        payload=delivery.body.decode(),
        lease=timedelta(0),
    )
    assert processor.replay("mock", event_id).status == 200
    assert effects.counts() == {event_id: 1}


# -- any payload ----------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_any_signed_json_object_is_recorded_and_acknowledged(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Whatever JSON object a provider signs (odd ids, keys, text), it is stored and answered."""
    folder = tmp_path_factory.mktemp("any-payload")
    store = SQLiteStateStore(folder / "inbox.sqlite3")
    manager = PluginManager(store=store)
    mock = MockPaymentPlugin(webhook_secret=SECRET)
    manager.register_plugin(mock)
    manager.initialize_plugin("mock")
    manager.enable_plugin("mock")
    handled: list[Event] = []
    manager.event_dispatcher.add_listener("payment.completed", handled.append)
    processor = WebhookProcessor(manager)

    @settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payload=st.dictionaries(st.text(), _json, max_size=6), event_id=_json)
    def check(payload: dict[str, object], event_id: object) -> None:
        payload["id"] = event_id
        if payload.get("type") in set(PaymentEventType):
            payload["type"] = "not.a.payment.event"
        delivery = signed(mock, payload)
        response = processor.process("mock", delivery.headers, delivery.body)
        assert response.status == 200, response
        assert response.body["status"] in ("processed", "duplicate")
        stored = store.inbox_get("mock", response.body["event_id"])
        assert stored is not None and stored.status is InboxStatus.PROCESSED

    try:
        check()
    finally:
        store.close()
