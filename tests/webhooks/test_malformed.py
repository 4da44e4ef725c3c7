"""Signed but malformed deliveries answer 400 before anything is recorded, never 5xx.

A 5xx makes the provider redeliver for days; a body that verified but cannot be read will
not improve, so it is refused (400) at parse or translation, before the inbox sees it.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webhooks._support import SECRET, SideEffects, signed
from vbwd_plugins import (
    PaymentEventType,
    PluginManager,
    WebhookProcessor,
)
from vbwd_plugins.stores import SQLiteStateStore
from vbwd_plugins.testing import MockPaymentPlugin

_ids = itertools.count()
#: Stands for a JSON number ``json.dumps`` cannot write (replaced in the body text).
BIG = "__number_1e400__"


def _event_id() -> str:
    return f"evt_malformed_{next(_ids)}"


def mock_event(**data: Any) -> dict[str, Any]:
    """A mock payment.completed event; ``created`` and the data fields can be replaced."""
    created = data.pop("created", int(time.time()))
    fields: dict[str, Any] = {"transaction_id": "mock_pay_1", "amount": 2900, "currency": "EUR"}
    fields.update(data)
    return {
        "id": _event_id(),
        "type": PaymentEventType.COMPLETED.value,
        "created": created,
        "data": fields,
    }


def body_of(event: object) -> bytes:
    """The JSON text of ``event`` (``NaN``/``Infinity`` written as tokens, BIG as 1e400)."""
    return json.dumps(event).replace(f'"{BIG}"', "1e400").encode()


def nested(depth: int) -> bytes:
    """A mock event whose ``extra`` member nests ``depth`` arrays."""
    text = body_of(mock_event()).decode()
    return (text[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}").encode()


MALFORMED: dict[str, bytes] = {
    "nesting 100000 deep": nested(100_000),
    "nesting 65 deep": nested(65),
    "NaN": body_of(mock_event(amount=float("nan"))),
    "Infinity": body_of(mock_event(amount=float("inf"))),
    "-Infinity elsewhere": body_of({**mock_event(), "extra": float("-inf")}),
    "1e400": body_of(mock_event(amount=BIG)),
    "negative amount": body_of(mock_event(amount=-5)),
    "fractional amount": body_of(mock_event(amount=29.5)),
    "huge amount": body_of(mock_event(amount=10**40)),
    "created far in the future": body_of(mock_event(created=10**20)),
    "created far in the past": body_of(mock_event(created=-(10**15))),
    "created before 1970": body_of(mock_event(created=-1)),
    "created past 9999": body_of(mock_event(created=253_402_300_800)),
    "NUL in currency": body_of(mock_event(currency="EU\x00")),
    "leading NUL in currency": body_of(mock_event(currency="\x00EUR")),
    "four-letter currency": body_of(mock_event(currency="EURO")),
    "non-ASCII currency": body_of(mock_event(currency="\u0131ls")),
    "NUL in the transaction id": body_of(mock_event(transaction_id="pay\x00")),
    "unpaired surrogate in metadata": body_of(mock_event(user_id="\ud800")),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_signed_malformed_event_is_400_and_nothing_is_recorded(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects, body: bytes
) -> None:
    """Each signed but malformed body: 400, no inbox row, no listener ran."""
    delivery = signed(mock, body)
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 400, response
    assert response.body["status"] == "rejected"
    assert processor.inbox.inbox_list() == []
    assert effects.counts() == {}


def test_the_same_event_well_formed_is_processed(
    processor: WebhookProcessor, mock: MockPaymentPlugin, effects: SideEffects
) -> None:
    """The template the cases above break is itself accepted (so they test what they say)."""
    event = mock_event(created=253_402_300_799)
    delivery = signed(mock, body_of(event))
    response = processor.process("mock", delivery.headers, delivery.body)
    assert response.status == 200
    assert effects.counts() == {event["id"]: 1}


# -- hypothesis: hostile values where translation reads ------------------------------------

_hostile = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities included: json.dumps writes them as tokens
    st.just(BIG),
    st.text(max_size=6),
    st.sampled_from(["EUR", "eur", "EU\x00", "\x00", "\u0131ls", "JPY", "\ud800", ""]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _maybe(valid: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), _hostile)


@st.composite
def _mock_events(draw: st.DrawFn) -> tuple[str, bytes]:
    event_type = draw(st.sampled_from([*PaymentEventType, "other.type"]))
    data = {
        name: draw(_maybe(valid))
        for name, valid in (
            ("transaction_id", "mock_pay_1"),
            ("amount", 2900),
            ("currency", "EUR"),
            ("subscription_id", "sub-1"),
            ("user_id", None),
            ("refund_id", None),
            ("error_code", None),
            ("error_message", None),
        )
    }
    event_id = _event_id()
    event = {
        "id": event_id,
        "type": str(event_type),
        "created": draw(_maybe(int(time.time()))),
        "data": data,
    }
    depth = draw(st.sampled_from([0, 0, 1, 63, 64, 65, 500]))
    if depth:
        event["extra"] = json.loads("[" * depth + "]" * depth)
    return event_id, body_of(event)


@pytest.fixture
def sqlite_pipeline(
    tmp_path: Path,
) -> Iterator[Callable[[], tuple[WebhookProcessor, SQLiteStateStore]]]:
    """Builds a SQLite-backed processor with a mock provider (hypothesis needs no fixtures)."""
    stores: list[SQLiteStateStore] = []

    def build() -> tuple[WebhookProcessor, SQLiteStateStore]:
        store = SQLiteStateStore(tmp_path / f"inbox-{len(stores)}.sqlite3")
        stores.append(store)
        manager = PluginManager(store=store)
        mock = MockPaymentPlugin(webhook_secret=SECRET)
        manager.register_plugin(mock)
        manager.initialize_plugin("mock")
        manager.enable_plugin("mock")
        return WebhookProcessor(manager), store

    yield build
    for store in stores:
        store.close()


def test_no_signed_mock_event_gets_a_5xx(
    sqlite_pipeline: Callable[[], tuple[WebhookProcessor, SQLiteStateStore]],
) -> None:
    """Whatever a signed mock event holds: 200 or 400, and a 400 records nothing."""
    processor, store = sqlite_pipeline()
    mock = processor.manager.get_plugin("mock")
    assert isinstance(mock, MockPaymentPlugin)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(event=_mock_events())
    def check(event: tuple[str, bytes]) -> None:
        event_id, body = event
        delivery = signed(mock, body)
        response = processor.process("mock", delivery.headers, delivery.body)
        assert response.status in (200, 400), (response, body)
        row = store.inbox_get("mock", event_id)
        assert (row is not None) == (response.status == 200), (response, body)

    check()
