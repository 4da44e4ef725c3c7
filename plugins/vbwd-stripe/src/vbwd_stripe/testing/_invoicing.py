"""Invoices of subscriptions: finalizing, charging and marking them paid.

Every invoice is finalized at once and charged to the subscription's default payment
method (or the customer's); what the charge does is decided by the Stripe test token the
method was made from (``pm_card_visa`` pays, ``pm_card_chargeDeclined...`` declines), or by
an outcome a test control forced. Each step appends the events Stripe sends.
"""

from __future__ import annotations

import copy
from typing import Final

import vbwd_stripe.testing._billing_wire as wire

from ._billing import Billing
from ._billing_wire import Obj
from ._wire import TEST_PAYMENT_METHODS

DAY: Final = 86400


class Invoicing(Billing):
    """Subscription invoices and the PaymentIntents and Charges that pay them."""

    def __init__(self, api_key: str, *, livemode: bool = False) -> None:
        super().__init__(api_key, livemode=livemode)
        #: Seconds after each failed attempt until Stripe retries (Smart Retries' default
        #: of four attempts); after the last, :attr:`after_retries` decides.
        self.retry_delays: tuple[int, ...] = (3 * DAY, 5 * DAY, 7 * DAY)
        self._invoice_intents: dict[str, str] = {}

    def _line(
        self, sub: Obj, item: Obj, amount: int, period: tuple[int, int], proration: bool = False
    ) -> Obj:
        kind = "Unused time on" if amount < 0 else "Remaining time on" if proration else None
        name = self.products.get(item["price"]["product"], {}).get("name", "")
        text = (
            f"{kind} {item['quantity']} \u00d7 {name}"
            if kind
            else f"{item['quantity']} \u00d7 {name}"
        )
        return wire.line_item(
            self._new_id("il"),
            "",
            sub,
            item,
            amount,
            period,
            proration=proration,
            description=text,
        )

    def _invoice(self, sub: Obj, lines: list[Obj], reason: str, *, finalize: bool = True) -> Obj:
        inv_id = self._new_id("in")
        for line in lines:
            line["invoice"] = inv_id
        cus = self.customers[sub["customer"]]
        number = f"{cus['invoice_prefix']}-{cus['next_invoice_sequence']:04d}"
        cus["next_invoice_sequence"] += 1
        inv = wire.invoice(inv_id, sub, lines, reason, self.clock, number)
        inv.update(customer_email=cus["email"], customer_name=cus["name"])
        balance = cus["balance"]
        due = max(0, inv["total"] + balance)
        inv.update(starting_balance=balance, amount_due=due, amount_remaining=due)
        inv["ending_balance"] = min(0, inv["total"] + balance)
        cus["balance"] = inv["ending_balance"]
        self.invoices[inv_id] = inv
        sub["latest_invoice"] = inv_id
        draft = copy.deepcopy(inv)
        draft.update(status="draft", number=None)
        draft["status_transitions"]["finalized_at"] = None
        self._event("invoice.created", draft)
        if finalize:
            self._event("invoice.finalized", inv)
        else:
            inv.clear()
            inv.update(draft)
        return inv

    def _attempt(self, inv: Obj, sub: Obj, forced: bool | None) -> bool:
        """Charge ``inv`` once; True if it is paid."""
        now = self.clock
        if inv["amount_due"] == 0:
            self._mark_paid(inv)
            return True
        pm_id = (
            sub["default_payment_method"]
            or (self.customers[sub["customer"]]["invoice_settings"]["default_payment_method"])
        )
        token = self._tokens.get(pm_id or "")
        outcome = (
            None
            if forced
            else "generic_decline"
            if forced is False
            else (TEST_PAYMENT_METHODS.get(token) if token else "no_payment_method")
        )
        intent = self._invoice_intent(inv, pm_id)
        inv.update(attempted=True, attempt_count=inv["attempt_count"] + 1)
        if outcome is None:
            charge = self._new_charge(intent, paid=True)
            intent.update(
                latest_charge=charge["id"], status="succeeded", amount_received=intent["amount"]
            )
            self._event("charge.succeeded", charge)
            self._event("payment_intent.succeeded", intent)
            self._mark_paid(inv)
            return True
        error = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": outcome,
            "message": "Your card was declined.",
        }
        if pm_id is not None:
            charge = self._new_charge(intent, paid=False)
            intent["latest_charge"] = charge["id"]
            self._event("charge.failed", charge)
        intent.update(status="requires_payment_method", last_payment_error=error)
        self._event("payment_intent.payment_failed", intent)
        attempt = inv["attempt_count"]
        delays = self.retry_delays
        inv["next_payment_attempt"] = now + delays[attempt - 1] if attempt <= len(delays) else None
        self._event("invoice.payment_failed", inv)
        return False

    def _invoice_intent(self, inv: Obj, pm_id: str | None) -> Obj:
        known = self._invoice_intents.get(inv["id"])
        if known is not None:
            self.intents[known]["payment_method"] = pm_id
            return self.intents[known]
        intent_id = self._new_id("pi")
        intent: Obj = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": inv["amount_due"],
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{self._new_id('s')[2:]}",
            "confirmation_method": "automatic",
            "created": self.clock,
            "currency": inv["currency"],
            "customer": inv["customer"],
            "description": "Subscription update"
            if inv["billing_reason"] != "subscription_create"
            else "Subscription creation",
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": self.livemode,
            "metadata": {},
            "payment_method": pm_id,
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
        }
        self.intents[intent_id] = intent
        self._invoice_intents[inv["id"]] = intent_id
        ip = wire.invoice_payment(self._new_id("inpay"), inv, intent_id, self.clock)
        self.invoice_payments[ip["id"]] = ip
        inv["confirmation_secret"] = {
            "client_secret": intent["client_secret"],
            "type": "payment_intent",
        }
        self._event("payment_intent.created", intent)
        return intent

    def _mark_paid(self, inv: Obj) -> None:
        now = self.clock
        inv.update(
            amount_paid=inv["amount_due"],
            amount_remaining=0,
            status="paid",
            next_payment_attempt=None,
        )
        inv["status_transitions"]["paid_at"] = now
        for ip in self.invoice_payments.values():
            if ip["invoice"] == inv["id"]:
                ip.update(amount_paid=inv["amount_due"], status="paid")
                ip["status_transitions"]["paid_at"] = now
        self._event("invoice.paid", inv)
        self._event("invoice.payment_succeeded", inv)

    def _uncollected(self, sub: Obj, lines: list[Obj], behavior: str) -> None:
        """The invoice of a period whose collection is paused: never charged."""
        inv = self._invoice(sub, lines, "subscription_cycle", finalize=behavior != "keep_as_draft")
        if behavior == "void":
            inv.update(status="void", amount_remaining=0)
            inv["status_transitions"]["voided_at"] = self.clock
            self._event("invoice.voided", inv)
        elif behavior == "mark_uncollectible":
            inv["status"] = "uncollectible"
            inv["status_transitions"]["marked_uncollectible_at"] = self.clock
            self._event("invoice.marked_uncollectible", inv)
