"""ToyPay's "server": an in-memory provider API with a clock, for the conformance kit's tests.

It keeps what the plugin sends (metadata included) and, like a real provider, sends webhooks
built from what it stored: so a plugin that never sends the host's ids gets webhooks
without them. Answers are plain dicts; a refusal is a :class:`ToyError`; a decline is a
normal answer with ``status="declined"`` (as some real APIs answer it).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from typing import Any

from vbwd_plugins import PaymentErrorCode

Obj = dict[str, Any]
DAY = 86_400
MONTH = 30 * DAY
SECRET = "toy_whsec_test"


class ToyError(Exception):
    """The server refused a request with a standard code (the toy's API speaks them)."""

    def __init__(self, code: PaymentErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> str:
    """``Toy-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass
class ToyServer:
    """Payments, customers, methods, prices, subscriptions, sessions, disputes and events."""

    now: int = 1_760_000_000
    objects: dict[str, Obj] = field(default_factory=dict)
    events: list[Obj] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    replies: dict[tuple[str, str], str] = field(default_factory=dict)
    decline_next: PaymentErrorCode | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- plumbing ---------------------------------------------------------------------

    def new(self, prefix: str, **values: Any) -> Obj:
        """Store a new object with a fresh id."""
        obj = {"id": f"{prefix}_{next(self.ids)}", "created": self.now, **values}
        self.objects[obj["id"]] = obj
        return obj

    def get(self, obj_id: str, prefix: str) -> Obj:
        """The stored object, or a NOT_FOUND refusal."""
        obj = self.objects.get(obj_id)
        if obj is None or not obj_id.startswith(f"{prefix}_"):
            raise ToyError(PaymentErrorCode.NOT_FOUND, f"no such object: {obj_id!r}")
        return obj

    def once(self, operation: str, key: str | None, make: Any) -> Obj:
        """Run ``make`` once per idempotency key: a retry answers the first object."""
        if key is None:
            return make()  # type: ignore[no-any-return]
        self.keys.append(key)
        if (operation, key) in self.replies:
            return self.objects[self.replies[(operation, key)]]
        obj: Obj = make()
        self.replies[(operation, key)] = obj["id"]
        return obj

    def emit(self, event_type: str, obj: Obj, **extra: Any) -> None:
        """Record the webhook the provider sends: a snapshot of ``obj`` as stored now."""
        self.events.append(
            {
                "id": f"evt_{next(self.ids)}",
                "type": event_type,
                "created": self.now,
                "object": copy.deepcopy(obj),
                **extra,
            }
        )

    # -- payments ---------------------------------------------------------------------

    def create_payment(self, amount: int, currency: str, metadata: Obj, key: str | None) -> Obj:
        """A payment waiting for confirmation."""

        def make() -> Obj:
            return self.new(
                "pay",
                amount=amount,
                currency=currency,
                status="requires_confirmation",
                metadata=dict(metadata),
                refunded=0,
            )

        return self.once("create_payment", key, make)

    def confirm(self, payment_id: str, method: str, key: str | None) -> Obj:
        """Charge the payment; a decline is an answer with ``status="declined"``."""
        if key:
            self.keys.append(key)
        payment = self.get(payment_id, "pay")
        if self.decline_next is not None:
            reason, self.decline_next = self.decline_next.value, None
            payment.update(status="declined", decline_code=reason)
            self.emit("payment.failed", payment)
            return payment
        payment["status"] = "succeeded"
        self.emit("payment.succeeded", payment)
        return payment

    def refund(self, payment_id: str, amount: int | None, key: str | None) -> Obj:
        """Refund part or all of what is left."""
        payment = self.get(payment_id, "pay")

        def make() -> Obj:
            left = payment["amount"] - payment["refunded"]
            units = left if amount is None else amount
            if payment["status"] not in ("succeeded", "partially_refunded") or units > left:
                raise ToyError(PaymentErrorCode.INVALID_REQUEST, "cannot refund that")
            payment["refunded"] += units
            payment["status"] = "refunded" if units == left else "partially_refunded"
            refund = self.new("re", payment=payment_id, amount=units, currency=payment["currency"])
            self.emit("refund.created", refund, metadata=dict(payment["metadata"]))
            return refund

        return self.once("refund", key, make)

    def dispute(self, payment_id: str, outcome: str | None) -> None:
        """The payer disputes the payment; ``outcome`` closes it (``won``/``lost``)."""
        payment = self.get(payment_id, "pay")
        dispute = self.new(
            "dp", payment=payment_id, amount=payment["amount"], currency=payment["currency"]
        )
        self.emit("dispute.opened", dispute, metadata=dict(payment["metadata"]))
        if outcome is not None:
            dispute["status"] = outcome
            self.emit("dispute.closed", dispute, metadata=dict(payment["metadata"]))

    # -- customers, methods, prices ------------------------------------------------------

    def add_method(self, customer_id: str) -> Obj:
        """A card saved on the customer (what the payer's setup flow does)."""
        self.get(customer_id, "cus")
        return self.new("pm", customer=customer_id, brand="visa", last4="4242")

    def price(self, lookup_key: str, values: Obj) -> Obj:
        """The price with ``lookup_key``, created the first time."""
        for obj in self.objects.values():
            if obj.get("lookup_key") == lookup_key:
                return obj
        return self.new("price", lookup_key=lookup_key, **values)

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(self, values: Obj, *, paying: bool, trial_days: int) -> Obj:
        """A subscription: trialing, active (a saved method pays) or pending approval."""
        status = "trialing" if trial_days and paying else "active" if paying else "pending"
        sub = self.new(
            "sub",
            status=status,
            period_start=self.now,
            period_end=self.now + (trial_days * DAY if trial_days else MONTH),
            trial_end=self.now + trial_days * DAY if trial_days else None,
            cancel_at_period_end=False,
            **values,
        )
        self.emit("subscription.created", sub)
        if paying:
            self.emit("subscription.activated", sub)
        return sub

    def activate(self, sub: Obj) -> None:
        """The payer approves a pending subscription."""
        if sub["status"] == "pending":
            sub["status"] = "trialing" if sub["trial_end"] else "active"
            self.emit("subscription.activated", sub)

    def renew(self, sub: Obj, *, pays: bool) -> None:
        """The clock passes the period's end: the renewal is paid or fails (then past due)."""
        self.now = sub["period_end"] + 60
        price = self.objects[sub["price"]]
        amount = price["amount"] * sub["quantity"]
        invoice = self.new("in", amount=amount, currency=price["currency"])
        if pays:
            start, end = sub["period_end"], sub["period_end"] + MONTH
            sub.update(status="active", period_start=start, period_end=end)
            self.emit("subscription.renewed", sub, invoice=invoice)
        else:
            self.emit("subscription.payment_failed", sub, invoice=invoice, attempt=1)
            sub["status"] = "past_due"
            self.emit("subscription.past_due", sub)

    def trial_reminder(self, sub: Obj) -> None:
        """Three days before the trial ends, the provider reminds."""
        if sub["trial_end"] is not None:
            self.now = sub["trial_end"] - 3 * DAY
            self.emit("subscription.trial_will_end", sub)
