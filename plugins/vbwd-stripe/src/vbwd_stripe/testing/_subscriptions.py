"""Subscriptions: the API endpoints and what happens at period ends and retries.

Invoices and their charges are in :mod:`._invoicing`; the clock that drives period ends
and retries, in :mod:`._clock`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

import vbwd_stripe.testing._billing_wire as wire

from ._billing_wire import Obj, invalid, listing, tree
from ._invoicing import DAY, Invoicing
from ._ledger import Answer
from ._wire import error_body, missing

_PRORATIONS: Final = frozenset({"create_prorations", "none", "always_invoice"})
_PAUSE_BEHAVIORS: Final = frozenset({"void", "keep_as_draft", "mark_uncollectible"})
_ENDED: Final = frozenset({"canceled", "incomplete_expired"})


@dataclass
class SubState:
    """What the fake tracks about a subscription beyond its wire object."""

    anchor: int
    cycle: int = 0
    trial_warned: bool = False
    #: Proration lines waiting for the next invoice.
    pending: list[Obj] = field(default_factory=list)


class Subscriptions(Invoicing):
    """Subscriptions, invoices and the charges that pay them."""

    def __init__(self, api_key: str, *, livemode: bool = False) -> None:
        super().__init__(api_key, livemode=livemode)
        #: The subscription status once retries are exhausted (``canceled``, ``unpaid``
        #: or ``past_due``), as the account's "manage failed payments" setting says.
        self.after_retries = "canceled"
        self._subs: dict[str, SubState] = {}

    # -- routing -----------------------------------------------------------------------

    def _route_subscriptions(
        self, method: str, parts: list[str], params: dict[str, str]
    ) -> Answer | None:
        if parts[:2] != ["v1", "subscriptions"]:
            return None
        if method == "POST" and len(parts) == 2:
            return self._create_subscription(params)
        if len(parts) < 3:
            return None
        sub = self.subscriptions.get(parts[2])
        if sub is None:
            return missing("subscription", parts[2])
        if method == "GET" and len(parts) == 3:
            return 200, sub
        if method == "DELETE" and len(parts) == 3:
            if sub["status"] in _ENDED:
                return missing("subscription", parts[2])
            self._end(sub, "cancellation_requested")
            return 200, sub
        if method == "POST" and len(parts) == 3:
            return self._update_subscription(sub, params)
        if method == "POST" and parts[3:] == ["pause"]:
            return self._pause(sub)
        if method == "POST" and parts[3:] == ["resume"]:
            return self._resume(sub)
        return None

    # -- creation ----------------------------------------------------------------------

    def _create_subscription(self, params: dict[str, str]) -> Answer:
        customer_id = params.get("customer", "")
        if customer_id not in self.customers:
            return missing("customer", customer_id)
        item = tree(params, "items").get("0")
        if not isinstance(item, dict) or "price" not in item:
            return invalid("Missing required param: items.", "items", "parameter_missing")
        p = self.prices.get(item["price"])
        if p is None:
            return missing("price", item["price"])
        if p["recurring"] is None:
            return invalid(
                "The price specified is set to `type=one_time` but this field only accepts "
                "prices with `type=recurring`.",
                "items[0][price]",
            )
        quantity = item.get("quantity", "1")
        trial = params.get("trial_period_days", "0")
        if not quantity.isdigit() or int(quantity) < 1 or not trial.isdigit():
            return invalid("Invalid positive integer", "items[0][quantity]")
        pm = params.get("default_payment_method")
        if pm is not None and pm not in self.payment_methods:
            return missing("PaymentMethod", pm)
        behavior = params.get("payment_behavior", "allow_incomplete")
        sub = self._start(
            customer_id, p, int(quantity), tree(params, "metadata"), int(trial), pm, behavior
        )
        if sub["status"] == "incomplete" and behavior == "error_if_incomplete":
            error = error_body("card_error", "Your card was declined.", None, code="card_declined")
            return 402, error
        return 200, sub

    def _start(
        self,
        customer_id: str,
        p: Obj,
        quantity: int,
        metadata: dict[str, str],
        trial_days: int,
        default_pm: str | None,
        behavior: str = "allow_incomplete",
    ) -> Obj:
        """A new subscription, its first invoice and (unless trialing) its first charge."""
        now = self.clock
        sub_id = self._new_id("sub")
        recurring = p["recurring"]
        end = (
            now + trial_days * DAY
            if trial_days
            else wire.add_interval(now, recurring["interval"], recurring["interval_count"])
        )
        item = wire.subscription_item(self._new_id("si"), sub_id, p, quantity, now, end)
        sub: Obj = {
            "id": sub_id,
            "object": "subscription",
            "application": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": end if trial_days else now,
            "billing_mode": {"type": "flexible", "flexible": None, "updated_at": now},
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically",
            "created": now,
            "currency": p["currency"],
            "customer": customer_id,
            "days_until_due": None,
            "default_payment_method": default_pm,
            "description": None,
            "discounts": [],
            "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": listing([item], f"/v1/subscription_items?subscription={sub_id}")
            | {"total_count": 1},
            "latest_invoice": None,
            "livemode": self.livemode,
            "metadata": dict(metadata),
            "pause_collection": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": now,
            "status": "trialing" if trial_days else "incomplete",
            "test_clock": None,
            "trial_end": end if trial_days else None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": now if trial_days else None,
        }
        self.subscriptions[sub_id] = sub
        self._subs[sub_id] = SubState(
            anchor=sub["billing_cycle_anchor"], cycle=0 if trial_days else 1
        )
        self._event("customer.subscription.created", sub)
        amount = 0 if trial_days else p["unit_amount"] * quantity
        line = self._line(sub, item, amount, (now, end))
        inv = self._invoice(sub, [line], "subscription_create")
        if trial_days:
            self._attempt(inv, sub, None)
        elif behavior != "default_incomplete" and self._attempt(inv, sub, None):
            self._set(sub, status="active")
        return sub

    # -- changes -----------------------------------------------------------------------

    def _update_subscription(self, sub: Obj, params: dict[str, str]) -> Answer:
        ended = sub["status"] in _ENDED
        if ended and set(params) - {"metadata", "cancellation_details"} - _metadata_keys(params):
            return invalid(
                "A canceled subscription can only update its cancellation_details and metadata.",
                None,
            )
        before = copy.deepcopy(sub)
        if "metadata" in params or tree(params, "metadata"):
            meta = dict(sub["metadata"]) if params.get("metadata") != "" else {}
            for k, v in tree(params, "metadata").items():
                meta.pop(k) if v == "" else meta.__setitem__(k, v)
            sub["metadata"] = meta
        if "default_payment_method" in params:
            pm = params["default_payment_method"] or None
            if pm is not None and pm not in self.payment_methods:
                return missing("PaymentMethod", pm)
            sub["default_payment_method"] = pm
        if "cancel_at_period_end" in params:
            at_end = params["cancel_at_period_end"] == "true"
            sub.update(
                cancel_at_period_end=at_end,
                cancel_at=_period(sub)[1] if at_end else None,
                canceled_at=self.clock if at_end else None,
                cancellation_details={
                    **sub["cancellation_details"],
                    "reason": "cancellation_requested" if at_end else None,
                },
            )
        if "pause_collection" in params or tree(params, "pause_collection"):
            pause = tree(params, "pause_collection")
            if params.get("pause_collection") == "" or not pause:
                sub["pause_collection"] = None
            elif pause.get("behavior") not in _PAUSE_BEHAVIORS:
                return invalid(
                    f"Invalid pause_collection[behavior]: must be one of "
                    f"{sorted(_PAUSE_BEHAVIORS)}",
                    "pause_collection[behavior]",
                )
            else:
                resumes = pause.get("resumes_at")
                sub["pause_collection"] = {
                    "behavior": pause["behavior"],
                    "resumes_at": int(resumes) if resumes else None,
                }
        item_change = tree(params, "items").get("0")
        if isinstance(item_change, dict):
            answer = self._change_item(sub, item_change, params)
            if answer is not None:
                sub.clear()
                sub.update(before)
                return answer
        self._updated(sub, before)
        return 200, sub

    def _change_item(self, sub: Obj, change: Obj, params: dict[str, str]) -> Answer | None:
        item = sub["items"]["data"][0]
        if change.get("id", item["id"]) != item["id"]:
            return missing("subscription_item", str(change.get("id")))
        proration = params.get("proration_behavior", "create_prorations")
        if proration not in _PRORATIONS:
            return invalid(
                f"Invalid proration_behavior: must be one of {sorted(_PRORATIONS)}",
                "proration_behavior",
            )
        new_price = self.prices.get(change.get("price", item["price"]["id"]))
        if new_price is None:
            return missing("price", str(change.get("price")))
        if new_price["recurring"] is None or new_price["currency"] != sub["currency"]:
            return invalid(
                "The price must be recurring and in the subscription's currency "
                f"({sub['currency']}).",
                "items[0][price]",
            )
        quantity = change.get("quantity", str(item["quantity"]))
        if not quantity.isdigit() or int(quantity) < 1:
            return invalid("Invalid positive integer", "items[0][quantity]")
        old_amount = item["price"]["unit_amount"] * item["quantity"]
        item.update(price=dict(new_price), plan=wire.plan_of(new_price), quantity=int(quantity))
        if proration == "none" or sub["status"] != "active":
            return None
        start, end = _period(sub)
        now = self.clock
        if not start <= now < end:
            return None
        lines = [
            self._line(sub, item, -_share(old_amount, now, start, end, sub), (now, end), True),
            self._line(
                sub,
                item,
                _share(new_price["unit_amount"] * int(quantity), now, start, end, sub),
                (now, end),
                True,
            ),
        ]
        if proration == "create_prorations":
            self._subs[sub["id"]].pending.extend(lines)
            return None
        inv = self._invoice(sub, lines, "subscription_update")
        if not self._attempt(inv, sub, None):
            self._set(sub, status="past_due")
        return None

    def _pause(self, sub: Obj) -> Answer:
        if sub["status"] not in {"active", "trialing", "past_due"}:
            return invalid(f"You cannot pause a subscription with status {sub['status']}.", None)
        before = copy.deepcopy(sub)
        sub["status"] = "paused"
        self._event("customer.subscription.paused", sub)
        self._updated(sub, before)
        return 200, sub

    def _resume(self, sub: Obj) -> Answer:
        if sub["status"] != "paused":
            return invalid("Only a paused subscription can be resumed.", None)
        before = copy.deepcopy(sub)
        item = sub["items"]["data"][0]
        recurring = item["price"]["recurring"]
        now = self.clock
        end = wire.add_interval(now, recurring["interval"], recurring["interval_count"])
        item.update(current_period_start=now, current_period_end=end)
        sub["billing_cycle_anchor"] = now
        self._subs[sub["id"]] = SubState(anchor=now, cycle=1, trial_warned=True)
        amount = item["price"]["unit_amount"] * item["quantity"]
        inv = self._invoice(sub, [self._line(sub, item, amount, (now, end))], "subscription_update")
        sub["status"] = "active" if self._attempt(inv, sub, None) else "past_due"
        self._event("customer.subscription.resumed", sub)
        self._updated(sub, before)
        return 200, sub

    # -- the engine ----------------------------------------------------------------------

    def _cycle(self, sub: Obj, forced: bool | None) -> None:
        """The subscription reaches its period end: a new period and its invoice."""
        before = copy.deepcopy(sub)
        state = self._subs[sub["id"]]
        item = sub["items"]["data"][0]
        recurring = item["price"]["recurring"]
        start = item["current_period_end"]
        state.cycle += 1
        end = wire.add_interval(
            state.anchor, recurring["interval"], recurring["interval_count"] * state.cycle
        )
        item.update(current_period_start=start, current_period_end=end)
        amount = item["price"]["unit_amount"] * item["quantity"]
        lines = [*state.pending, self._line(sub, item, amount, (start, end))]
        state.pending = []
        if sub["pause_collection"] is not None:
            self._uncollected(sub, lines, sub["pause_collection"]["behavior"])
            self._updated(sub, before)
            return
        inv = self._invoice(sub, lines, "subscription_cycle")
        paid = self._attempt(inv, sub, forced)
        if paid:
            sub["status"] = "active"
        elif sub["status"] in {"active", "trialing", "past_due"}:
            sub["status"] = "past_due"
        self._updated(sub, before)

    def _retry(self, sub: Obj, inv: Obj, forced: bool | None) -> None:
        """Stripe's next attempt at an open invoice (a Smart Retry or a new card)."""
        before = copy.deepcopy(sub)
        if self._attempt(inv, sub, forced):
            if sub["status"] in {"past_due", "incomplete", "unpaid"}:
                sub["status"] = "active"
            self._updated(sub, before)
        elif inv["next_payment_attempt"] is None and self.after_retries == "canceled":
            self._end(sub, "payment_failed")
        elif inv["next_payment_attempt"] is None and sub["status"] != self.after_retries:
            sub["status"] = self.after_retries
            self._updated(sub, before)

    def _end(self, sub: Obj, reason: str) -> None:
        sub.update(
            status="canceled",
            canceled_at=sub["canceled_at"] or self.clock,
            ended_at=self.clock,
            cancellation_details={**sub["cancellation_details"], "reason": reason},
        )
        self._event("customer.subscription.deleted", sub)

    def _set(self, sub: Obj, **changes: Any) -> None:
        before = copy.deepcopy(sub)
        sub.update(changes)
        self._updated(sub, before)

    def _updated(self, sub: Obj, before: Obj) -> None:
        """``customer.subscription.updated`` with the attributes that changed (none: no event)."""
        previous = {k: v for k, v in before.items() if sub.get(k) != v}
        if previous:
            self._event("customer.subscription.updated", sub, previous_attributes=previous)


def _period(sub: Obj) -> tuple[int, int]:
    item = sub["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def _share(amount: int, now: int, start: int, end: int, sub: Obj) -> int:
    """``amount`` prorated over what is left of the period, in the currency's steps."""
    step = wire.minor_unit_step(sub["currency"])
    exact = Decimal(amount) * (end - now) / (end - start) / step
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)) * step


def _metadata_keys(params: dict[str, str]) -> set[str]:
    return {k for k in params if k.startswith(("metadata[", "cancellation_details["))}
