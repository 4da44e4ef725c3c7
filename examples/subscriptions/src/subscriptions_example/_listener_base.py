"""What every listener shares: finding the event's row, the keyed write, the ordering rules.

Every listener writes through :meth:`SubscriptionDB.handle`, keyed on the event's
``idempotency_key``: a redelivery, a retry or a replay changes nothing twice. Deliveries are
not ordered, so the status only follows an event at least as recent as the one that set it
(``status_at``), ``paid_until`` only moves forward, and a cancelled or revoked subscription
stays so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeVar

from vbwd_plugins import Capability, Event, PaymentErrorCode, PaymentProviderPlugin
from vbwd_plugins.payments import (
    BillingEventData,
    PaymentEventData,
    SubscriptionEventData,
    SubscriptionRenewed,
    SubscriptionStatus,
)

from ._db import Apply, SubscriptionDB, Tx
from ._model import TERMINAL, Subscription
from ._plans import PlanCatalog

__all__ = [
    "ENDED",
    "LISTENER_PREFIX",
    "ListenerBase",
    "Outcome",
    "idempotency_key",
    "ignored",
    "later",
    "may_set_status",
    "settled",
]

logger = logging.getLogger(__name__)

#: Listener ids are ``"subscriptions-example:<event name>"``: stable across processes.
LISTENER_PREFIX: Final = "subscriptions-example"
ENDED: Final = frozenset({SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED})
#: Failures worth a retry of the delivery (the provider may answer later).
_TRANSIENT: Final = frozenset(
    {
        PaymentErrorCode.PROVIDER_UNAVAILABLE,
        PaymentErrorCode.TIMEOUT,
        PaymentErrorCode.RATE_LIMITED,
    }
)

D = TypeVar("D", bound=BillingEventData | PaymentEventData)
Outcome = tuple[str | None, str]


def idempotency_key(event: Event) -> str:
    """The delivery's key; under a plain ``dispatch`` (no delivery) one derived from the event."""
    if event.idempotency_key is not None:
        return event.idempotency_key
    return hashlib.sha256(f"{LISTENER_PREFIX}:{event.to_json()}".encode()).hexdigest()


def later(current: datetime | None, new: datetime | None) -> datetime | None:
    """The later of two moments (either may be unknown): dates only move forward."""
    if current is None or new is None:
        return current or new
    return max(current, new)


def may_set_status(sub: Subscription, occurred_at: datetime) -> bool:
    """Whether an event that happened at ``occurred_at`` may still change the status."""
    if sub.status in TERMINAL:
        return False
    return sub.status_at is None or occurred_at >= sub.status_at


def settled(sub: Subscription, paid_at: datetime) -> dict[str, Any]:
    """A payment (or recovery) at ``paid_at``: failures before it no longer count."""
    changes: dict[str, Any] = {"last_paid_at": later(sub.last_paid_at, paid_at)}
    if sub.last_failed_at is None or paid_at >= sub.last_failed_at:
        changes.update(failed_payments=0, next_retry_at=None)
    return changes


def ignored(why: str) -> Outcome:
    """The outcome of an event that concerns none of the host's rows."""
    return None, f"ignored: {why}"


class ListenerBase:
    """The listeners' plumbing and the provider reads they need."""

    def __init__(
        self,
        db: SubscriptionDB,
        catalog: PlanCatalog,
        provider: Callable[[str], PaymentProviderPlugin | None],
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.provider = provider

    # -- plumbing ----------------------------------------------------------------------

    @staticmethod
    def _data(event: Event, kind: type[D]) -> D:
        if issubclass(kind, PaymentEventData):
            data: Any = PaymentEventData.from_event(event)
        else:
            data = BillingEventData.from_event(event)
        if not isinstance(data, kind):
            raise TypeError(f"{event.name} carries {type(data).__name__}, not {kind.__name__}")
        return data

    def _handle(
        self, event: Event, data: BillingEventData | PaymentEventData, apply: Apply
    ) -> str | None:
        outcome = self.db.handle(
            idempotency_key(event), event.name, data.provider, data.provider_event_id, apply
        )
        if outcome is None:
            logger.info("%s %s: handled before", event.name, data.provider_event_id)
        else:
            logger.info("%s %s: %s", event.name, data.provider_event_id, outcome)
        return outcome

    def _on_subscription(
        self,
        event: Event,
        kind: type[SubscriptionEventData],
        change: Callable[[Tx, Subscription, Any], Outcome],
    ) -> None:
        """Find the event's subscription and apply ``change`` to it, once."""
        data = self._data(event, kind)

        def apply(tx: Tx) -> Outcome:
            sub = tx.find(
                data.provider,
                subscription_id=data.subscription_id,
                provider_subscription_id=data.provider_subscription_id,
            )
            if sub is None:
                return ignored(f"unknown subscription {data.provider_subscription_id}")
            return change(tx, sub, data)

        self._handle(event, data, apply)

    @staticmethod
    def _ids(sub: Subscription, data: SubscriptionEventData) -> dict[str, Any]:
        """The provider's ids the row does not have yet."""
        return {
            "provider_subscription_id": sub.provider_subscription_id
            or data.provider_subscription_id,
            "customer_id": sub.customer_id or data.customer_id,
            "provider_plan_id": data.provider_plan_id or sub.provider_plan_id,
        }

    # -- provider reads ------------------------------------------------------------------

    def _period_end_of(self, data: SubscriptionRenewed) -> datetime | None:
        """The paid period's end when the event does not say (a PayPal sale): ask the provider.

        Raises when the provider cannot answer, so the delivery is retried rather than the
        renewal recorded without its period.
        """
        provider = self.provider(data.provider)
        if provider is None or Capability.SUBSCRIPTIONS not in provider.capabilities:
            raise RuntimeError(
                f"subscription.renewed from {data.provider} has no period end and the "
                "provider is not enabled to ask"
            )
        result = provider.get_subscription(data.provider_subscription_id)
        if not result.success or result.value is None:
            raise RuntimeError(
                f"{data.provider}: get_subscription({data.provider_subscription_id}) failed: "
                f"{result.error_code} {result.error_message}"
            )
        return result.value.current_period_end

    def _transaction_of(self, provider_name: str, reference: str | None) -> str | None:
        """The payment behind ``reference`` when the provider names it otherwise.

        A Stripe renewal names its invoice, a dispute the invoice's PaymentIntent:
        ``get_payment(invoice id)`` answers the PaymentIntent, so a dispute finds its
        payment. A provider that cannot say (``NOT_FOUND``, no ``GET_PAYMENT``) leaves it
        ``None``; one that is down raises, so the delivery is retried.
        """
        provider = self.provider(provider_name)
        if reference is None or provider is None:
            return None
        if Capability.GET_PAYMENT not in provider.capabilities:
            return None
        result = provider.get_payment(reference)
        if result.success:
            found = result.transaction_id
            return found if found and found != reference else None
        if result.error_code in _TRANSIENT:
            raise RuntimeError(
                f"{provider_name}: get_payment({reference}) failed: {result.error_code}"
            )
        return None
