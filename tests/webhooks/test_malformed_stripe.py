"""Stripe-signed but malformed events answer 400 before anything is recorded, never 5xx."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.stores._support import StoreTarget
from vbwd_plugins import (
    Event,
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.config import FernetSecretBox
from vbwd_plugins.stores import SQLiteStateStore
from vbwd_plugins.webhooks import WebhookInbox

pytest.importorskip("vbwd_stripe", reason="the vbwd-stripe distribution is not installed")
from vbwd_stripe import StripePlugin
from vbwd_stripe.testing import make_event, sign_payload

WEBHOOK_SECRET = "whsec_malformed_suite_signing_secret_0001"
KEY = FernetSecretBox.generate_key()
BIG = "__number_1e400__"
_ids = itertools.count()


def open_processor(store: Any, handled: list[Event]) -> WebhookProcessor:
    """vbwd-stripe enabled on ``store`` (also the inbox); every standard event lands in
    ``handled``."""
    manager = PluginManager(store=store, secret_box=FernetSecretBox([KEY]))
    manager.register_plugin(StripePlugin())
    manager.initialize_plugin(
        "stripe",
        {
            "api_key": "sk_test_malformed",
            "webhook_secret": WEBHOOK_SECRET,
            "api_base": "http://127.0.0.1:9",
        },
    )
    manager.enable_plugin("stripe")
    for name in ("payment.completed", "payment.failed", "payment.refunded", "payment.cancelled"):
        manager.event_dispatcher.add_listener(name, handled.append)
    return WebhookProcessor(manager)


@pytest.fixture
def handled() -> list[Event]:
    """Standard events listeners received."""
    return []


@pytest.fixture
def processor(target: StoreTarget, handled: list[Event]) -> Iterator[WebhookProcessor]:
    """vbwd-stripe on a fresh store of each kind."""
    store = target.open()
    try:
        yield open_processor(store, handled)
    finally:
        store.close()


def intent(**fields: Any) -> dict[str, Any]:
    """A succeeded PaymentIntent for 29.00 EUR; ``fields`` replace its members."""
    return {
        "id": "pi_malformed",
        "object": "payment_intent",
        "amount": 2900,
        "amount_received": 2900,
        "currency": "eur",
        "metadata": {"subscription_id": "sub-1"},
        "status": "succeeded",
        **fields,
    }


def stripe_body(
    obj: dict[str, Any], event_type: str = "payment_intent.succeeded", **kw: Any
) -> bytes:
    """A Stripe event around ``obj`` (fresh id), as JSON text; BIG is written as 1e400."""
    event = make_event(event_type, obj, event_id=f"evt_malformed_{next(_ids)}", **kw)
    return json.dumps(event).replace(f'"{BIG}"', "1e400").encode()


def deliver(processor: WebhookProcessor, body: bytes) -> Any:
    """Post ``body`` signed with the endpoint secret."""
    headers = {"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET)}
    return processor.process("stripe", headers, body)


MALFORMED: dict[str, bytes] = {
    "created far in the future": stripe_body(intent(), created=10**20),
    "created negative": stripe_body(intent(), created=-(10**15)),
    "negative amount": stripe_body(intent(amount=-100, amount_received=-100)),
    "infinite amount": stripe_body(intent(amount_received=float("inf"))),
    "1e400 amount": stripe_body(intent(amount_received=BIG)),
    "huge amount": stripe_body(intent(amount_received=10**40)),
    "NUL in currency": stripe_body(intent(currency="eu\x00")),
    "NUL in subscription id": stripe_body(intent(metadata={"subscription_id": "s\x00"})),
    "nesting 100000 deep": stripe_body(intent()).replace(
        b'"metadata": {', b'"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b', "metadata": {'
    ),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_stripe_signed_malformed_event_is_400_and_nothing_is_recorded(
    processor: WebhookProcessor, handled: list[Event], body: bytes
) -> None:
    """Each Stripe-signed but malformed event: 400, no inbox row, no listener ran."""
    response = deliver(processor, body)
    assert response.status == 400, response
    assert processor.inbox.inbox_list() == []
    assert handled == []


def test_the_stripe_template_itself_is_processed(
    processor: WebhookProcessor, handled: list[Event]
) -> None:
    """The event the cases above break is accepted as it is."""
    assert deliver(processor, stripe_body(intent())).status == 200
    assert [event.name for event in handled] == ["payment.completed"]


# -- hypothesis over Stripe-signed events --------------------------------------------------

_hostile = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.just(BIG),
    st.text(max_size=6),
    st.sampled_from(["eur", "EUR", "isk", "eu\x00", "\u0131ls", "\ud800", "", "kwd"]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3), max_size=2),
)
_TYPES = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.amount_capturable_updated",
    "payment_intent.processing",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "customer.created",
]


def _maybe(valid: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), _hostile)


@st.composite
def _stripe_events(draw: st.DrawFn) -> tuple[str, bytes]:
    obj = {
        name: draw(_maybe(valid))
        for name, valid in (
            ("id", "pi_hyp"),
            ("amount", 2900),
            ("amount_received", 2900),
            ("amount_capturable", 0),
            ("amount_refunded", 500),
            ("currency", "eur"),
            ("metadata", {"subscription_id": "sub-1"}),
            ("status", "succeeded"),
            ("last_payment_error", {"code": "card_declined", "message": "declined"}),
            ("payment_intent", "pi_hyp"),
            ("refunds", {"data": [{"id": "re_1", "amount": 500, "created": 1}]}),
        )
    }
    previous = draw(_maybe({"amount_refunded": 0, "status": "pending"}))
    event_id = f"evt_hyp_{next(_ids)}"
    event = make_event(
        draw(st.sampled_from(_TYPES)),
        obj,
        event_id=event_id,
        created=draw(_maybe(int(time.time()))),
        previous_attributes=previous if isinstance(previous, dict) else None,
    )
    return event_id, json.dumps(event).replace(f'"{BIG}"', "1e400").encode()


def test_no_stripe_signed_event_gets_a_5xx(tmp_path: Path) -> None:
    """Whatever a Stripe-signed event holds: 200 or 400, and a 400 records nothing."""
    store = SQLiteStateStore(tmp_path / "inbox.sqlite3")
    processor = open_processor(store, [])
    inbox = processor.inbox
    assert isinstance(inbox, WebhookInbox)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(event=_stripe_events())
    def check(event: tuple[str, bytes]) -> None:
        event_id, body = event
        response = deliver(processor, body)
        assert response.status in (200, 400), (response, body)
        row = inbox.inbox_get("stripe", event_id)
        assert (row is not None) == (response.status == 200), (response, body)

    try:
        check()
    finally:
        store.close()
