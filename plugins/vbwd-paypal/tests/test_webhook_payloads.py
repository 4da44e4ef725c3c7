"""PayPal-signed but malformed events answer 400 before anything is recorded, never 5xx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vbwd_paypal.testing import WebhookSigner as Signer
from vbwd_paypal.testing import make_event

from vbwd_plugins import WebhookProcessor
from vbwd_plugins.stores import SQLiteStateStore

from .conftest import Rig, capture_resource

BIG = "__number_1e400__"


def body_of(event: object) -> bytes:
    """The JSON text of ``event`` (``NaN``/``Infinity`` as tokens, BIG as 1e400)."""
    return json.dumps(event).replace(f'"{BIG}"', "1e400").encode()


def capture(**fields: Any) -> dict[str, Any]:
    """A completed 10.00 USD capture; ``fields`` replace its members."""
    return {**capture_resource("3C679366HH908993F", 1000, "USD", custom="sub-1,user-1"), **fields}


MALFORMED: dict[str, dict[str, Any]] = {
    "negative amount": capture(amount={"currency_code": "USD", "value": "-10.00"}),
    "infinite amount": capture(amount={"currency_code": "USD", "value": "Infinity"}),
    "infinite number": capture(amount={"currency_code": "USD", "value": float("inf")}),
    "1e400 amount": capture(amount={"currency_code": "USD", "value": BIG}),
    "amount beyond Money": capture(amount={"currency_code": "USD", "value": "1e40"}),
    "NUL in currency": capture(amount={"currency_code": "US\x00", "value": "10.00"}),
    "NUL in the capture id": capture(id="3C67\x00"),
}


@pytest.mark.parametrize("resource", list(MALFORMED.values()), ids=list(MALFORMED))
def test_paypal_signed_malformed_event_is_400_and_nothing_is_recorded(
    rig: Rig, signer: Signer, tmp_path: Path, resource: dict[str, Any]
) -> None:
    """Each PayPal-signed but malformed capture event: 400, no inbox row, no event."""
    with SQLiteStateStore(tmp_path / "inbox.sqlite3") as inbox:
        processor = WebhookProcessor(rig.manager, inbox=inbox)
        body = body_of(make_event("PAYMENT.CAPTURE.COMPLETED", resource))
        response = processor.process("paypal", signer.headers(body), body)
        assert response.status == 400, response
        assert inbox.inbox_list() == []
    assert rig.dispatcher.events == []


_hostile = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.just(BIG),
    st.text(max_size=6),
    st.sampled_from(["USD", "usd", "US\x00", "\u0131ls", "JPY", "10.00", "-1", "1e400", "NaN", ""]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


def _maybe(valid: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), _hostile)


@st.composite
def _events(draw: st.DrawFn) -> bytes:
    resource = capture()
    amount = {
        "currency_code": draw(_maybe("USD")),
        "value": draw(_maybe("10.00")),
    }
    resource.update(
        id=draw(_maybe(resource["id"])),
        amount=draw(st.one_of(st.just(amount), _hostile)),
        custom_id=draw(_maybe(resource["custom_id"])),
        update_time=draw(_maybe(resource["update_time"])),
        create_time=draw(_maybe("0001-01-01T00:00:00+01:00")),
        status_details=draw(_maybe({"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"})),
        links=draw(_maybe([{"rel": "up", "href": "https://api.paypal.com/v2/captures/X"}])),
    )
    event_type = draw(
        st.sampled_from(
            [
                "PAYMENT.CAPTURE.COMPLETED",
                "PAYMENT.CAPTURE.DENIED",
                "PAYMENT.CAPTURE.REFUNDED",
                "PAYMENT.AUTHORIZATION.CREATED",
                "CUSTOMER.DISPUTE.CREATED",
            ]
        )
    )
    return body_of(make_event(event_type, resource))


def test_no_paypal_signed_event_gets_a_5xx(rig: Rig, signer: Signer, tmp_path: Path) -> None:
    """Whatever a PayPal-signed event holds: 200 or 400, and a 400 records nothing."""
    inbox = SQLiteStateStore(tmp_path / "inbox.sqlite3")
    processor = WebhookProcessor(rig.manager, inbox=inbox)

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=_events())
    def check(body: bytes) -> None:
        event_id = json.loads(body.replace(b"1e400", b"0"))["id"]
        response = processor.process("paypal", signer.headers(body), body)
        assert response.status in (200, 400), (response, body)
        recorded = inbox.inbox_get("paypal", event_id)
        assert (recorded is not None) == (response.status == 200), (response, body)

    try:
        check()
    finally:
        inbox.close()
