"""Verified Stripe events (plain dicts) -> standard payment events.

=====================================================  ==========================
Stripe event type                                      standard event
=====================================================  ==========================
``payment_intent.succeeded``                           ``payment.completed``
``payment_intent.payment_failed``                      ``payment.failed``
``payment_intent.canceled``                            ``payment.cancelled``
``payment_intent.amount_capturable_updated``           ``payment.authorized``
``payment_intent.processing``                          ``payment.pending``
``charge.refunded``                                    ``payment.refunded``
``refund.created`` / ``refund.updated``                ``payment.refunded``
=====================================================  ==========================

Other types produce nothing (the contract logs them at debug level).

Refunds carry the amount of *this* refund:

* ``refund.created`` / ``refund.updated`` carry the Refund itself. One event is emitted
  when the refund *succeeds*: on ``refund.created`` if it is already ``succeeded``, or on
  the ``refund.updated`` whose ``previous_attributes.status`` shows the change to
  ``succeeded``. Pending, failed and cancelled refunds emit nothing.
* ``charge.refunded`` carries the Charge with the *cumulative* ``amount_refunded``. This
  refund's amount is ``amount_refunded - previous_attributes.amount_refunded``; when
  ``previous_attributes`` is missing, the newest refund in an embedded ``refunds`` list is
  used (only if exactly one is newest). Otherwise the amount cannot be known and nothing
  is emitted (a warning is logged): subscribe to ``refund.*`` instead.

Subscribe the endpoint to ``charge.refunded`` *or* ``refund.*``, not both, or each refund
is reported twice (the payload's ``refund_id`` lets a host deduplicate when it can).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeGuard

from vbwd_plugins import (
    PaymentErrorCode,
    PaymentEventData,
)
from vbwd_plugins.errors import (
    MoneyError,
    WebhookPayloadError,
)
from vbwd_plugins.payments import (
    PaymentAuthorized,
    PaymentCancelled,
    PaymentCompleted,
    PaymentFailed,
    PaymentPending,
    PaymentRefunded,
)

from ._currency import iso_units
from ._error_map import code_for_error_object

__all__ = ["payment_events"]

logger = logging.getLogger(__name__)

#: The last Unix second a ``datetime`` holds (9999-12-31T23:59:59Z).
_LAST_SECOND: Final = 253_402_300_799


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, without the ABC check for a parsed JSON object."""
    return type(value) is dict or isinstance(value, Mapping)


class _Event:
    """The fields of one Stripe event every translation needs, checked once."""

    __slots__ = ("created", "id", "obj", "previous", "provider", "type")

    def __init__(self, event: Mapping[str, Any], provider: str) -> None:
        raw = event.get("data")
        data: Mapping[str, Any] = raw if _is_mapping(raw) else {}
        obj = data.get("object")
        if not _is_mapping(obj):
            raise WebhookPayloadError(
                f"Stripe event {event.get('id')!r} has no data.object", plugin_name=provider
            )
        created = event.get("created")
        if isinstance(created, bool) or not isinstance(created, int):
            raise WebhookPayloadError(
                f"Stripe event {event.get('id')!r} has no integer 'created' time",
                plugin_name=provider,
            )
        if not 0 <= created <= _LAST_SECOND:
            raise WebhookPayloadError(
                f"Stripe event {event.get('id')!r}: 'created' {created} is not a Unix time "
                "between 1970 and 9999",
                plugin_name=provider,
            )
        previous = data.get("previous_attributes")
        event_id = event.get("id")
        self.id: str | None = event_id if isinstance(event_id, str) else None
        self.type: str = str(event.get("type"))
        self.created: datetime = datetime.fromtimestamp(created, UTC)
        self.obj: Mapping[str, Any] = obj
        self.previous: Mapping[str, Any] = previous if _is_mapping(previous) else {}
        self.provider = provider

    def require(self, key: str, kind: type) -> Any:
        value = self.obj.get(key)
        if type(value) is kind:  # exactly an int or a str (never a bool)
            return value
        if not isinstance(value, kind) or isinstance(value, bool):
            raise WebhookPayloadError(
                f"Stripe event {self.id!r} ({self.type}): data.object.{key} is missing or "
                f"not a {kind.__name__}",
                plugin_name=self.provider,
            )
        return value

    def common(self, transaction_id: str, stripe_amount: int) -> dict[str, Any]:
        """Fields shared by every standard payload; amounts converted to ISO units."""
        currency = self.require("currency", str)
        try:
            amount = iso_units(stripe_amount, currency)
        except MoneyError as exc:
            raise WebhookPayloadError(
                f"Stripe event {self.id!r} ({self.type}): {exc}", plugin_name=self.provider
            ) from None
        raw = self.obj.get("metadata")
        metadata = (
            {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}
            if _is_mapping(raw)
            else {}
        )
        subscription_id = metadata.pop("subscription_id", None)
        user_id = metadata.pop("user_id", None)
        return {
            "provider": self.provider,
            "transaction_id": transaction_id,
            "amount": amount,
            "currency": currency,
            "provider_event_type": self.type,
            "occurred_at": self.created,
            "provider_event_id": self.id,
            "subscription_id": subscription_id,
            "user_id": user_id,
            "metadata": metadata,
        }


