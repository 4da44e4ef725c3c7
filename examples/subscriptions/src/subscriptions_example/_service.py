"""Subscriptions and payments: the host's business logic, talking to plugins only through
the payment contract and standard events."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from vbwd_plugins import (
    Event,
    Money,
    PaymentEventData,
    PaymentProviderPlugin,
    PaymentResult,
    PluginManager,
)
from vbwd_plugins.payments import (
    PaymentCompleted,
    PaymentFailed,
)

from ._db import Status, Subscription, SubscriptionDB

__all__ = ["PLANS", "Plan", "ServiceError", "SubscriptionService"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """A tariff plan: what a subscription costs."""

    name: str
    amount: Decimal
    currency: str


PLANS: Final[Mapping[str, Plan]] = {
    "basic": Plan("basic", Decimal("9.99"), "EUR"),
    "pro": Plan("pro", Decimal("29.00"), "USD"),
}


class ServiceError(Exception):
    """A request the service refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SubscriptionService:
    """Creates subscriptions, starts their payments and activates them on ``payment.completed``.

    Activation happens only when the provider's verified webhook says the money arrived,
    never on the synchronous answer of ``process_payment``.
    """

    def __init__(self, manager: PluginManager, db: SubscriptionDB) -> None:
        self.manager = manager
        self.db = db

    def subscribe_listeners(self) -> None:
        """Listen to the standard payment events (call once at start-up)."""
        dispatcher = self.manager.event_dispatcher
        dispatcher.add_listener("payment.completed", self.on_payment_completed)
        dispatcher.add_listener("payment.failed", self.on_payment_failed)

    # -- requests --------------------------------------------------------------------------

    def provider(self, name: str | None) -> PaymentProviderPlugin:
        """The enabled payment provider ``name``, or the only enabled one."""
        enabled = {
            plugin.metadata.name: plugin
            for plugin in self.manager.get_enabled_plugins()
            if isinstance(plugin, PaymentProviderPlugin)
        }
        if name is None:
            if len(enabled) != 1:
                raise ServiceError(
                    400,
                    "provider_required",
                    f"Choose a payment provider: enabled are {sorted(enabled) or 'none'}",
                )
            return next(iter(enabled.values()))
        plugin = enabled.get(name)
        if plugin is None:
            raise ServiceError(400, "provider_unavailable", f"Provider {name!r} is not enabled")
        return plugin

    def create(
        self, user_id: str, plan_name: str, provider_name: str | None
    ) -> tuple[Subscription, PaymentResult]:
        """A PENDING subscription and its payment intent at the provider."""
        plan = PLANS.get(plan_name)
        if plan is None:
            raise ServiceError(400, "unknown_plan", f"Unknown plan; choose one of {sorted(PLANS)}")
        try:
            user = uuid.UUID(user_id)
        except (ValueError, TypeError, AttributeError):
            raise ServiceError(400, "invalid_user", "user_id must be a UUID") from None
        provider = self.provider(provider_name)
        subscription = self.db.create(str(user), plan.name, plan.amount, plan.currency)
        result = provider.create_payment_intent(
            plan.amount,
            plan.currency,
            uuid.UUID(subscription.id),
            user,
            {"description": f"{plan.name} plan"},
            idempotency_key=f"sub-{subscription.id}-intent",
        )
        if not result.success:
            raise ServiceError(
                502, "payment_failed", f"The provider refused the payment: {result.error_code}"
            )
        self.db.attach_payment(subscription.id, provider.metadata.name, result.transaction_id)
        refreshed = self.db.get(subscription.id)
        assert refreshed is not None
        return refreshed, result

    def pay(self, subscription_id: str, payment_method: str) -> tuple[Subscription, PaymentResult]:
        """Confirm the payment (Stripe) or capture the approved order (PayPal)."""
        subscription = self.get(subscription_id)
        if subscription.provider is None or subscription.payment_id is None:
            raise ServiceError(409, "no_payment", "This subscription has no payment to process")
        provider = self.provider(subscription.provider)
        result = provider.process_payment(
            subscription.payment_id,
            payment_method,
            idempotency_key=f"sub-{subscription.id}-pay-{payment_method}",
        )
        if result.success:
            self.db.attach_payment(
                subscription.id, provider.metadata.name, None, result.transaction_id
            )
        return self.get(subscription_id), result

    def get(self, subscription_id: str) -> Subscription:
        """The subscription; 404 if there is none."""
        subscription = self.db.get(subscription_id)
        if subscription is None:
            raise ServiceError(404, "not_found", "No such subscription")
        return subscription

    # -- listeners (run inside the webhook pipeline) -------------------------------------

    def on_payment_completed(self, event: Event) -> None:
        """PENDING -> ACTIVE when the paid amount matches the plan."""
        data = PaymentEventData.from_event(event)
        assert isinstance(data, PaymentCompleted)
        subscription = self._subscription_of(data)
        if subscription is None:
            self._record(data, None, "ignored: unknown subscription")
            return
        paid = Money.from_minor_units(data.amount, data.currency)
        if paid != Money(subscription.amount, subscription.currency):
            logger.error(
                "subscription %s: paid %s, but the plan costs %s %s; not activated",
                subscription.id,
                paid,
                subscription.amount,
                subscription.currency,
            )
            self._record(data, subscription.id, "amount mismatch")
            return
        activated = self.db.activate(subscription.id)
        self._record(data, subscription.id, "activated" if activated else "already active")

    def on_payment_failed(self, event: Event) -> None:
        """A failed payment leaves the subscription inactive (PAYMENT_FAILED)."""
        data = PaymentEventData.from_event(event)
        assert isinstance(data, PaymentFailed)
        subscription = self._subscription_of(data)
        if subscription is None:
            self._record(data, None, "ignored: unknown subscription")
            return
        self.db.mark_failed(subscription.id)
        self._record(data, subscription.id, f"failed: {data.error_code}")

    def _subscription_of(self, data: PaymentEventData) -> Subscription | None:
        if data.subscription_id is None:
            return None
        return self.db.get(str(data.subscription_id))

    def _record(self, data: PaymentEventData, subscription_id: str | None, outcome: str) -> None:
        self.db.record_event(
            data.event_type.value, data.provider, data.provider_event_id, subscription_id, outcome
        )


def status_of(subscription: Subscription) -> dict[str, Any]:
    """The API's view of a subscription (with a convenience ``active`` flag)."""
    return {**subscription.to_json(), "active": subscription.status is Status.ACTIVE}
