"""The fake's stored resources and what the orders and payments endpoints share."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from ._wire import Answer, error_body, new_id, now_iso

ZERO_DECIMAL: Final = frozenset({"HUF", "JPY", "TWD"})

Reply = tuple[int, Any]


class Resources:
    """Orders, captures, authorizations and refunds as PayPal stores them.

    The attributes are set by :class:`FakePayPal`; fields starting with ``_`` are the
    fake's own bookkeeping and never shown to the client.
    """

    base_url: str
    lock: threading.RLock
    auto_approve: bool
    decline_next: str | None
    orders: dict[str, dict[str, Any]]
    captures: dict[str, dict[str, Any]]
    authorizations: dict[str, dict[str, Any]]
    refunds: dict[str, dict[str, Any]]

    def _link(self, path: str, rel: str, method: str = "GET") -> dict[str, str]:
        return {"href": f"{self.base_url}{path}", "rel": rel, "method": method}

    @staticmethod
    def _check_amount(amount: Any) -> Decimal:
        if not isinstance(amount, dict):
            raise Answer(
                400, error_body("INVALID_REQUEST", "amount missing", "MISSING_REQUIRED_PARAMETER")
            )
        currency, value = amount.get("currency_code"), amount.get("value")
        if not isinstance(currency, str) or not isinstance(value, str):
            raise Answer(
                400, error_body("INVALID_REQUEST", "bad amount", "INVALID_PARAMETER_VALUE")
            )
        pattern = r"\d{1,10}" if currency in ZERO_DECIMAL else r"\d{1,10}(\.\d{1,2})?"
        if not re.fullmatch(pattern, value):
            raise Answer(
                422,
                error_body(
                    "UNPROCESSABLE_ENTITY",
                    "The requested action could not be performed.",
                    "DECIMAL_PRECISION",
                    f"{currency} does not support {value!r}",
                ),
            )
        return Decimal(value)

    def _new_capture(
        self, unit: Mapping[str, Any], amount: Mapping[str, Any], order_id: str, status: str
    ) -> dict[str, Any]:
        capture_id = new_id()
        capture: dict[str, Any] = {
            "id": capture_id,
            "status": status,
            "amount": dict(amount),
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE"},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": now_iso(),
            "update_time": now_iso(),
            "links": [
                self._link(f"/v2/payments/captures/{capture_id}", "self"),
                self._link(f"/v2/payments/captures/{capture_id}/refund", "refund", "POST"),
                self._link(f"/v2/checkout/orders/{order_id}", "up"),
            ],
            "_refunded": "0",
        }
        if unit.get("custom_id") is not None:
            capture["custom_id"] = unit["custom_id"]
        if status == "DECLINED":
            capture["status_details"] = {"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"}
        self.captures[capture_id] = capture
        return capture

    def _not_found(self) -> Answer:
        return Answer(
            404,
            error_body(
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
                "Specified resource ID does not exist. Please check the resource ID and try again.",
            ),
        )
