"""The host's requests: signup through hosted checkout, cancel at period end, refund.

It talks to providers only through the recurring-billing contract; what happens afterwards
(trial, payment, renewal, failure, cancellation, dispute) arrives as standard events, handled
in :mod:`._listeners`. Nothing here grants access: only the provider's verified events do.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal, InvalidOperation
from typing import Final

from vbwd_plugins import Capability, Money, PaymentProviderPlugin, PluginManager
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import CheckoutMode, CheckoutRequest

from ._db import SubscriptionDB
from ._listeners import BillingListeners
from ._model import TERMINAL, Payment, Refund, Status, Subscription, money
from ._plans import PLANS, PlanCatalog, PlanUnavailableError

__all__ = ["NEEDED", "ServiceError", "SubscriptionService"]

logger = logging.getLogger(__name__)

#: What a provider must declare to sell the plans through hosted checkout.
NEEDED: Final = frozenset({Capability.CHECKOUT, Capability.PLANS, Capability.SUBSCRIPTIONS})


class ServiceError(Exception):
    """A request the service refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SubscriptionService:
    """Signs payers up, cancels and refunds; its listeners keep each subscription true."""

    def __init__(
        self,
        manager: PluginManager,
        db: SubscriptionDB,
        *,
        public_url: str = "http://localhost:5000",
        catalog: PlanCatalog | None = None,
    ) -> None:
        self.manager = manager
        self.db = db
        self.public_url = public_url.rstrip("/")
        self.catalog = catalog or PlanCatalog()
        self.listeners = BillingListeners(db, self.catalog, self.enabled_provider)

    def start(self) -> None:
        """At start-up: subscribe the listeners and ensure the plans at the enabled providers."""
        self.listeners.subscribe(self.manager.event_dispatcher)
        self.catalog.ensure_all(list(self._enabled().values()))

    # -- providers ---------------------------------------------------------------------

    def _enabled(self) -> dict[str, PaymentProviderPlugin]:
        return {
            plugin.metadata.name: plugin
            for plugin in self.manager.get_enabled_plugins()
            if isinstance(plugin, PaymentProviderPlugin)
        }

    def enabled_provider(self, name: str) -> PaymentProviderPlugin | None:
        """The enabled payment provider ``name``, or ``None``."""
        return self._enabled().get(name)

    def provider(self, name: str | None) -> PaymentProviderPlugin:
        """The enabled payment provider ``name``, or the only enabled one."""
        enabled = self._enabled()
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

    # -- requests ----------------------------------------------------------------------

    def signup(self, user_id: object, plan_name: object, provider_name: object) -> Subscription:
        """A ``pending`` subscription and its hosted checkout; the payer goes to its url."""
        plan = PLANS.get(str(plan_name))
        if plan is None:
            raise ServiceError(400, "unknown_plan", f"Unknown plan; choose one of {sorted(PLANS)}")
        try:
            user = str(uuid.UUID(str(user_id)))
        except ValueError:
            raise ServiceError(400, "invalid_user", "user_id must be a UUID") from None
        if provider_name is not None and not isinstance(provider_name, str):
            raise ServiceError(400, "invalid_provider", "provider must be a string")
        provider = self.provider(provider_name)
        name = provider.metadata.name
        missing = NEEDED - provider.capabilities
        if missing:
            raise ServiceError(
                400,
                "provider_unsuitable",
                f"Provider {name!r} cannot sell subscriptions: it lacks "
                f"{sorted(c.value for c in missing)}",
            )
        try:
            self.catalog.ensure(provider)
        except PlanUnavailableError as exc:
            raise ServiceError(502, "plan_unavailable", str(exc)) from None
        price = plan.price
        sub = self.db.create(user, plan.key, price.to_minor_units(), price.currency, name)
        request = CheckoutRequest(
            mode=CheckoutMode.SUBSCRIPTION,
            plan=plan,
            subscription_id=sub.id,
            user_id=user,
            success_url=f"{self.public_url}/billing/done?subscription={sub.id}",
            cancel_url=f"{self.public_url}/billing/cancelled?subscription={sub.id}",
            description=f"{plan.name} plan",
        )
        result = provider.create_checkout_session(request, idempotency_key=f"signup-{sub.id}")
        if not result.success or result.value is None:
            self.db.mark_failed(sub.id)
            raise ServiceError(
                502,
                "checkout_failed",
                f"{name} could not start the checkout: {result.error_code} {result.error_message}",
            )
        session = result.value
        self.db.attach_checkout(sub.id, session.id, session.url, session.provider_object_id)
        return self.get(sub.id)

    def get(self, subscription_id: str) -> Subscription:
        """The subscription; 404 if there is none."""
        subscription = self.db.get(subscription_id)
        if subscription is None:
            raise ServiceError(404, "not_found", "No such subscription")
        return subscription

    def cancel(self, subscription_id: str) -> Subscription:
        """Ask the provider to cancel at the end of the paid period.

        The row changes when ``subscription.cancelled`` arrives, not on this answer.
        """
        sub = self.get(subscription_id)
        if sub.status in TERMINAL or sub.status is Status.PENDING:
            raise ServiceError(409, "not_cancellable", f"The subscription is {sub.status.value}")
        if sub.cancel_at_period_end:
            return sub
        provider, provider_id = self._at_provider(sub)
        result = provider.cancel_subscription(
            provider_id, at_period_end=True, idempotency_key=f"cancel-{sub.id}"
        )
        if not result.success:
            raise ServiceError(
                502,
                "cancel_failed",
                f"{sub.provider} refused the cancellation: {result.error_code} "
                f"{result.error_message}",
            )
        return self.get(subscription_id)

    def refund(
        self, subscription_id: str, amount: object = None, request_key: str | None = None
    ) -> Refund:
        """Refund the last payment (all that is left of it, or ``amount`` in its currency).

        ``request_key`` (the client's ``Idempotency-Key``) makes a retried request refund once.
        The refund is confirmed by ``payment.refunded``.
        """
        sub = self.get(subscription_id)
        refunds = self.db.refunds(sub.id)

        def left(payment: Payment) -> int:
            """Not refunded, nor asked for in a refund not confirmed yet."""
            asked = sum(
                r.amount for r in refunds if r.payment_id == payment.id and r.status == "requested"
            )
            return payment.amount - payment.refunded - asked

        payment = next((p for p in reversed(self.db.payments(sub.id)) if left(p) > 0), None)
        if payment is None:
            raise ServiceError(
                409, "nothing_to_refund", "No payment of this subscription to refund"
            )
        provider, _ = self._at_provider(sub)
        units = self._refund_units(payment, left(payment), amount)
        asked = Money.from_minor_units(units, payment.currency)
        earlier = sum(1 for r in refunds if r.payment_id == payment.id)
        result = provider.refund_payment(
            payment.reference,
            asked,
            idempotency_key=f"refund-{payment.id}-{request_key or earlier}",
        )
        if not result.success:
            raise ServiceError(
                502,
                "refund_failed",
                f"{sub.provider} refused the refund: {result.error_code} {result.error_message}",
            )
        refunded = result.amount if result.amount is not None else units
        self.db.record_refund_request(sub.id, payment, result.transaction_id, refunded)
        found = [r for r in self.db.refunds(sub.id) if r.refund_id == result.transaction_id]
        return found[-1] if found else self.db.refunds(sub.id)[-1]

    @staticmethod
    def _refund_units(payment: Payment, left: int, amount: object) -> int:
        if amount is None:
            return left
        try:
            units = Money(Decimal(str(amount)), payment.currency).to_minor_units()
        except (InvalidOperation, MoneyError, ValueError):
            raise ServiceError(
                400, "invalid_amount", f"amount must be a decimal in {payment.currency}"
            ) from None
        if not 0 < units <= left:
            raise ServiceError(
                400,
                "invalid_amount",
                f"amount must be more than 0 and at most what is left "
                f"({money(left, payment.currency)} {payment.currency})",
            )
        return units

    def _at_provider(self, sub: Subscription) -> tuple[PaymentProviderPlugin, str]:
        if sub.provider_subscription_id is None:
            raise ServiceError(409, "not_started", "The checkout is not completed yet")
        return self.provider(sub.provider), sub.provider_subscription_id
