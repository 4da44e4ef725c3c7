"""Orders v2: create, read, approve (as the payer), capture and authorize."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ._resources import Reply, Resources
from ._wire import Answer, Recorded, error_body, new_id, now_iso, public


class OrdersAPI(Resources):
    """The ``/v2/checkout/orders`` endpoints."""

    def approve(self, order_id: str) -> None:
        """What the payer does on PayPal's approval page."""
        with self.lock:
            order = self.orders[order_id]
            if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
                order["status"] = "APPROVED"
                order["payer"] = {"payer_id": new_id(13), "email_address": "buyer@example.com"}

    def order_view(self, order_id: str) -> dict[str, Any]:
        """Order ``order_id`` as ``GET /v2/checkout/orders/{id}`` shows it (what PayPal's
        ``CHECKOUT.ORDER.*`` webhooks carry as their resource)."""
        with self.lock:
            return self._view(self.orders[order_id])

    def _create_order(self, record: Recorded) -> Reply:
        body = record.json
        if not isinstance(body, dict) or body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            raise Answer(
                400, error_body("INVALID_REQUEST", "bad intent", "INVALID_PARAMETER_VALUE")
            )
        units = body.get("purchase_units")
        if not isinstance(units, list) or len(units) != 1:
            raise Answer(
                400, error_body("INVALID_REQUEST", "purchase_units", "INVALID_ARRAY_LENGTH")
            )
        unit = dict(units[0])
        self._check_amount(unit.get("amount"))
        custom_id = unit.get("custom_id")
        if custom_id is not None and len(custom_id) > 127:
            raise Answer(400, error_body("INVALID_REQUEST", "custom_id", "INVALID_STRING_LENGTH"))
        order_id = new_id()
        unit.setdefault("reference_id", "default")
        order = {
            "id": order_id,
            "intent": body["intent"],
            "status": "CREATED",
            "purchase_units": [unit],
            "create_time": now_iso(),
            "links": [
                self._link(f"/v2/checkout/orders/{order_id}", "self"),
                {
                    "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}",
                    "rel": "approve",
                    "method": "GET",
                },
                self._link(f"/v2/checkout/orders/{order_id}", "update", "PATCH"),
                self._link(
                    f"/v2/checkout/orders/{order_id}/{body['intent'].lower()}",
                    body["intent"].lower(),
                    "POST",
                ),
            ],
        }
        if "payment_source" in body:
            order["payment_source"] = body["payment_source"]
        self.orders[order_id] = order
        return 201, order

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise Answer(
                404,
                error_body(
                    "RESOURCE_NOT_FOUND",
                    "The specified resource does not exist.",
                    "INVALID_RESOURCE_ID",
                    "Specified resource ID does not exist.",
                ),
            )
        if self.auto_approve and order["status"] == "CREATED":
            self.approve(order_id)
        return order

    def _view(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """The order as PayPal shows it: payments with their current status."""
        view = public(order)
        unit = dict(view["purchase_units"][0])
        payments: dict[str, Any] = {}
        if order.get("_captures"):
            payments["captures"] = [public(self.captures[i]) for i in order["_captures"]]
        if order.get("_authorizations"):
            payments["authorizations"] = [
                dict(self.authorizations[i]) for i in order["_authorizations"]
            ]
        if payments:
            unit["payments"] = payments
        view["purchase_units"] = [unit]
        return view

    def _get_order(self, record: Recorded, order_id: str) -> Reply:
        return 200, self._view(self._order(order_id))

    def _ready(self, order: dict[str, Any], action: str) -> None:
        if order["status"] == "COMPLETED":
            issue = "ORDER_ALREADY_CAPTURED" if action == "capture" else "ORDER_ALREADY_AUTHORIZED"
            raise Answer(422, error_body("UNPROCESSABLE_ENTITY", "Already done.", issue))
        if order["status"] != "APPROVED":
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment.",
                ),
            )
        if order["intent"] != action.upper():
            raise Answer(
                422,
                error_body("UNPROCESSABLE_ENTITY", "Wrong intent.", "ACTION_DOES_NOT_MATCH_INTENT"),
            )

    def _declined(self) -> str | None:
        mode, self.decline_next = self.decline_next, None
        if mode == "error":
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "INSTRUMENT_DECLINED",
                    "The instrument presented was either declined by the processor or bank.",
                ),
            )
        return mode

    def _capture_order(self, record: Recorded, order_id: str) -> Reply:
        order = self._order(order_id)
        self._ready(order, "capture")
        mode = self._declined()
        unit = order["purchase_units"][0]
        capture = self._new_capture(
            unit, unit["amount"], order_id, "DECLINED" if mode == "status" else "COMPLETED"
        )
        order["_captures"] = [capture["id"]]
        order["status"] = "COMPLETED"
        return 201, self._view(order)

    def _authorize_order(self, record: Recorded, order_id: str) -> Reply:
        order = self._order(order_id)
        self._ready(order, "authorize")
        self._declined()
        unit = order["purchase_units"][0]
        authorization_id = new_id()
        authorization: dict[str, Any] = {
            "id": authorization_id,
            "status": "CREATED",
            "amount": dict(unit["amount"]),
            "expiration_time": (datetime.now(UTC) + timedelta(days=29)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": now_iso(),
            "update_time": now_iso(),
            "links": [
                self._link(f"/v2/payments/authorizations/{authorization_id}", "self"),
                self._link(
                    f"/v2/payments/authorizations/{authorization_id}/capture", "capture", "POST"
                ),
                self._link(f"/v2/payments/authorizations/{authorization_id}/void", "void", "POST"),
                self._link(f"/v2/checkout/orders/{order_id}", "up"),
            ],
        }
        if unit.get("custom_id") is not None:
            authorization["custom_id"] = unit["custom_id"]
        self.authorizations[authorization_id] = authorization
        order["_authorizations"] = [authorization_id]
        order["status"] = "COMPLETED"
        return 201, self._view(order)
