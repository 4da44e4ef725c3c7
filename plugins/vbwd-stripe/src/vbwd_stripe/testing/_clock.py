"""The fake's clock and the test controls: what happens outside the API, and its webhooks.

Real Stripe renews, retries and ends subscriptions on its own schedule and learns about
checkouts and disputes from people; the controls here make those things happen now. Each
changes the account's state and returns the signed deliveries Stripe would send for it, in
Stripe's usual order (Stripe does not promise an order: a host must not rely on it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final, Literal

from vbwd_plugins.testing import WebhookDelivery

from ._billing_wire import Obj
from ._invoicing import DAY
from ._subscriptions import Subscriptions
from ._webhooks import sign_payload
from ._wire import TEST_PAYMENT_METHODS

#: Stripe sends ``customer.subscription.trial_will_end`` this long before a trial ends.
TRIAL_WARNING: Final = 3 * DAY
_RENEWABLE: Final = frozenset({"active", "trialing", "past_due", "unpaid"})
_DISPUTE_OUTCOMES: Final = frozenset({"won", "lost", "warning_closed"})


class BillingControls(Subscriptions):
    """Test controls of :class:`FakeStripe` for checkout, subscriptions and disputes."""

    _lock: threading.RLock

    def __init__(self, api_key: str, *, livemode: bool = False, webhook_secret: str) -> None:
        super().__init__(api_key, livemode=livemode)
        #: The endpoint secret the controls sign deliveries with (``whsec_...``).
        self.webhook_secret = webhook_secret
        self._forced: dict[str, bool] = {}

    # -- the clock ---------------------------------------------------------------------

    def advance_clock(self, delta: timedelta) -> list[WebhookDelivery]:
        """Move the clock forward by ``delta``; everything that falls due happens, in order.

        Period ends renew (or end, with ``cancel_at_period_end``), trials end, failed
        invoices are retried after :attr:`retry_delays`, ``trial_will_end`` is sent three
        days before a trial ends. Charges succeed or fail as the payment method's test
        token says.
        """
        if delta < timedelta(0):
            raise ValueError(f"FakeStripe.advance_clock: the clock cannot go back ({delta})")
        with self._lock:
            return self._run(self.clock + int(delta.total_seconds()))

    def renew(self, subscription_id: str, *, succeed: bool = True) -> list[WebhookDelivery]:
        """Advance the clock to the subscription's period end and charge the new period.

        ``succeed`` decides that charge whatever the card; anything else due before then
        happens too. A trialing subscription's period end is its trial end.
        """
        with self._lock:
            sub = self._sub(subscription_id, _RENEWABLE, "renew")
            self._forced[sub["id"]] = succeed
            try:
                return self._run(max(self.clock, sub["items"]["data"][0]["current_period_end"]))
            finally:
                self._forced.pop(sub["id"], None)

    def end_trial(self, subscription_id: str, *, succeed: bool = True) -> list[WebhookDelivery]:
        """Advance the clock to the trial's end: the first paid invoice is charged."""
        with self._lock:
            self._sub(subscription_id, {"trialing"}, "end the trial of")
            return self.renew(subscription_id, succeed=succeed)

    def retry(self, subscription_id: str, *, succeed: bool = True) -> list[WebhookDelivery]:
        """Stripe's next attempt at the subscription's open invoice, ``succeed`` or not.

        The clock moves to the invoice's ``next_payment_attempt`` when it has one (Smart
        Retries); otherwise (a first invoice left ``incomplete``) the attempt is made now,
        as when the customer confirms the payment.
        """
        with self._lock:
            sub = self._sub(subscription_id, {*_RENEWABLE, "incomplete"}, "retry")
            inv = self.invoices.get(sub["latest_invoice"] or "")
            if inv is None or inv["status"] != "open":
                raise ValueError(
                    f"FakeStripe.retry: subscription {subscription_id} has no open invoice"
                )
            mark = len(self.events)
            when = inv["next_payment_attempt"]
            if when is None:
                self._retry(sub, inv, succeed)
                return self.webhooks(self.events[mark:])
            self._forced[sub["id"]] = succeed
            try:
                return self._run(max(self.clock, when))
            finally:
                self._forced.pop(sub["id"], None)

    def trial_will_end(self, subscription_id: str) -> list[WebhookDelivery]:
        """Advance the clock to three days before the trial ends (``trial_will_end``)."""
        with self._lock:
            sub = self._sub(subscription_id, {"trialing"}, "warn about the trial of")
            if self._subs[sub["id"]].trial_warned:
                raise ValueError(f"FakeStripe.trial_will_end: already sent for {subscription_id}")
            return self._run(max(self.clock, sub["trial_end"] - TRIAL_WARNING))

    def _run(self, target: int) -> list[WebhookDelivery]:
        mark = len(self.events)
        while (due := self._next_due(target)) is not None:
            when, action, sub = due
            self.clock = max(self.clock, when)
            action(sub)
        self.clock = max(self.clock, target)
        return self.webhooks(self.events[mark:])

    def _next_due(self, target: int) -> tuple[int, Any, Obj] | None:
        """The earliest thing due by ``target``: (time, what to do, subscription)."""
        due: list[tuple[int, int, Any, Obj]] = []
        for n, sub in enumerate(self.subscriptions.values()):
            state = self._subs[sub["id"]]
            end = sub["items"]["data"][0]["current_period_end"]
            if sub["status"] == "trialing" and not state.trial_warned:
                due.append(
                    (max(sub["trial_end"] - TRIAL_WARNING, sub["created"]), n, self._warn, sub)
                )
            if sub["status"] in _RENEWABLE:
                due.append((end, n, self._period_end, sub))
            inv = self.invoices.get(sub["latest_invoice"] or "")
            if (
                inv is not None
                and inv["status"] == "open"
                and inv["next_payment_attempt"] is not None
                and sub["status"] not in {"canceled", "paused"}
            ):
                due.append((inv["next_payment_attempt"], n, self._auto_retry, sub))
            pause = sub["pause_collection"]
            if pause is not None and pause["resumes_at"] is not None:
                due.append((pause["resumes_at"], n, self._unpause, sub))
        ready = [d for d in due if d[0] <= target]
        if not ready:
            return None
        when, _, action, sub = min(ready, key=lambda d: (d[0], d[1]))
        return when, action, sub

    def _warn(self, sub: Obj) -> None:
        self._subs[sub["id"]].trial_warned = True
        self._event("customer.subscription.trial_will_end", sub)

    def _period_end(self, sub: Obj) -> None:
        if sub["cancel_at_period_end"]:
            self._end(sub, "cancellation_requested")
        else:
            self._cycle(sub, self._forced.pop(sub["id"], None))

    def _auto_retry(self, sub: Obj) -> None:
        inv = self.invoices[sub["latest_invoice"]]
        self._retry(sub, inv, self._forced.pop(sub["id"], None))

    def _unpause(self, sub: Obj) -> None:
        self._set(sub, pause_collection=None)

    # -- checkout ----------------------------------------------------------------------

    def complete_checkout(
        self, session_id: str, *, payment_method: str = "pm_card_visa"
    ) -> list[WebhookDelivery]:
        """The customer pays (or saves a card) on the hosted page of ``session_id``.

        ``payment_method`` is one of Stripe's test tokens (``TEST_PAYMENT_METHODS``).
        A card that would be declined for an amount due now raises ``ValueError``: on real
        Checkout the customer stays on the page and no event is sent.
        """
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None or session["status"] != "open":
                raise ValueError(f"FakeStripe.complete_checkout: no open session {session_id!r}")
            if payment_method not in TEST_PAYMENT_METHODS:
                raise ValueError(
                    f"FakeStripe.complete_checkout: {payment_method!r} is not a test token "
                    f"(one of {sorted(TEST_PAYMENT_METHODS)})"
                )
            data = self._session_lines[session_id]
            trial = str(data["subscription_data"].get("trial_period_days", "0"))
            charged = session["mode"] == "payment" or (
                session["mode"] == "subscription" and trial in {"", "0"}
            )
            if charged and TEST_PAYMENT_METHODS[payment_method] is not None:
                raise ValueError(
                    f"FakeStripe.complete_checkout: {payment_method!r} is declined; the "
                    "customer stays on the Checkout page"
                )
            mark = len(self.events)
            {
                "payment": self._checkout_payment,
                "subscription": self._checkout_subscription,
                "setup": self._checkout_setup,
            }[session["mode"]](session, data, payment_method)
            session.update(status="complete")
            self._event("checkout.session.completed", session)
            return self.webhooks(self.events[mark:])

    def expire_checkout(self, session_id: str) -> list[WebhookDelivery]:
        """The session passes ``expires_at`` unused (``checkout.session.expired``)."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None or session["status"] != "open":
                raise ValueError(f"FakeStripe.expire_checkout: no open session {session_id!r}")
            mark = len(self.events)
            self.clock = max(self.clock, session["expires_at"])
            session.update(status="expired", url=None)
            self._event("checkout.session.expired", session)
            return self.webhooks(self.events[mark:])

    def _checkout_payment(self, session: Obj, data: Obj, token: str) -> None:
        params = {
            "amount": str(session["amount_total"]),
            "currency": session["currency"],
            **{
                f"metadata[{k}]": str(v)
                for k, v in data["payment_intent_data"].get("metadata", {}).items()
            },
        }
        _, intent = self._create_intent(params, None)
        intent["customer"] = session["customer"]
        self._confirm(intent, token)
        session.update(payment_intent=intent["id"], payment_status="paid")
        session["customer_details"] = self._details(session, None)

    def _checkout_subscription(self, session: Obj, data: Obj, token: str) -> None:
        cus = self._checkout_customer(session)
        pm = self._new_payment_method(token)
        self._attach(pm, cus["id"])
        trial = str(data["subscription_data"].get("trial_period_days") or "0")
        sub = self._start(
            cus["id"],
            data["price"],
            data["quantity"],
            dict(data["subscription_data"].get("metadata", {})),
            int(trial),
            pm["id"],
        )
        paid = self.invoices[sub["latest_invoice"]]["amount_paid"] > 0
        session.update(
            subscription=sub["id"],
            invoice=sub["latest_invoice"],
            payment_status="paid" if paid else "no_payment_required",
        )

    def _checkout_setup(self, session: Obj, data: Obj, token: str) -> None:
        _, seti = self._create_setup_intent(
            {"customer": session["customer"]} if session["customer"] else {}
        )
        self._succeed_setup(seti, token)
        session.update(setup_intent=seti["id"], payment_status="no_payment_required")
        if session["customer"]:
            session["customer_details"] = self._details(
                session, self.customers[session["customer"]]
            )

    def _checkout_customer(self, session: Obj) -> Obj:
        if session["customer"]:
            cus = self.customers[session["customer"]]
        else:
            email = session["customer_email"] or f"customer+{session['id'][-6:]}@example.com"
            _, cus = self._create_customer({"email": email})
            session["customer"] = cus["id"]
        session["customer_details"] = self._details(session, cus)
        return cus

    @staticmethod
    def _details(session: Obj, cus: Obj | None) -> Obj:
        email = cus["email"] if cus is not None else session["customer_email"]
        return {
            "address": None,
            "email": email or "customer@example.com",
            "name": cus["name"] if cus is not None else None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }

    def confirm_setup_intent(
        self, setup_intent_id: str, *, payment_method: str = "pm_card_visa"
    ) -> list[WebhookDelivery]:
        """The customer confirms a SetupIntent in the browser: the card is saved."""
        with self._lock:
            seti = self.setup_intents.get(setup_intent_id)
            if seti is None:
                raise ValueError(f"FakeStripe.confirm_setup_intent: no {setup_intent_id!r}")
            mark = len(self.events)
            status, body = self._succeed_setup(seti, payment_method)
            if status != 200:
                raise ValueError(f"FakeStripe.confirm_setup_intent: {body['error']['message']}")
            return self.webhooks(self.events[mark:])

    # -- disputes ----------------------------------------------------------------------

    def open_dispute(
        self,
        payment_intent_or_charge: str,
        *,
        amount: int | None = None,
        reason: str = "fraudulent",
    ) -> list[WebhookDelivery]:
        """The cardholder disputes a paid charge (default: all of it); funds are withdrawn."""
        with self._lock:
            ref = payment_intent_or_charge
            intent = self.intents.get(ref)
            charge = self.charges.get(intent["latest_charge"] if intent else ref)
            if charge is None or not charge["paid"]:
                raise ValueError(f"FakeStripe.open_dispute: no paid charge for {ref!r}")
            amount = charge["amount_captured"] if amount is None else amount
            if not 0 < amount <= charge["amount_captured"]:
                raise ValueError(
                    f"FakeStripe.open_dispute: amount {amount} is not within the charge's "
                    f"{charge['amount_captured']}"
                )
            mark = len(self.events)
            du = self._dispute(charge, amount, reason)
            charge["disputed"] = True
            self._event("charge.dispute.created", du)
            self._event("charge.dispute.funds_withdrawn", du)
            return self.webhooks(self.events[mark:])

    def _dispute(self, charge: Obj, amount: int, reason: str) -> Obj:
        from ._billing_wire import dispute

        du = dispute(self._new_id("du"), charge, amount, reason, self.clock)
        self.disputes[du["id"]] = du
        return du

    def close_dispute(
        self, dispute_id: str, *, status: Literal["won", "lost", "warning_closed"] = "won"
    ) -> list[WebhookDelivery]:
        """The card network decides: ``charge.dispute.closed`` (+ funds reinstated if won)."""
        with self._lock:
            du = self.disputes.get(dispute_id)
            if du is None or du["status"] in _DISPUTE_OUTCOMES:
                raise ValueError(f"FakeStripe.close_dispute: no open dispute {dispute_id!r}")
            if status not in _DISPUTE_OUTCOMES:
                raise ValueError(
                    f"FakeStripe.close_dispute: status must be one of {sorted(_DISPUTE_OUTCOMES)}"
                )
            mark = len(self.events)
            previous = {"status": du["status"]}
            du["status"] = status
            self._event("charge.dispute.closed", du, previous_attributes=previous)
            if status == "won":
                self._event("charge.dispute.funds_reinstated", du)
            return self.webhooks(self.events[mark:])

    # -- deliveries --------------------------------------------------------------------

    def webhooks(self, events: Iterable[Mapping[str, Any]]) -> list[WebhookDelivery]:
        """``events`` as signed deliveries (``Stripe-Signature`` with :attr:`webhook_secret`).

        For events an API call produced: ``fake.webhooks(fake.events[mark:])``.
        """
        deliveries = []
        for event in events:
            body = json.dumps(event).encode()
            deliveries.append(
                WebhookDelivery(
                    {
                        "Content-Type": "application/json; charset=utf-8",
                        "Stripe-Signature": sign_payload(body, self.webhook_secret),
                    },
                    body,
                    description=event["type"],
                    extra={
                        "event_id": event["id"],
                        "type": event["type"],
                        "object_id": event["data"]["object"]["id"],
                    },
                )
            )
        return deliveries

    def _sub(self, subscription_id: str, statuses: Iterable[str], action: str) -> Obj:
        sub = self.subscriptions.get(subscription_id)
        allowed = set(statuses)
        if sub is None or sub["status"] not in allowed:
            found = "no such subscription" if sub is None else f"status is {sub['status']}"
            raise ValueError(
                f"FakeStripe cannot {action} {subscription_id!r}: {found} "
                f"(needs one of {sorted(allowed)})"
            )
        return sub
