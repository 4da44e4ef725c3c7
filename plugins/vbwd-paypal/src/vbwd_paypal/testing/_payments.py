"""Payments v2: captures, authorizations (capture, void) and refunds."""

from __future__ import annotations

from decimal import Decimal

from ._resources import ZERO_DECIMAL, Reply, Resources
from ._wire import Answer, Recorded, error_body, new_id, now_iso, public


class PaymentsAPI(Resources):
    """The ``/v2/payments`` endpoints."""

    def _get_capture(self, record: Recorded, capture_id: str) -> Reply:
        capture = self.captures.get(capture_id)
        if capture is None:
            raise self._not_found()
        return 200, public(capture)

    def _get_authorization(self, record: Recorded, authorization_id: str) -> Reply:
        authorization = self.authorizations.get(authorization_id)
        if authorization is None:
            raise self._not_found()
        return 200, authorization

    def _get_refund(self, record: Recorded, refund_id: str) -> Reply:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise self._not_found()
        return 200, refund

    def _capture_authorization(self, record: Recorded, authorization_id: str) -> Reply:
        authorization = self.authorizations.get(authorization_id)
        if authorization is None:
            raise self._not_found()
        if authorization["status"] not in ("CREATED", "PARTIALLY_CAPTURED"):
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "AUTHORIZATION_ALREADY_CAPTURED"
                    if authorization["status"] == "CAPTURED"
                    else "AUTHORIZATION_VOIDED",
                ),
            )
        body = record.json or {}
        amount = body.get("amount") or authorization["amount"]
        value = self._check_amount(amount)
        if value > Decimal(authorization["amount"]["value"]):
            raise Answer(
                422, error_body("UNPROCESSABLE_ENTITY", "Too much.", "MAX_CAPTURE_AMOUNT_EXCEEDED")
            )
        order_id = authorization["supplementary_data"]["related_ids"]["order_id"]
        order = self.orders[order_id]
        unit = order["purchase_units"][0]
        capture = self._new_capture(unit, amount, order_id, "COMPLETED")
        authorization["status"] = "CAPTURED"
        authorization["update_time"] = now_iso()
        order.setdefault("_captures", []).append(capture["id"])
        return 201, public(capture)

    def _void(self, record: Recorded, authorization_id: str) -> Reply:
        authorization = self.authorizations.get(authorization_id)
        if authorization is None:
            raise self._not_found()
        if authorization["status"] != "CREATED":
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "PREVIOUSLY_CAPTURED"
                    if authorization["status"] == "CAPTURED"
                    else "PREVIOUSLY_VOIDED",
                ),
            )
        authorization["status"] = "VOIDED"
        authorization["update_time"] = now_iso()
        if record.header("Prefer") == "return=representation":
            return 200, authorization
        return 204, None

    def _refund(self, record: Recorded, capture_id: str) -> Reply:
        capture = self.captures.get(capture_id)
        if capture is None:
            raise self._not_found()
        total = Decimal(capture["amount"]["value"])
        refunded = Decimal(capture["_refunded"])
        if capture["status"] == "REFUNDED":
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "CAPTURE_FULLY_REFUNDED",
                ),
            )
        body = record.json or {}
        if body.get("amount") is not None:
            amount = dict(body["amount"])
            value = self._check_amount(amount)
            if amount["currency_code"] != capture["amount"]["currency_code"]:
                raise Answer(
                    422, error_body("UNPROCESSABLE_ENTITY", "Currency.", "REFUND_CURRENCY_MISMATCH")
                )
        else:
            value = total - refunded
            amount = {"currency_code": capture["amount"]["currency_code"], "value": str(value)}
            if capture["amount"]["currency_code"] not in ZERO_DECIMAL:
                amount["value"] = f"{value:.2f}"
        if refunded + value > total:
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "REFUND_AMOUNT_EXCEEDED",
                ),
            )
        refunded += value
        capture["_refunded"] = str(refunded)
        capture["status"] = "REFUNDED" if refunded == total else "PARTIALLY_REFUNDED"
        capture["update_time"] = now_iso()
        refund_id = new_id()
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": amount,
            "seller_payable_breakdown": {
                "gross_amount": amount,
                "total_refunded_amount": {
                    "currency_code": amount["currency_code"],
                    "value": capture["_refunded"],
                },
            },
            "create_time": now_iso(),
            "update_time": now_iso(),
            "links": [
                self._link(f"/v2/payments/refunds/{refund_id}", "self"),
                self._link(f"/v2/payments/captures/{capture_id}", "up"),
            ],
        }
        if body.get("custom_id") is not None:
            refund["custom_id"] = body["custom_id"]
        self.refunds[refund_id] = refund
        return 201, refund
