"""The payer approved an order: the ``paypal.order.approved`` event and the capture it may cause.

``CHECKOUT.ORDER.APPROVED`` translates (purely) to a ``paypal.order.approved`` event, declared
in the plugin's ``PluginMetadata.emits``. Capturing on approval is a listener of that event
(``paypal:capture-on-approval``), so the webhook pipeline records it as a delivery of its own:
retried on its own when PayPal is unreachable, never re-run once it succeeded, and sending its
delivery's idempotency key as the ``PayPal-Request-Id`` so that a retry is not a second capture.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Final, final

from vbwd_plugins import Event, PaymentErrorCode
from vbwd_plugins.errors import MoneyError, WebhookPayloadError
from vbwd_plugins.payments import PaymentFailed

from ._client import PayPalClient
from ._errors import PayPalAPIError
from ._webhook_events import order_failed_event

__all__ = ["APPROVAL_TYPE", "ORDER_APPROVED", "OrderApproved", "act_on_approval", "approval_events"]

logger = logging.getLogger(__name__)

#: The event this plugin emits when a payer approves an order.
ORDER_APPROVED: Final = "paypal.order.approved"
#: PayPal's webhook event type behind it.
APPROVAL_TYPE: Final = "CHECKOUT.ORDER.APPROVED"

#: Order ids go into a URL path: PayPal's are letters and digits; no ``/`` or ``.``.
_ORDER_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,127}")
_INTENTS: Final = frozenset({"CAPTURE", "AUTHORIZE"})
_ALREADY_DONE: Final = frozenset({"ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED"})


def _refuse(why: str) -> WebhookPayloadError:
    return WebhookPayloadError(f"PayPal {APPROVAL_TYPE} event: {why}", plugin_name="paypal")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderApproved:
    """The data of ``paypal.order.approved``: the order, what it is for, where it came from.

    ``intent`` is PayPal's (``CAPTURE``, or ``AUTHORIZE`` for a manual-capture order);
    ``amount`` is in ISO 4217 minor units. Every field is checked as a ``payment.failed``
    checks it, so a decline can always be reported.
    """

    order_id: str
    intent: str
    amount: int
    currency: str
    occurred_at: datetime
    provider_event_id: str | None = None
    subscription_id: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.order_id, str) or not _ORDER_ID.fullmatch(self.order_id):
            raise _refuse(f"order id {self.order_id!r} is not a PayPal order id")
        if self.intent not in _INTENTS:
            raise _refuse(f"intent {self.intent!r} is neither CAPTURE nor AUTHORIZE")
        self.failed(PaymentErrorCode.DECLINED, "")  # raises WebhookPayloadError if unusable

    @property
    def action(self) -> str:
        """The Orders v2 action that completes the order: ``capture`` or ``authorize``."""
        return "authorize" if self.intent == "AUTHORIZE" else "capture"

    @classmethod
    def from_webhook(cls, payload: Mapping[str, Any]) -> OrderApproved:
        """Read a verified ``CHECKOUT.ORDER.APPROVED``; :class:`WebhookPayloadError` if unusable."""
        order = payload.get("resource")
        if not isinstance(order, Mapping):
            raise _refuse("no order resource")
        try:  # read as every PayPal event is: amount, custom_id, times
            read = order_failed_event(payload, order, PaymentErrorCode.DECLINED, "")
        except MoneyError as exc:
            raise _refuse(f"unusable amount: {exc}") from None
        intent = order.get("intent", "CAPTURE")
        return cls(
            order_id=read.transaction_id,
            intent=intent if isinstance(intent, str) else repr(intent),
            amount=read.amount,
            currency=read.currency,
            occurred_at=read.occurred_at,
            provider_event_id=read.provider_event_id,
            subscription_id=read.subscription_id,
            user_id=read.user_id,
        )

    @classmethod
    def from_event(cls, event: Event) -> OrderApproved:
        """Rebuild from a received ``paypal.order.approved`` (also after a JSON round trip)."""
        values: dict[str, Any] = {f.name: event.data.get(f.name) for f in fields(cls)}
        if isinstance(values["occurred_at"], str):
            try:
                values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
            except ValueError:
                raise _refuse(f"occurred_at {values['occurred_at']!r} is not ISO 8601") from None
        return cls(**values)

    def to_event(self) -> Event:
        """The ``paypal.order.approved`` event (``provider`` and PayPal's type included)."""
        data = {"provider": "paypal", "provider_event_type": APPROVAL_TYPE, **asdict(self)}
        return Event(ORDER_APPROVED, data)

    def failed(self, code: PaymentErrorCode, message: str) -> PaymentFailed:
        """``payment.failed`` for this order: PayPal refused to capture or authorize it."""
        return PaymentFailed(
            provider="paypal",
            transaction_id=self.order_id,
            error_code=code,
            error_message=message,
            amount=self.amount,
            currency=self.currency,
            provider_event_type=APPROVAL_TYPE,
            provider_event_id=self.provider_event_id,
            occurred_at=self.occurred_at,
            subscription_id=self.subscription_id,
            user_id=self.user_id,
            metadata={"order_id": self.order_id, "status": "APPROVED"},
        )


def approval_events(payload: Mapping[str, Any]) -> list[Event]:
    """``[paypal.order.approved]`` for a ``CHECKOUT.ORDER.APPROVED`` payload, else ``[]``."""
    if payload.get("event_type") != APPROVAL_TYPE:
        return []
    return [OrderApproved.from_webhook(payload).to_event()]


def act_on_approval(
    client: PayPalClient, approved: OrderApproved, *, request_id: str | None
) -> PaymentFailed | None:
    """Capture or authorize the approved order; the ``payment.failed`` of a decline.

    ``request_id`` is the ``PayPal-Request-Id`` (the delivery's idempotency key); ``None``
    (a plain dispatch) derives one from the order. Success returns ``None``: PayPal's own
    ``PAYMENT.CAPTURE.COMPLETED`` or ``PAYMENT.AUTHORIZATION.CREATED`` follows and emits the
    standard event; an order already captured or authorized counts as success. Rate limits,
    outages, timeouts and authentication failures raise, so the delivery is retried.
    """
    order_id, action = approved.order_id, approved.action
    try:
        client.call(
            "POST",
            f"/v2/checkout/orders/{order_id}/{action}",
            body={},
            request_id=request_id or f"vbwd-approval-{action}-{order_id}",
        )
    except PayPalAPIError as exc:
        if _ALREADY_DONE.intersection(exc.issues):
            logger.info("paypal: order %s was already %sd", order_id, action)
            return None
        if exc.error_code.retryable or exc.error_code in (
            PaymentErrorCode.AUTHENTICATION_FAILED,
            PaymentErrorCode.PROVIDER_ERROR,
        ):
            raise
        logger.info("paypal: approved order %s was not %sd: %s", order_id, action, exc)
        return approved.failed(exc.error_code, str(exc))
    logger.info("paypal: order %s approved and %sd", order_id, action)
    return None
