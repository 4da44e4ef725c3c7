"""The fake account's objects and the endpoints that change them.

PaymentIntents, Charges and Refunds live here as Stripe-shaped dicts; every state change
appends the event real Stripe would send (:attr:`Ledger.events`), so webhook tests can
deliver what the API really did.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from ._webhooks import make_event
from ._wire import TEST_PAYMENT_METHODS, error_body, missing, nested, unexpected_state

_DECLINE_CODES_AS_CODE: Final = {"expired_card": "expired_card"}
_DECLINE_MESSAGES: Final = {"insufficient_funds": "Your card has insufficient funds."}
_CONFIRMABLE: Final = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action"}
)
_CANCELABLE: Final = frozenset({*_CONFIRMABLE, "requires_capture", "processing"})

Answer = tuple[int, dict[str, Any]]


class Ledger:
    """One Stripe account's PaymentIntents, Charges, Refunds and Events."""

    def __init__(self, api_key: str, *, livemode: bool = False) -> None:
        self.api_key = api_key
        self.livemode = livemode
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        #: The status new refunds get (``"pending"`` to test asynchronous refunds).
        self.refund_status = "succeeded"
        self._ids = itertools.count(1)

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        """Events of one type, oldest first."""
        return [e for e in self.events if e["type"] == event_type]

    # -- endpoints ---------------------------------------------------------------------

    def _create_intent(self, params: dict[str, str], key: str | None) -> Answer:
        amount_raw = params.get("amount")
        if amount_raw is None or not amount_raw.isdigit():
            return 400, error_body(
                "invalid_request_error", "Missing required param: amount.", "amount"
            )
        amount = int(amount_raw)
        if amount < 1 or len(amount_raw) > 8:
            return 400, error_body(
                "invalid_request_error",
                "Amount must be at least 1 and at most 8 digits.",
                "amount",
                code="amount_too_small" if amount < 1 else "amount_too_large",
            )
        currency = params.get("currency", "")
        if not re.fullmatch(r"[a-z]{3}", currency):
            return 400, error_body(
                "invalid_request_error", f"Invalid currency: {currency}.", "currency"
            )
        intent_id = self._new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": params.get("capture_method", "automatic_async"),
            "client_secret": f"{intent_id}_secret_{self._new_id('s')[2:]}",
            "confirmation_method": "automatic",
            "created": self._now(),
            "currency": currency,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": self.livemode,
            "metadata": nested(params, "metadata"),
            "payment_method": params.get("payment_method"),
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
        }
        if intent["payment_method"]:
            intent["status"] = "requires_confirmation"
        self.intents[intent_id] = intent
        self._event("payment_intent.created", intent, idempotency_key=key)
        if params.get("confirm") == "true":
            return self._confirm(intent, intent["payment_method"])
        return 200, intent

    def _confirm(self, intent: dict[str, Any], payment_method: str | None) -> Answer:
        if intent["status"] not in _CONFIRMABLE:
            return unexpected_state(intent, "confirm")
        payment_method = payment_method or intent["payment_method"]
        if payment_method not in TEST_PAYMENT_METHODS:
            return 400, error_body(
                "invalid_request_error",
                f"No such PaymentMethod: '{payment_method}'",
                "payment_method",
                code="resource_missing",
            )
        intent["payment_method"] = payment_method
        outcome = TEST_PAYMENT_METHODS[payment_method]
        if outcome == "requires_action":
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk"}
            return 200, intent
        charge = self._new_charge(intent, paid=outcome is None)
        intent["latest_charge"] = charge["id"]
        if outcome is not None:
            return self._decline(intent, charge, outcome)
        if intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            self._event("charge.succeeded", charge)
            self._event("payment_intent.amount_capturable_updated", intent)
        else:
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            self._event("charge.succeeded", charge)
            self._event("payment_intent.succeeded", intent)
        return 200, intent

    def _decline(self, intent: dict[str, Any], charge: dict[str, Any], outcome: str) -> Answer:
        error = error_body(
            "card_error",
            _DECLINE_MESSAGES.get(outcome, "Your card was declined."),
            None,
            code=_DECLINE_CODES_AS_CODE.get(outcome, "card_declined"),
        )
        error["error"]["decline_code"] = outcome
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = dict(error["error"])
        error["error"]["payment_intent"] = copy.deepcopy(intent)
        self._event("charge.failed", charge)
        self._event("payment_intent.payment_failed", intent)
        return 402, error

    def _capture(self, intent: dict[str, Any], params: dict[str, str]) -> Answer:
        if intent["status"] != "requires_capture":
            return unexpected_state(intent, "capture")
        amount = int(params.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"]:
            return 400, error_body(
                "invalid_request_error",
                "The amount to capture is greater than the capturable amount.",
                "amount_to_capture",
                code="amount_too_large",
            )
        charge = self.charges[intent["latest_charge"]]
        charge.update(captured=True, amount_captured=amount)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._event("charge.captured", charge)
        self._event("payment_intent.succeeded", intent)
        return 200, intent

    def _cancel(self, intent: dict[str, Any], params: dict[str, str]) -> Answer:
        if intent["status"] not in _CANCELABLE:
            return unexpected_state(intent, "cancel")
        intent.update(
            status="canceled",
            cancellation_reason=params.get("cancellation_reason"),
            canceled_at=self._now(),
            amount_capturable=0,
        )
        self._event("payment_intent.canceled", intent)
        return 200, intent

    def _refund(self, params: dict[str, str]) -> Answer:
        intent_id = params.get("payment_intent")
        intent = self.intents.get(intent_id or "")
        if intent is None:
            return missing("payment_intent", intent_id or "")
        if intent["status"] != "succeeded":
            return 400, error_body(
                "invalid_request_error",
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                "payment_intent",
                code="charge_not_refundable",
            )
        charge = self.charges[intent["latest_charge"]]
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        amount = int(params.get("amount", remaining))
        if amount < 1 or amount > remaining:
            return 400, error_body(
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                "amount",
                code="amount_too_large",
            )
        refund: dict[str, Any] = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": self._now(),
            "currency": intent["currency"],
            "metadata": nested(params, "metadata"),
            "payment_intent": intent["id"],
            "reason": params.get("reason"),
            "status": self.refund_status,
        }
        self.refunds[refund["id"]] = refund
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._event("charge.refunded", charge, previous_attributes=previous)
        self._event("refund.created", refund)
        return 200, refund

    # -- plumbing ----------------------------------------------------------------------

    def _expanded(self, intent: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        """``expand[]=latest_charge`` replaces the charge id with the charge."""
        expand = {value for key, value in params.items() if key.startswith("expand[")}
        charge_id = intent.get("latest_charge")
        if "latest_charge" not in expand or charge_id is None:
            return intent
        return {**intent, "latest_charge": copy.deepcopy(self.charges[charge_id])}

    def _now(self) -> int:
        """The account's clock (the fake's billing clock overrides it)."""
        return int(time.time())

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):08d}{self.api_key[-4:]}"

    def _new_charge(self, intent: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        manual = intent["capture_method"] == "manual"
        charge: dict[str, Any] = {
            "id": self._new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0 if manual or not paid else intent["amount"],
            "amount_refunded": 0,
            "captured": paid and not manual,
            "created": self._now(),
            "currency": intent["currency"],
            "livemode": self.livemode,
            "metadata": dict(intent["metadata"]),
            "paid": paid,
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "refunded": False,
            "status": "succeeded" if paid else "failed",
        }
        self.charges[charge["id"]] = charge
        return charge

    def _event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        previous_attributes: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.events.append(
            make_event(
                event_type,
                copy.deepcopy(obj),
                livemode=self.livemode,
                previous_attributes=previous_attributes,
                event_id=self._new_id("evt"),
                created=self._now(),
                idempotency_key=idempotency_key,
            )
        )
