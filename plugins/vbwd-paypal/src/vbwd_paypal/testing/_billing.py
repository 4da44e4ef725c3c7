"""Recurring billing: the subscription's billing clock and the test controls that move it.

A subscription bills at *boundaries*: when it is activated (unless its ``start_time`` is
later) and then every interval of its current billing cycle. A boundary of a free trial
cycle bills nothing; any other bills the cycle's price (times the quantity) as a sale and
sends ``PAYMENT.SALE.COMPLETED``. A failed attempt leaves the cycle due, counts in
``billing_info.failed_payments_count`` and sends ``BILLING.SUBSCRIPTION.PAYMENT.FAILED``;
reaching the plan's ``payment_failure_threshold`` (when above 0) suspends the
subscription (``BILLING.SUBSCRIPTION.SUSPENDED``). After the last cycle of a plan whose
regular cycle is finite, the next boundary expires it (``BILLING.SUBSCRIPTION.EXPIRED``).

The fake's clock (:attr:`billing_now`) starts at the reset time and moves only through
:meth:`advance` and :meth:`renew`, so every billing time is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from vbwd_plugins.testing import WebhookDelivery

from ._cycles import RETRY_AFTER, BillingResources, add_interval, cycle_price, money, money_value
from ._signing import paypal_time
from ._wire import new_id

_SUMMARIES = {
    "BILLING.SUBSCRIPTION.CREATED": "Subscription created",
    "BILLING.SUBSCRIPTION.ACTIVATED": "Subscription activated",
    "BILLING.SUBSCRIPTION.UPDATED": "Subscription updated",
    "BILLING.SUBSCRIPTION.CANCELLED": "Subscription cancelled",
    "BILLING.SUBSCRIPTION.SUSPENDED": "Subscription suspended",
    "BILLING.SUBSCRIPTION.EXPIRED": "Subscription expired",
    "BILLING.SUBSCRIPTION.PAYMENT.FAILED": "Subscription payment failed",
}


class BillingEngine(BillingResources):
    """Subscription views, billing boundaries and the test controls of the billing clock."""

    # -- views -------------------------------------------------------------------------

    def _links(self, sub: Mapping[str, Any]) -> list[dict[str, str]]:
        path = f"/v1/billing/subscriptions/{sub['id']}"
        links = []
        if sub["status"] == "APPROVAL_PENDING":
            links.append(self._link(self._payer_page(sub["_token"]), "approve"))
        links += [self._link(path, "edit", "PATCH"), self._link(path, "self")]
        actions = {
            "ACTIVE": ("cancel", "suspend", "capture"),
            "SUSPENDED": ("cancel", "activate"),
            "APPROVED": ("cancel", "activate"),
        }
        links += [self._link(f"{path}/{a}", a, "POST") for a in actions.get(sub["status"], ())]
        return links

    @staticmethod
    def _payer_page(token: str) -> str:
        return f"/webapps/billing/subscriptions?ba_token={token}"

    def _currency(self, sub: Mapping[str, Any]) -> str:
        for cycle in sub["_cycles"]:
            fixed = (cycle.get("pricing_scheme") or {}).get("fixed_price")
            if fixed:
                return str(fixed["currency_code"])
        raise AssertionError("a plan always has a priced regular cycle")

    def _billing_info(self, sub: Mapping[str, Any]) -> dict[str, Any]:
        currency = self._currency(sub)
        executions = []
        for index, cycle in enumerate(sub["_cycles"]):
            done, total = sub["_executed"][index], cycle["total_cycles"]
            executions.append(
                {
                    "tenure_type": cycle["tenure_type"],
                    "sequence": cycle["sequence"],
                    "cycles_completed": done,
                    "cycles_remaining": max(total - done, 0) if total else 0,
                    "current_pricing_scheme_version": 1,
                    "total_cycles": total,
                }
            )
        info: dict[str, Any] = {
            "outstanding_balance": money(sub["_outstanding"], currency),
            "cycle_executions": executions,
            "failed_payments_count": sub["_failed"],
        }
        if sub["_last_payment"] is not None:
            info["last_payment"] = sub["_last_payment"]
        if sub["_last_failed"] is not None:
            info["last_failed_payment"] = sub["_last_failed"]
        if sub["status"] in ("ACTIVE", "SUSPENDED") and sub["_due"] is not None:
            info["next_billing_time"] = paypal_time(sub["_retry_at"] or sub["_due"])
        return info

    def _sub_view(self, sub: Mapping[str, Any]) -> dict[str, Any]:
        """The subscription as ``GET /v1/billing/subscriptions/{id}`` shows it."""
        view = {k: v for k, v in sub.items() if not k.startswith("_")}
        if sub["_activated"]:
            view["billing_info"] = self._billing_info(sub)
        view["links"] = self._links(sub)
        return view

    def _status(self, sub: dict[str, Any], status: str, note: str | None = None) -> None:
        sub["status"] = status
        sub["status_update_time"] = sub["update_time"] = self._at()
        if note is not None:
            sub["status_change_note"] = note

    def _sub_event(self, sub: Mapping[str, Any], event_type: str) -> dict[str, Any]:
        return self._event(event_type, self._sub_view(sub), "subscription", _SUMMARIES[event_type])

    # -- billing -----------------------------------------------------------------------

    def _activate(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        """First activation: start the billing clock, bill the first boundary if it is due."""
        self._status(sub, "ACTIVE")
        sub["_activated"] = True
        start = max(sub["_start"], self.billing_now)
        sub.update(_phase=0, _anchor=start, _n=0, _due=start)
        events = self._bill(sub, True, "") if start <= self.billing_now else []
        activated = self._sub_event(sub, "BILLING.SUBSCRIPTION.ACTIVATED")
        # Its resource shows the first payment, yet PayPal announces the activation first.
        self.webhook_events.remove(activated)
        self.webhook_events.insert(len(self.webhook_events) - len(events), activated)
        return [activated, *events]

    def _next_cycle(self, sub: Mapping[str, Any]) -> int | None:
        for index in range(sub["_phase"], len(sub["_cycles"])):
            total = sub["_cycles"][index]["total_cycles"]
            if total == 0 or sub["_executed"][index] < total:
                return index
        return None

    def _bill(self, sub: dict[str, Any], succeed: bool, reason: str) -> list[dict[str, Any]]:
        """One boundary (or retry) of ``sub`` at :attr:`billing_now`; the events it causes."""
        index = self._next_cycle(sub)
        if index is None:
            self._status(sub, "EXPIRED")
            sub["_due"] = sub["_retry_at"] = None
            return [self._sub_event(sub, "BILLING.SUBSCRIPTION.EXPIRED")]
        if index != sub["_phase"]:
            sub.update(_phase=index, _anchor=sub["_due"], _n=0)
        cycle = sub["_cycles"][index]
        price = cycle_price(cycle) * Decimal(sub.get("quantity") or 1)
        currency = self._currency(sub)
        if price == 0:
            self._execute(sub, index)
            return []
        if not succeed:
            return self._fail(sub, price, currency, reason)
        sale = self._new_sale(sub, price, currency)
        sub["_last_payment"] = {"amount": money(price, currency), "time": sale["create_time"]}
        sub["_failed"], sub["_outstanding"] = 0, Decimal(0)
        self._execute(sub, index)
        events = [
            self._event(
                "PAYMENT.SALE.COMPLETED",
                self._sale_view(sale),
                "sale",
                f"Payment completed for {money_value(price, currency)} {currency}",
            )
        ]
        if sub["status"] == "SUSPENDED" and sub["_suspended_by"] == "failures":
            self._status(sub, "ACTIVE")
            sub["_suspended_by"] = None
            events.append(self._sub_event(sub, "BILLING.SUBSCRIPTION.ACTIVATED"))
        return events

    def _fail(
        self, sub: dict[str, Any], price: Decimal, currency: str, reason: str
    ) -> list[dict[str, Any]]:
        sub["_failed"] += 1
        sub["_outstanding"] = price
        sub["_retry_at"] = self.billing_now + RETRY_AFTER
        sub["_last_failed"] = {
            "amount": money(price, currency),
            "time": self._at(),
            "reason_code": reason,
            "next_payment_retry_time": paypal_time(sub["_retry_at"]),
        }
        sub["update_time"] = self._at()
        events = [self._sub_event(sub, "BILLING.SUBSCRIPTION.PAYMENT.FAILED")]
        threshold = self.plans[sub["plan_id"]]["payment_preferences"]["payment_failure_threshold"]
        if sub["status"] == "ACTIVE" and threshold and sub["_failed"] >= threshold:
            self._status(sub, "SUSPENDED", "Payment failure threshold reached")
            sub["_suspended_by"] = "failures"
            events.append(self._sub_event(sub, "BILLING.SUBSCRIPTION.SUSPENDED"))
        return events

    def _execute(self, sub: dict[str, Any], index: int) -> None:
        sub["_executed"][index] += 1
        sub["_n"] += 1
        sub["_retry_at"] = None
        frequency = sub["_cycles"][index]["frequency"]
        sub["_due"] = add_interval(
            sub["_anchor"], frequency["interval_unit"], frequency["interval_count"] * sub["_n"]
        )

    def _new_sale(self, sub: Mapping[str, Any], price: Decimal, currency: str) -> dict[str, Any]:
        sale_id = new_id()
        total = money_value(price, currency)
        sale: dict[str, Any] = {
            "id": sale_id,
            "state": "completed",
            "amount": {"total": total, "currency": currency, "details": {"subtotal": total}},
            "payment_mode": "INSTANT_TRANSFER",
            "protection_eligibility": "ELIGIBLE",
            "protection_eligibility_type": (
                "ITEM_NOT_RECEIVED_ELIGIBLE,UNAUTHORIZED_PAYMENT_ELIGIBLE"
            ),
            "transaction_fee": {"currency": currency, "value": money_value(Decimal(0), currency)},
            "billing_agreement_id": sub["id"],
            "invoice_number": "",
            "create_time": self._at(),
            "update_time": self._at(),
            "links": [
                self._link(f"/v1/payments/sale/{sale_id}", "self"),
                self._link(f"/v1/payments/sale/{sale_id}/refund", "refund", "POST"),
            ],
            "_custom": sub.get("custom_id"),
            "_refunded": Decimal(0),
        }
        self.sales[sale_id] = sale
        return sale

    def _sale_view(self, sale: Mapping[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in sale.items() if not k.startswith("_")}
        if self.sale_custom and sale["_custom"] is not None:
            view["custom"] = sale["_custom"]
        return view

    # -- test controls -------------------------------------------------------------------

    def _pending(self, subscription_id: str) -> dict[str, Any]:
        sub = self.subscriptions.get(subscription_id)
        if sub is None:
            raise KeyError(f"FakePayPal: no subscription {subscription_id!r}")
        return sub

    def approve_subscription(self, subscription_id: str) -> list[WebhookDelivery]:
        """What the payer does on PayPal's approval page; returns the signed deliveries.

        With the default ``application_context.user_action`` (``SUBSCRIBE_NOW``) the
        subscription becomes ``ACTIVE``: ``[BILLING.SUBSCRIPTION.ACTIVATED]`` plus, when the
        first cycle is paid (no free trial, ``start_time`` not later),
        ``PAYMENT.SALE.COMPLETED`` for it. With ``CONTINUE`` it becomes ``APPROVED`` and
        nothing is sent until the merchant calls ``POST .../activate``.
        """
        with self.lock:
            sub = self._pending(subscription_id)
            if sub["status"] != "APPROVAL_PENDING":
                raise ValueError(f"FakePayPal: subscription {subscription_id} is {sub['status']}")
            return self._sign(self._approve(sub))

    def _approve(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        sub["subscriber"] = {
            "email_address": "buyer@example.com",
            "payer_id": new_id(13),
            "name": {"given_name": "John", "surname": "Doe"},
            **sub.get("subscriber", {}),
        }
        if sub["_user_action"] == "CONTINUE":
            self._status(sub, "APPROVED")
            return []
        return self._activate(sub)

    def approve_revision(self, subscription_id: str) -> list[WebhookDelivery]:
        """The payer approves a pending ``revise`` (plan change); returns
        ``[BILLING.SUBSCRIPTION.UPDATED]``. The new plan's regular cycle bills from the next
        billing time on."""
        with self.lock:
            sub = self._pending(subscription_id)
            if sub.get("_pending_plan") is None:
                raise ValueError(f"FakePayPal: subscription {subscription_id} has no revision")
            return self._sign(self._apply_revision(sub))

    def _apply_revision(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        plan = self.plans[sub.pop("_pending_plan")]
        sub.pop("_revision_token", None)
        sub["plan_id"] = plan["id"]
        sub["_cycles"] = [dict(c) for c in plan["billing_cycles"]]
        sub["_executed"] = [0] * len(sub["_cycles"])
        regular = len(sub["_cycles"]) - 1
        sub.update(_phase=regular, _anchor=sub["_due"] or self.billing_now, _n=0)
        sub["update_time"] = self._at()
        return [self._sub_event(sub, "BILLING.SUBSCRIPTION.UPDATED")]

    def fail_renewals(
        self, subscription_id: str, times: int = 1, reason_code: str = "PAYMENT_DENIED"
    ) -> None:
        """Make the next ``times`` billing attempts of :meth:`advance` fail with
        ``reason_code`` (PayPal's ``last_failed_payment.reason_code`` values)."""
        with self.lock:
            self._pending(subscription_id)
            self._failures.setdefault(subscription_id, []).extend([reason_code] * times)

    def renew(
        self, subscription_id: str, *, succeed: bool = True, reason_code: str = "PAYMENT_DENIED"
    ) -> list[WebhookDelivery]:
        """Run this subscription's next billing attempt now; returns its signed deliveries.

        The clock moves to the attempt's time (the next billing time, or the retry time
        after a failure) if that is later; other subscriptions are not billed (use
        :meth:`advance` for that). Success: ``[PAYMENT.SALE.COMPLETED]`` (nothing for a free
        trial cycle), plus ``BILLING.SUBSCRIPTION.ACTIVATED`` when it recovers a
        subscription that failures suspended. Failure: ``[BILLING.SUBSCRIPTION.PAYMENT.FAILED]``
        plus ``BILLING.SUBSCRIPTION.SUSPENDED`` at the threshold. After the last cycle:
        ``[BILLING.SUBSCRIPTION.EXPIRED]``.
        """
        with self.lock:
            sub = self._pending(subscription_id)
            billable = sub["status"] == "ACTIVE" or (
                sub["status"] == "SUSPENDED" and sub["_suspended_by"] == "failures"
            )
            if not billable or sub["_due"] is None:
                raise ValueError(
                    f"FakePayPal: subscription {subscription_id} is {sub['status']}; "
                    "only active (or failure-suspended) subscriptions are billed"
                )
            self.billing_now = max(self.billing_now, sub["_retry_at"] or sub["_due"])
            return self._sign(self._bill(sub, succeed, reason_code))

    def advance(self, delta: timedelta) -> list[WebhookDelivery]:
        """Move the clock forward by ``delta``, billing every active subscription at each
        billing time it passes, in time order; returns the signed deliveries.

        Attempts succeed unless :meth:`fail_renewals` scripted a failure. Suspended
        subscriptions are not billed (PayPal stops retrying); :meth:`renew` recovers one.
        """
        if delta < timedelta(0):
            raise ValueError("FakePayPal: the clock only moves forward")
        with self.lock:
            end = self.billing_now + delta
            events: list[dict[str, Any]] = []
            while (found := self._earliest(end)) is not None:
                when, sub = found
                self.billing_now = max(self.billing_now, when)
                failures = self._failures.get(sub["id"], [])
                reason = failures.pop(0) if failures else None
                events += self._bill(sub, reason is None, reason or "")
            self.billing_now = end
            return self._sign(events)

    def _earliest(self, end: datetime) -> tuple[datetime, dict[str, Any]] | None:
        due = [
            (sub["_retry_at"] or sub["_due"], sub)
            for sub in self.subscriptions.values()
            if sub["status"] == "ACTIVE" and sub["_due"] is not None
        ]
        due = [(when, sub) for when, sub in due if when <= end]
        return min(due, key=lambda pair: pair[0]) if due else None
