"""After the money moved: subscription sales (``/v1/payments/sale``: read, refund), their
refunds (``/v1/payments/refund``: read) and customer disputes on a capture or a sale
(test controls, ``/v1/customer/disputes``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from vbwd_plugins.testing import WebhookDelivery

from ._billing import BillingEngine
from ._cycles import money, money_value
from ._resources import ZERO_DECIMAL, Reply
from ._wire import Answer, Recorded, error_body, new_id

#: The outcomes ``CUSTOMER.DISPUTE.RESOLVED`` carries in ``dispute_outcome.outcome_code``.
DISPUTE_OUTCOMES = frozenset(
    {
        "RESOLVED_BUYER_FAVOUR",
        "RESOLVED_SELLER_FAVOUR",
        "RESOLVED_WITH_PAYOUT",
        "CANCELED_BY_BUYER",
        "ACCEPTED",
        "DENIED",
        "NONE",
    }
)


def _v1_error(name: str, message: str) -> Answer:
    """A Payments v1 error (``{name, message, information_link, debug_id}``)."""
    body = error_body(name, message)
    body["information_link"] = f"https://developer.paypal.com/docs/api/payments/v1/#errors-{name}"
    return Answer(400, body)


class DisputesAPI(BillingEngine):
    """Sale reads and refunds; dispute controls and reads."""

    def _get_sale(self, record: Recorded, sale_id: str) -> Reply:
        sale = self.sales.get(sale_id)
        if sale is None:
            raise self._not_found()
        return 200, self._sale_view(sale)

    def _get_sale_refund(self, record: Recorded, refund_id: str) -> Reply:
        refund = self.sale_refunds.get(refund_id)
        if refund is None:
            raise self._not_found()
        return 200, refund

    def _refund_sale(self, record: Recorded, sale_id: str) -> Reply:
        sale = self.sales.get(sale_id)
        if sale is None:
            raise self._not_found()
        currency = sale["amount"]["currency"]
        total = Decimal(sale["amount"]["total"])
        left = total - sale["_refunded"]
        if left <= 0:
            raise _v1_error("TRANSACTION_ALREADY_REFUNDED", "Requested transaction is refunded.")
        body = record.json if isinstance(record.json, dict) else {}
        value = left
        if body.get("amount") is not None:
            amount = body["amount"]
            if not isinstance(amount, dict) or amount.get("currency") != currency:
                raise _v1_error("CURRENCY_MISMATCH", f"The refund currency must be {currency}.")
            pattern_ok = isinstance(amount.get("total"), str)
            try:
                value = Decimal(amount["total"]) if pattern_ok else Decimal(-1)
            except InvalidOperation:
                value = Decimal(-1)
            places = 0 if currency in ZERO_DECIMAL else 2
            if value <= 0 or value != round(value, places):
                raise _v1_error("VALIDATION_ERROR", "Invalid request - see details.")
            if value > left:
                raise _v1_error(
                    "REFUND_EXCEEDED_TRANSACTION_AMOUNT",
                    "Refund amount exceeded transaction amount.",
                )
        sale["_refunded"] += value
        sale["state"] = "refunded" if sale["_refunded"] == total else "partially_refunded"
        sale["update_time"] = self._at()
        refund_id = new_id()
        refund: dict[str, Any] = {
            "id": refund_id,
            "state": "completed",
            "amount": {"total": money_value(value, currency), "currency": currency},
            "sale_id": sale_id,
            "total_refunded_amount": {
                "value": money_value(sale["_refunded"], currency),
                "currency": currency,
            },
            "create_time": self._at(),
            "update_time": self._at(),
            "links": [
                self._link(f"/v1/payments/refund/{refund_id}", "self"),
                self._link(f"/v1/payments/sale/{sale_id}", "up"),
            ],
        }
        self.sale_refunds[refund_id] = refund
        resource = dict(refund, billing_agreement_id=sale["billing_agreement_id"])
        if self.sale_custom and sale["_custom"] is not None:
            resource["custom"] = sale["_custom"]
        summary = f"A {money_value(value, currency)} {currency} sale payment was refunded"
        self.outbox.append(self._event("PAYMENT.SALE.REFUNDED", resource, "refund", summary))
        return 201, refund

    def _get_dispute(self, record: Recorded, dispute_id: str) -> Reply:
        dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise self._not_found()
        return 200, dispute

    def open_dispute(
        self,
        transaction_id: str,
        amount: str | None = None,
        reason: str = "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        *,
        stage: str = "CHARGEBACK",
    ) -> list[WebhookDelivery]:
        """The buyer disputes a capture (Orders) or a subscription sale; returns
        ``[CUSTOMER.DISPUTE.CREATED]``.

        ``amount`` is PayPal's decimal string in the transaction's currency (default: the
        whole transaction). The dispute is stored in ``disputes`` under its
        ``dispute_id`` (``PP-D-...``), which the delivery's resource carries.
        """
        with self.lock:
            capture = self.captures.get(transaction_id)
            sale = self.sales.get(transaction_id)
            if capture is not None:
                gross, created = dict(capture["amount"]), capture["create_time"]
                custom = capture.get("custom_id")
            elif sale is not None:
                gross = money(Decimal(sale["amount"]["total"]), sale["amount"]["currency"])
                created, custom = sale["create_time"], sale["_custom"]
            else:
                raise KeyError(f"FakePayPal: no capture or sale {transaction_id!r}")
            value = Decimal(amount) if amount is not None else Decimal(gross["value"])
            if not 0 < value <= Decimal(gross["value"]):
                raise ValueError(f"FakePayPal: dispute amount {amount!r} exceeds {gross}")
            transaction: dict[str, Any] = {
                "seller_transaction_id": transaction_id,
                "create_time": created,
                "transaction_status": "COMPLETED",
                "gross_amount": gross,
                "buyer": {"name": "John Doe"},
                "seller": {"merchant_id": "FAKEMERCHANT01"},
            }
            if custom is not None:
                transaction["custom"] = custom
            dispute_id = f"PP-D-{new_id(5)}"
            dispute: dict[str, Any] = {
                "dispute_id": dispute_id,
                "create_time": self._at(),
                "update_time": self._at(),
                "disputed_transactions": [transaction],
                "reason": reason,
                "status": "OPEN",
                "dispute_amount": money(value, gross["currency_code"]),
                "dispute_life_cycle_stage": stage,
                "dispute_channel": "INTERNAL",
                "links": [self._link(f"/v1/customer/disputes/{dispute_id}", "self")],
            }
            self.disputes[dispute_id] = dispute
            summary = f"A new dispute opened with Case # {dispute_id}"
            event = self._event("CUSTOMER.DISPUTE.CREATED", dispute, "dispute", summary)
            return self._sign([event])

    def resolve_dispute(
        self, dispute_id: str, outcome: str = "RESOLVED_BUYER_FAVOUR"
    ) -> list[WebhookDelivery]:
        """Close a dispute with ``outcome`` (``DISPUTE_OUTCOMES``); returns
        ``[CUSTOMER.DISPUTE.RESOLVED]`` with ``status: RESOLVED`` and ``dispute_outcome``
        (``amount_refunded`` when the buyer won)."""
        if outcome not in DISPUTE_OUTCOMES:
            raise ValueError(f"FakePayPal: unknown dispute outcome {outcome!r}")
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise KeyError(f"FakePayPal: no dispute {dispute_id!r}")
            if dispute["status"] == "RESOLVED":
                raise ValueError(f"FakePayPal: dispute {dispute_id} is already resolved")
            result: dict[str, Any] = {"outcome_code": outcome}
            if outcome in ("RESOLVED_BUYER_FAVOUR", "ACCEPTED"):
                result["amount_refunded"] = dict(dispute["dispute_amount"])
            dispute.update(status="RESOLVED", dispute_outcome=result, update_time=self._at())
            summary = f"A dispute was resolved with case # {dispute_id}"
            event = self._event("CUSTOMER.DISPUTE.RESOLVED", dispute, "dispute", summary)
            return self._sign([event])
