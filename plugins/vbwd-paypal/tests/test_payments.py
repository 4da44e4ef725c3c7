"""Orders, captures, authorizations and refunds against the fake PayPal over real HTTP."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from vbwd_paypal.testing import error_body

from vbwd_plugins import (
    Money,
    PaymentErrorCode,
    PaymentStatus,
)
from vbwd_plugins.errors import MoneyError

from .conftest import Rig

SUB = uuid.UUID("7f1d6c53-2a3e-4d7e-9b1f-0c9a5e2d4b11")
USER = uuid.UUID("0b8e2f44-9c1a-4f6b-8d3e-5a7c9e1f2b33")


def create(rig: Rig, amount: str = "10.00", currency: str = "USD", **kwargs: object) -> str:
    """Create an order and return its id."""
    result = rig.plugin.create_payment_intent(Decimal(amount), currency, SUB, USER, **kwargs)  # type: ignore[arg-type]
    assert result.success, result
    assert result.transaction_id
    return result.transaction_id


def paid(rig: Rig, amount: str = "10.00", currency: str = "USD") -> str:
    """Create, approve and capture an order; return the capture id."""
    order_id = create(rig, amount, currency)
    rig.fake.approve(order_id)
    result = rig.plugin.process_payment(order_id, "paypal")
    assert result.success, result
    assert result.transaction_id
    return result.transaction_id


def test_create_sends_an_order_and_returns_the_approval_link(rig: Rig) -> None:
    """An order is created with intent CAPTURE, the amount string and the payer's approval link."""
    result = rig.plugin.create_payment_intent(
        Decimal("10.50"),
        "usd",
        SUB,
        USER,
        {"description": "Pro plan", "return_url": "https://shop.example/ok", "other": "x"},
        idempotency_key="order-key-1",
    )
    assert result.success
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.amount == 1050
    assert result.currency == "USD"
    assert result.metadata["approval_url"].endswith(f"token={result.transaction_id}")
    assert result.metadata["subscription_id"] == str(SUB)
    assert result.metadata["user_id"] == str(USER)
    (sent,) = rig.fake.calls("POST", "/v2/checkout/orders")
    body = sent.json
    assert body["intent"] == "CAPTURE"
    unit = body["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "USD", "value": "10.50"}
    assert unit["description"] == "Pro plan"
    assert unit["custom_id"] == f"{SUB},{USER}"
    assert body["payment_source"]["paypal"]["experience_context"] == {
        "return_url": "https://shop.example/ok"
    }
    assert "other" not in json.dumps(body)
    assert sent.header("PayPal-Request-Id") == "order-key-1"


@pytest.mark.parametrize(
    ("amount", "currency", "value", "iso_units"),
    [
        ("1000", "HUF", "1000", 100000),
        ("1500", "JPY", "1500", 1500),
        ("300", "TWD", "300", 30000),
        ("12.34", "EUR", "12.34", 1234),
    ],
)
def test_amounts_follow_paypal_currency_rules(
    rig: Rig, amount: str, currency: str, value: str, iso_units: int
) -> None:
    """HUF, JPY and TWD go out without decimals; results report ISO minor units."""
    result = rig.plugin.create_payment_intent(Decimal(amount), currency, SUB, USER)
    assert result.success, result
    assert result.amount == iso_units
    (sent,) = rig.fake.calls("POST", "/v2/checkout/orders")
    assert sent.json["purchase_units"][0]["amount"]["value"] == value


def test_huf_with_decimals_is_refused_before_any_request(rig: Rig) -> None:
    """10.50 HUF is valid ISO money but not on PayPal: MoneyError, nothing sent."""
    with pytest.raises(MoneyError):
        rig.plugin.create_payment_intent(Decimal("10.50"), "HUF", SUB, USER)
    assert rig.fake.calls() == []


def test_capture_after_approval_completes(rig: Rig) -> None:
    """process_payment captures the approved order and returns the capture id."""
    order_id = create(rig)
    rig.fake.approve(order_id)
    result = rig.plugin.process_payment(order_id, "paypal", idempotency_key="cap-1")
    assert result.success
    assert result.status is PaymentStatus.COMPLETED
    assert result.transaction_id != order_id
    assert result.metadata["order_id"] == order_id
    assert result.amount == 1000
    (capture,) = rig.fake.calls("POST", f"/v2/checkout/orders/{order_id}/capture")
    assert capture.header("PayPal-Request-Id") == "cap-1"


def test_process_before_approval_asks_for_payer_action(rig: Rig) -> None:
    """An unapproved order is not captured; the result points at the approval link."""
    order_id = create(rig)
    result = rig.plugin.process_payment(order_id, "paypal")
    assert not result.success
    assert result.error_code is PaymentErrorCode.PAYER_ACTION_REQUIRED
    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert "approval_url" in result.metadata
    assert rig.fake.calls("POST", f"/v2/checkout/orders/{order_id}/capture") == []


def test_process_twice_reports_the_existing_capture(rig: Rig) -> None:
    """Processing an already captured order returns that capture instead of failing."""
    capture_id = paid(rig)
    order_id = rig.fake.captures[capture_id]["supplementary_data"]["related_ids"]["order_id"]
    again = rig.plugin.process_payment(order_id, "paypal")
    assert again.success
    assert again.transaction_id == capture_id
    assert len(rig.fake.calls("POST", f"/v2/checkout/orders/{order_id}/capture")) == 1


def test_declined_capture_error_becomes_a_declined_result(rig: Rig) -> None:
    """PayPal's 422 INSTRUMENT_DECLINED becomes DECLINED with debug_id kept."""
    order_id = create(rig)
    rig.fake.approve(order_id)
    rig.fake.decline_next = "error"
    result = rig.plugin.process_payment(order_id, "paypal")
    assert not result.success
    assert result.status is PaymentStatus.FAILED
    assert result.error_code is PaymentErrorCode.DECLINED
    assert result.transaction_id == order_id
    assert result.metadata["paypal_issues"] == ["INSTRUMENT_DECLINED"]
    assert result.metadata["debug_id"]
    assert result.metadata["debug_id"] in (result.error_message or "")


def test_declined_capture_status_becomes_a_declined_result(rig: Rig) -> None:
    """A capture created with status DECLINED is a failed, declined result."""
    order_id = create(rig)
    rig.fake.approve(order_id)
    rig.fake.decline_next = "status"
    result = rig.plugin.process_payment(order_id, "paypal")
    assert not result.success
    assert result.error_code is PaymentErrorCode.DECLINED
    assert result.metadata["status_reason"] == "DECLINED_BY_RISK_FRAUD_FILTERS"


def test_error_body_fields_reach_the_result(rig: Rig) -> None:
    """name, message, debug_id and details of a PayPal error body all reach the result."""
    rig.fake.script(
        "POST",
        r"/v2/checkout/orders",
        400,
        error_body("INVALID_REQUEST", "Request is not well-formed.", "INVALID_PARAMETER_VALUE"),
    )
    result = rig.plugin.create_payment_intent(Decimal("5.00"), "USD", SUB, USER)
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert result.metadata["paypal_error"] == "INVALID_REQUEST"
    assert result.metadata["http_status"] == 400
    assert "Request is not well-formed." in (result.error_message or "")
    assert "INVALID_PARAMETER_VALUE" in (result.error_message or "")


def test_full_refund(rig: Rig) -> None:
    """A refund without amount refunds the rest and reports the refund id and amount."""
    capture_id = paid(rig)
    result = rig.plugin.refund_payment(capture_id, idempotency_key="refund-1")
    assert result.success
    assert result.status is PaymentStatus.REFUNDED
    assert result.amount == 1000
    assert result.metadata["capture_id"] == capture_id
    (sent,) = rig.fake.calls("POST", f"/v2/payments/captures/{capture_id}/refund")
    assert sent.json == {"custom_id": f"{SUB},{USER}"}
    assert sent.header("PayPal-Request-Id") == "refund-1"
    assert rig.plugin.get_payment(capture_id).status is PaymentStatus.REFUNDED


def test_partial_refunds_report_their_own_amounts(rig: Rig) -> None:
    """Two partial refunds each report their amount; the capture is partly refunded between."""
    capture_id = paid(rig, "10.00", "EUR")
    first = rig.plugin.refund_payment(capture_id, Money("2.50", "EUR"))
    assert first.amount == 250
    assert rig.plugin.get_payment(capture_id).status is PaymentStatus.PARTIALLY_REFUNDED
    second = rig.plugin.refund_payment(capture_id, Decimal("3.00"))
    assert second.amount == 300
    bodies = [c.json for c in rig.fake.calls("POST", f"/v2/payments/captures/{capture_id}/refund")]
    assert [b["amount"] for b in bodies] == [
        {"currency_code": "EUR", "value": "2.50"},
        {"currency_code": "EUR", "value": "3.00"},
    ]


def test_refund_in_another_currency_is_refused(rig: Rig) -> None:
    """Money in a currency other than the capture's is an invalid request, nothing refunded."""
    capture_id = paid(rig, "10.00", "EUR")
    result = rig.plugin.refund_payment(capture_id, Money("1.00", "USD"))
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert rig.fake.calls("POST", f"/v2/payments/captures/{capture_id}/refund") == []


def test_refund_by_order_id(rig: Rig) -> None:
    """A host that only kept the order id can still refund its capture."""
    capture_id = paid(rig)
    order_id = rig.fake.captures[capture_id]["supplementary_data"]["related_ids"]["order_id"]
    fresh = type(rig.plugin)(session=rig.plugin.session)
    fresh.initialize(rig.config)
    result = fresh.refund_payment(order_id, Money("1.00", "USD"))
    assert result.success, result
    assert result.metadata["capture_id"] == capture_id


def test_refunding_too_much_is_an_invalid_request(rig: Rig) -> None:
    """PayPal's REFUND_AMOUNT_EXCEEDED becomes INVALID_REQUEST."""
    capture_id = paid(rig)
    result = rig.plugin.refund_payment(capture_id, Money("10.01", "USD"))
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert result.metadata["paypal_issues"] == ["REFUND_AMOUNT_EXCEEDED"]


def test_manual_capture_authorizes_then_captures_part(rig: Rig) -> None:
    """manual_capture creates an AUTHORIZE order; capture_payment takes part of it."""
    order_id = create(rig, manual_capture=True)
    assert rig.fake.calls("POST", "/v2/checkout/orders")[0].json["intent"] == "AUTHORIZE"
    rig.fake.approve(order_id)
    authorized = rig.plugin.process_payment(order_id, "paypal")
    assert authorized.status is PaymentStatus.AUTHORIZED
    assert authorized.transaction_id is not None
    captured = rig.plugin.capture_payment(authorized.transaction_id, Money("4.00", "USD"))
    assert captured.status is PaymentStatus.COMPLETED
    assert captured.amount == 400
    (sent,) = rig.fake.calls("POST", "/v2/payments/authorizations/")
    assert sent.json == {"amount": {"currency_code": "USD", "value": "4.00"}, "final_capture": True}
    assert rig.plugin.get_payment(authorized.transaction_id).status is PaymentStatus.COMPLETED


def test_cancel_voids_an_authorization(rig: Rig) -> None:
    """cancel_payment voids the authorization; get_payment then reports CANCELLED."""
    order_id = create(rig, manual_capture=True)
    rig.fake.approve(order_id)
    authorized = rig.plugin.process_payment(order_id, "paypal")
    assert authorized.transaction_id is not None
    cancelled = rig.plugin.cancel_payment(authorized.transaction_id, idempotency_key="void-1")
    assert cancelled.success
    assert cancelled.status is PaymentStatus.CANCELLED
    assert rig.fake.request_ids()[-1] == "void-1"
    assert rig.plugin.get_payment(order_id).status is PaymentStatus.CANCELLED


def test_cancel_of_an_unauthorized_order_is_an_invalid_request(rig: Rig) -> None:
    """Orders v2 has no void for orders: cancelling one is refused with a reason."""
    order_id = create(rig)
    result = rig.plugin.cancel_payment(order_id)
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert "not authorized" in (result.error_message or "")


def test_get_payment_follows_the_order(rig: Rig) -> None:
    """get_payment of an order reports CREATED as REQUIRES_ACTION, then its capture."""
    order_id = create(rig)
    assert rig.plugin.get_payment(order_id).status is PaymentStatus.REQUIRES_ACTION
    rig.fake.approve(order_id)
    assert rig.plugin.get_payment(order_id).status is PaymentStatus.PENDING
    rig.plugin.process_payment(order_id, "paypal")
    current = rig.plugin.get_payment(order_id)
    assert current.status is PaymentStatus.COMPLETED
    assert current.metadata["order_id"] == order_id
    assert current.transaction_id == current.metadata["capture_id"]


def test_get_payment_of_an_unknown_id_is_not_found(rig: Rig) -> None:
    """An id that is no order, capture, authorization or refund is NOT_FOUND."""
    result = rig.plugin.get_payment("NOSUCHID000000000")
    assert result.error_code is PaymentErrorCode.NOT_FOUND


def test_get_payment_of_a_refund(rig: Rig) -> None:
    """A refund id reports the refund's status and amount."""
    capture_id = paid(rig)
    refund = rig.plugin.refund_payment(capture_id, Money("2.00", "USD"))
    assert refund.transaction_id is not None
    fresh = type(rig.plugin)(session=rig.plugin.session)
    fresh.initialize(rig.config)
    current = fresh.get_payment(refund.transaction_id)
    assert current.status is PaymentStatus.REFUNDED
    assert current.amount == 200
    assert current.metadata["capture_id"] == capture_id


def test_generated_request_ids_differ_per_call(rig: Rig) -> None:
    """Without idempotency keys each money-moving call carries its own PayPal-Request-Id."""
    create(rig)
    create(rig)
    ids = rig.fake.request_ids()
    assert len(ids) == 2
    assert len(set(ids)) == 2
    assert all(rid.startswith("vbwd-") for rid in ids)


def test_same_idempotency_key_returns_the_same_order(rig: Rig) -> None:
    """Repeating a create with the same key yields PayPal's first answer (same order)."""
    first = create(rig, idempotency_key="same-key")
    second = create(rig, idempotency_key="same-key")
    assert first == second
    assert len(rig.fake.orders) == 1


def test_overlong_idempotency_key_is_an_invalid_request(rig: Rig) -> None:
    """PayPal-Request-Id holds at most 108 characters: longer keys are refused locally."""
    result = rig.plugin.create_payment_intent(
        Decimal("1.00"), "USD", SUB, USER, idempotency_key="k" * 109
    )
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert rig.fake.calls() == []


@pytest.mark.parametrize(
    ("subscription_id", "user_id"),
    [("s" * 80, "u" * 80), ("sub,1", "user"), ("sub 1", "user"), ("", "user")],
)
def test_ids_that_cannot_travel_in_custom_id_are_an_invalid_request(
    rig: Rig, subscription_id: str, user_id: str
) -> None:
    """Ids too long for custom_id (127) or outside its alphabet are refused, never mangled."""
    result = rig.plugin.create_payment_intent(
        Decimal("1.00"),
        "USD",
        subscription_id,  # type: ignore[arg-type]
        user_id,  # type: ignore[arg-type]
    )
    assert result.error_code is PaymentErrorCode.INVALID_REQUEST
    assert "custom_id" in (result.error_message or "")
    assert rig.fake.calls() == []