def _failure(error: object) -> tuple[PaymentErrorCode | None, str | None]:
    if not isinstance(error, Mapping):
        return None, None
    message = error.get("message")
    return code_for_error_object(error), message if isinstance(message, str) else None


def _succeeded(ev: _Event) -> list[PaymentEventData]:
    received = ev.require("amount_received", int)
    amount = received or ev.require("amount", int)
    return [PaymentCompleted(**ev.common(ev.require("id", str), amount))]


def _payment_failed(ev: _Event) -> list[PaymentEventData]:
    code, message = _failure(ev.obj.get("last_payment_error"))
    common = ev.common(ev.require("id", str), ev.require("amount", int))
    return [PaymentFailed(**common, error_code=code, error_message=message)]


def _canceled(ev: _Event) -> list[PaymentEventData]:
    return [PaymentCancelled(**ev.common(ev.require("id", str), ev.require("amount", int)))]


def _authorized(ev: _Event) -> list[PaymentEventData]:
    capturable = ev.require("amount_capturable", int)
    if not capturable:  # the authorization was released (captured or cancelled)
        return []
    return [PaymentAuthorized(**ev.common(ev.require("id", str), capturable))]


def _processing(ev: _Event) -> list[PaymentEventData]:
    return [PaymentPending(**ev.common(ev.require("id", str), ev.require("amount", int)))]


def _refund(ev: _Event) -> list[PaymentEventData]:
    if ev.obj.get("status") != "succeeded":
        logger.debug(
            "Stripe %s %s: refund status %r, no event yet", ev.type, ev.id, ev.obj.get("status")
        )
        return []
    if ev.type != "refund.created" and ev.previous.get("status") in (None, "succeeded"):
        # An update that did not change the status to succeeded (already reported).
        return []
    refund_id = ev.require("id", str)
    target = ev.obj.get("payment_intent") or ev.obj.get("charge") or refund_id
    return [
        PaymentRefunded(**ev.common(str(target), ev.require("amount", int)), refund_id=refund_id)
    ]


def _newest_refund(charge: Mapping[str, Any]) -> Mapping[str, Any] | None:
    refunds = charge.get("refunds")
    data = refunds.get("data") if isinstance(refunds, Mapping) else None
    if not isinstance(data, list) or not data:
        return None
    listed = [r for r in data if isinstance(r, Mapping) and isinstance(r.get("created"), int)]
    if not listed:
        return None
    newest = max(r["created"] for r in listed)
    candidates = [r for r in listed if r["created"] == newest]
    return candidates[0] if len(candidates) == 1 else None


def _charge_refunded(ev: _Event) -> list[PaymentEventData]:
    charge_id = ev.require("id", str)
    total = ev.require("amount_refunded", int)
    newest = _newest_refund(ev.obj)
    previous = ev.previous.get("amount_refunded")
    refund_id: str | None = None
    if isinstance(previous, int) and not isinstance(previous, bool):
        amount = total - previous
        if newest is not None and newest.get("amount") == amount:
            refund_id = newest.get("id") if isinstance(newest.get("id"), str) else None
    elif newest is not None and isinstance(newest.get("amount"), int):
        amount = newest["amount"]
        refund_id = newest.get("id") if isinstance(newest.get("id"), str) else None
    else:
        logger.warning(
            "Stripe charge.refunded %s: neither previous_attributes.amount_refunded nor a "
            "refunds list says how much this refund was; no payment.refunded emitted "
            "(subscribe the endpoint to refund.created / refund.updated instead)",
            ev.id,
        )
        return []
    if amount <= 0:
        logger.warning("Stripe charge.refunded %s: refund amount %r is not positive", ev.id, amount)
        return []
    target = ev.obj.get("payment_intent") or charge_id
    return [PaymentRefunded(**ev.common(str(target), amount), refund_id=refund_id)]


_TRANSLATORS: Final[Mapping[str, Callable[[_Event], list[PaymentEventData]]]] = {
    "payment_intent.succeeded": _succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "payment_intent.canceled": _canceled,
    "payment_intent.amount_capturable_updated": _authorized,
    "payment_intent.processing": _processing,
    "charge.refunded": _charge_refunded,
    "refund.created": _refund,
    "refund.updated": _refund,
    "charge.refund.updated": _refund,
}


def payment_events(event: Mapping[str, Any], *, provider: str) -> list[PaymentEventData]:
    """The standard events for one verified Stripe ``event`` (possibly none)."""
    translate = _TRANSLATORS.get(str(event.get("type")))
    if translate is None:
        return []
    return translate(_Event(event, provider))
