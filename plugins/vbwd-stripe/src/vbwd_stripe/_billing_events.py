"""Verified Stripe events (plain dicts) -> standard recurring-billing events. Pure: no I/O.

* ``checkout.session.completed`` -> ``checkout.completed`` (``amount`` when it was paid).
* ``customer.subscription.created`` -> ``subscription.created``, and
  ``subscription.activated`` when it starts ``trialing`` or ``active``.
* ``customer.subscription.updated`` -> by ``previous_attributes``, any of:

  - ``subscription.updated``: the price (or quantity) changed;
  - ``subscription.past_due``: it became ``past_due`` (or ``unpaid`` once retries ran out:
    status ``UNPAID``);
  - ``subscription.activated``: it became ``active`` from ``past_due``, ``incomplete`` or
    ``unpaid`` (recovered, or first paid), or a scheduled cancellation was withdrawn;
  - ``subscription.cancelled``: ``cancel_at_period_end`` (or ``cancel_at``) was set, so
    ``at_period_end=True`` and ``ends_at``; or it became ``incomplete_expired`` (``EXPIRED``);
  - ``subscription.paused`` / ``subscription.resumed``: ``pause_collection`` set / cleared.

* ``customer.subscription.deleted`` -> ``subscription.cancelled`` (it has ended;
  ``at_period_end`` is True when it ended as scheduled at the end of its period).
* ``customer.subscription.paused`` / ``.resumed`` / ``.trial_will_end`` ->
  ``subscription.paused`` / ``subscription.resumed`` / ``subscription.trial_will_end``.
* ``invoice.paid`` -> ``subscription.renewed`` (a subscription's invoices only:
  ``amount_paid``, the period of the invoice's subscription lines).
* ``invoice.payment_failed`` -> ``subscription.payment_failed`` (``attempt_count``,
  ``next_payment_attempt``).
* ``charge.dispute.created`` -> ``dispute.opened``; ``charge.dispute.closed`` ->
  ``dispute.closed`` (``won``, ``lost``, else ``other``).

API version ``2026-10-28.endive``: an invoice names its subscription (and a copy of the
subscription's metadata, hence the host's ids) under ``parent.subscription_details``; the
current period is on the subscription's items. Amounts become ISO 4217 minor units.
An invoice in the shape of a version before ``2025-03-31`` (a top-level ``subscription``,
no ``parent``: an endpoint created on an older version) is not translated, not guessed at:
a warning, once per process, names the event's version and how to fix the endpoint.
``subscription_id``/``user_id`` are the host's ids from the metadata the plugin set, or
``None`` when the object carries none (a dispute never does: look it up by
``transaction_id``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from vbwd_plugins.errors import MoneyError, WebhookPayloadError
from vbwd_plugins.payments import (
    BillingEventData,
    CheckoutCompleted,
    CheckoutMode,
    DisputeClosed,
    DisputeOpened,
    DisputeOutcome,
    SubscriptionActivated,
    SubscriptionCancelled,
    SubscriptionCreated,
    SubscriptionPastDue,
    SubscriptionPaused,
    SubscriptionPaymentFailed,
    SubscriptionRenewed,
    SubscriptionResumed,
    SubscriptionStatus,
    SubscriptionTrialWillEnd,
    SubscriptionUpdated,
)

from ._billing_mapping import (
    API_VERSION,
    first_item,
    host_ids,
    moment,
    object_id,
    subscription_status,
)
from ._currency import iso_units
from ._webhook_events import _Event

__all__ = ["BILLING_EVENT_TYPES", "billing_events"]

logger = logging.getLogger(__name__)

#: Statuses from which becoming ``active`` is news (a trial's end is reported as a renewal).
_RECOVERED_FROM: Final = frozenset({"past_due", "incomplete", "unpaid"})
_LIVE: Final = frozenset({"active", "trialing"})
_OUTCOMES: Final[Mapping[str, DisputeOutcome]] = {
    "won": DisputeOutcome.WON,
    "lost": DisputeOutcome.LOST,
}


def _base(ev: _Event, metadata: object) -> dict[str, Any]:
    subscription_id, user_id, rest = host_ids(metadata)
    return {
        "provider": ev.provider,
        "provider_event_type": ev.type,
        "occurred_at": ev.created,
        "provider_event_id": ev.id,
        "subscription_id": subscription_id,
        "user_id": user_id,
        "metadata": rest,
    }


def _iso(ev: _Event, units: int, currency: str) -> int:
    try:
        return iso_units(units, currency)
    except MoneyError as exc:
        raise WebhookPayloadError(
            f"Stripe event {ev.id!r} ({ev.type}): {exc}", plugin_name=ev.provider
        ) from None


# -- subscriptions ---------------------------------------------------------------------------


def _sub(ev: _Event) -> dict[str, Any]:
    """Fields of every ``subscription.*`` event read from a subscription object."""
    item = first_item(ev.obj)
    return {
        **_base(ev, ev.obj.get("metadata")),
        "provider_subscription_id": ev.require("id", str),
        "status": subscription_status(ev.obj),
        "provider_plan_id": object_id(item.get("price")),
        "customer_id": object_id(ev.obj.get("customer")),
        "current_period_end": moment(item.get("current_period_end")),
    }


def _created(ev: _Event) -> list[BillingEventData]:
    common = _sub(ev)
    found: list[BillingEventData] = [SubscriptionCreated(**common)]
    if ev.obj.get("status") in _LIVE:
        found.append(SubscriptionActivated(**common))
    return found


def _status_change(ev: _Event, common: dict[str, Any]) -> list[BillingEventData]:
    if "status" not in ev.previous:
        return []
    before, now = ev.previous.get("status"), ev.obj.get("status")
    if before == now:
        return []
    if now in ("past_due", "unpaid"):
        return [SubscriptionPastDue(**common)]
    if now == "active" and before in _RECOVERED_FROM:
        return [SubscriptionActivated(**common)]
    if now == "incomplete_expired":
        return [SubscriptionCancelled(**common, at_period_end=False, ends_at=ev.created)]
    return []


def _updated(ev: _Event) -> list[BillingEventData]:
    common = _sub(ev)
    prev = ev.previous
    found: list[BillingEventData] = []
    if "items" in prev:
        old, new = first_item(prev), first_item(ev.obj)
        old_price = object_id(old.get("price"))
        if old_price != object_id(new.get("price")) or old.get("quantity") != new.get("quantity"):
            found.append(SubscriptionUpdated(**common, previous_plan_id=old_price))
    found += _status_change(ev, common)
    if "pause_collection" in prev:
        was, paused = bool(prev.get("pause_collection")), bool(ev.obj.get("pause_collection"))
        if paused and not was:
            found.append(SubscriptionPaused(**common))
        elif was and not paused:
            found.append(SubscriptionResumed(**common))
    found += _cancellation_change(ev, common)
    return found


def _cancellation_change(ev: _Event, common: dict[str, Any]) -> list[BillingEventData]:
    prev, obj = ev.previous, ev.obj
    if "cancel_at_period_end" not in prev and "cancel_at" not in prev:
        return []
    if obj.get("status") in ("canceled", "incomplete_expired"):
        return []  # reported by customer.subscription.deleted (or the status change)
    scheduled = obj.get("cancel_at_period_end") is True or moment(obj.get("cancel_at")) is not None
    was_scheduled = (
        prev.get("cancel_at_period_end", obj.get("cancel_at_period_end")) is True
        or moment(prev.get("cancel_at", obj.get("cancel_at"))) is not None
    )
    if scheduled and not was_scheduled:
        ends_at = moment(obj.get("cancel_at")) or common["current_period_end"]
        return [SubscriptionCancelled(**common, at_period_end=True, ends_at=ends_at)]
    if was_scheduled and not scheduled and obj.get("status") in _LIVE:
        return [SubscriptionActivated(**common)]
    return []


def _deleted(ev: _Event) -> list[BillingEventData]:
    common = _sub(ev)
    if common["status"] not in (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED):
        common["status"] = SubscriptionStatus.CANCELLED
    ended = moment(ev.obj.get("ended_at")) or moment(ev.obj.get("canceled_at")) or ev.created
    at_end = ev.obj.get("cancel_at_period_end") is True
    return [SubscriptionCancelled(**common, at_period_end=at_end, ends_at=ended)]


def _paused(ev: _Event) -> list[BillingEventData]:
    return [SubscriptionPaused(**_sub(ev))]


def _resumed(ev: _Event) -> list[BillingEventData]:
    return [SubscriptionResumed(**_sub(ev))]


def _trial_will_end(ev: _Event) -> list[BillingEventData]:
    return [SubscriptionTrialWillEnd(**_sub(ev), trial_end=moment(ev.obj.get("trial_end")))]


# -- invoices --------------------------------------------------------------------------------


def _invoice(ev: _Event) -> tuple[dict[str, Any], datetime | None] | None:
    """Fields of an invoice event and the billed period's start; ``None``: not a subscription's."""
    parent = ev.obj.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    if not isinstance(details, Mapping):
        return None
    sub_id = object_id(details.get("subscription"))
    if sub_id is None:
        return None
    start, end, plan_id = _period(ev.obj, sub_id)
    common = {
        **_base(ev, details.get("metadata")),
        "provider_subscription_id": sub_id,
        "provider_plan_id": plan_id,
        "customer_id": object_id(ev.obj.get("customer")),
        "current_period_end": end,
        "invoice_id": ev.require("id", str),
    }
    return common, start


def _period(
    invoice: Mapping[str, Any], sub_id: str
) -> tuple[datetime | None, datetime | None, str | None]:
    """Period and Price of the subscription's own (not proration) lines of ``invoice``.

    An invoice's ``period_start``/``period_end`` are not the billed period (for a renewal
    they are the period that just ended); the lines are.
    """
    lines = invoice.get("lines")
    data = lines.get("data") if isinstance(lines, Mapping) else None
    regular: list[Mapping[str, Any]] = []
    for line in data if isinstance(data, list) else []:
        if not isinstance(line, Mapping) or not isinstance(line.get("period"), Mapping):
            continue
        parent = line.get("parent")
        details = parent.get("subscription_item_details") if isinstance(parent, Mapping) else None
        if not isinstance(details, Mapping) or details.get("subscription") not in (sub_id, None):
            continue
        if details.get("proration") is not True:
            regular.append(line)
    starts = [s for s in (moment(line["period"].get("start")) for line in regular) if s]
    ends = [e for e in (moment(line["period"].get("end")) for line in regular) if e]
    plan_id: str | None = None
    for line in regular:
        pricing = line.get("pricing")
        details = pricing.get("price_details") if isinstance(pricing, Mapping) else None
        if isinstance(details, Mapping):
            plan_id = object_id(details.get("price"))
            break
    return (min(starts) if starts else None), (max(ends) if ends else None), plan_id


def _invoice_paid(ev: _Event) -> list[BillingEventData]:
    found = _invoice(ev)
    if found is None:
        return []
    common, start = found
    currency = ev.require("currency", str)
    return [
        SubscriptionRenewed(
            **common,
            amount=_iso(ev, ev.require("amount_paid", int), currency),
            currency=currency,
            period_start=start,
            period_end=common["current_period_end"],
        )
    ]


def _invoice_failed(ev: _Event) -> list[BillingEventData]:
    found = _invoice(ev)
    if found is None:
        return []
    common, _ = found
    currency = ev.require("currency", str)
    attempt = ev.obj.get("attempt_count")
    return [
        SubscriptionPaymentFailed(
            **common,
            amount=_iso(ev, ev.require("amount_due", int), currency),
            currency=currency,
            attempt=attempt if isinstance(attempt, int) and attempt >= 1 else None,
            next_retry_at=moment(ev.obj.get("next_payment_attempt")),
        )
    ]


# -- checkout and disputes -------------------------------------------------------------------


def _checkout_completed(ev: _Event) -> list[BillingEventData]:
    mode = ev.require("mode", str)
    try:
        checkout_mode = CheckoutMode(mode)
    except ValueError:
        raise WebhookPayloadError(
            f"Stripe event {ev.id!r} ({ev.type}): unknown checkout mode {mode!r}",
            plugin_name=ev.provider,
        ) from None
    amount: int | None = None
    currency: str | None = None
    total, code = ev.obj.get("amount_total"), ev.obj.get("currency")
    if ev.obj.get("payment_status") == "paid" and isinstance(total, int) and isinstance(code, str):
        amount, currency = _iso(ev, total, code), code
    return [
        CheckoutCompleted(
            **_base(ev, ev.obj.get("metadata")),
            checkout_session_id=ev.require("id", str),
            mode=checkout_mode,
            provider_subscription_id=object_id(ev.obj.get("subscription")),
            customer_id=object_id(ev.obj.get("customer")),
            transaction_id=object_id(ev.obj.get("payment_intent")),
            amount=amount,
            currency=currency,
        )
    ]


def _dispute(ev: _Event) -> dict[str, Any]:
    transaction = object_id(ev.obj.get("payment_intent")) or object_id(ev.obj.get("charge"))
    if transaction is None:
        raise WebhookPayloadError(
            f"Stripe event {ev.id!r} ({ev.type}): the dispute names no payment_intent or charge",
            plugin_name=ev.provider,
        )
    currency = ev.require("currency", str)
    reason = ev.obj.get("reason")
    return {
        **_base(ev, ev.obj.get("metadata")),
        "dispute_id": ev.require("id", str),
        "transaction_id": transaction,
        "amount": _iso(ev, ev.require("amount", int), currency),
        "currency": currency,
        "reason": reason if isinstance(reason, str) and reason else None,
    }


def _dispute_opened(ev: _Event) -> list[BillingEventData]:
    return [DisputeOpened(**_dispute(ev))]


def _dispute_closed(ev: _Event) -> list[BillingEventData]:
    outcome = _OUTCOMES.get(str(ev.obj.get("status")), DisputeOutcome.OTHER)
    return [DisputeClosed(**_dispute(ev), outcome=outcome)]


_TRANSLATORS: Final[Mapping[str, Callable[[_Event], list[BillingEventData]]]] = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _created,
    "customer.subscription.updated": _updated,
    "customer.subscription.deleted": _deleted,
    "customer.subscription.paused": _paused,
    "customer.subscription.resumed": _resumed,
    "customer.subscription.trial_will_end": _trial_will_end,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_failed,
    "charge.dispute.created": _dispute_opened,
    "charge.dispute.closed": _dispute_closed,
}

#: The Stripe event types that produce billing events (subscribe the endpoint to these).
BILLING_EVENT_TYPES: Final = frozenset(_TRANSLATORS)


def billing_events(event: Mapping[str, Any], *, provider: str) -> list[BillingEventData]:
    """The standard billing events for one verified Stripe ``event`` (possibly none)."""
    translate = _TRANSLATORS.get(str(event.get("type")))
    if translate is None:
        return []
    ev = _Event(event, provider)
    if translate in (_invoice_paid, _invoice_failed) and _older_invoice(ev.obj):
        _warn_api_version(ev, event.get("api_version"))
        return []
    return translate(ev)


def _older_invoice(invoice: Mapping[str, Any]) -> bool:
    """Whether ``invoice`` has the shape of an API version before ``2025-03-31``."""
    return "parent" not in invoice and object_id(invoice.get("subscription")) is not None


class _Once:
    """Whether the API-version warning was logged in this process (then: debug only)."""

    warned = False


def _warn_api_version(ev: _Event, api_version: object) -> None:
    level = logging.DEBUG if _Once.warned else logging.WARNING
    _Once.warned = True
    logger.log(
        level,
        "Stripe %s %s comes from an endpoint on API version %r (invoice.subscription at the "
        "top, no parent) but the plugin reads %s: no subscription event is emitted for its "
        "invoices. Fix: create the webhook endpoint on API version %s (in the Dashboard, or "
        "api_version when creating it through the API) and delete the old endpoint",
        ev.type,
        ev.id,
        api_version,
        API_VERSION,
        API_VERSION,
    )
