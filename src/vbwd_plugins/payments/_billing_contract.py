"""The recurring-billing half of the provider contract, gated by capabilities.

:class:`RecurringBilling` is mixed into :class:`~vbwd_plugins.PaymentProviderPlugin`. A provider
overrides the operations it supports and declares their :class:`Capability`; the rest raise
:class:`UnsupportedOperationError`. Each override is wrapped when the class is created
(:func:`guard_billing_operation`): the capability and the money are checked *before* the
provider is called, and any exception the provider raises becomes a failed
:class:`BillingResult` through the provider's own ``result_from_exception`` mapping.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

from vbwd_plugins.errors import MoneyError, UnsupportedOperationError
from vbwd_plugins.payments._billing import (
    BillingResult,
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    PaymentMethodSetup,
    Plan,
    Proration,
    ProviderPlan,
    SavedPaymentMethod,
    Subscription,
    SubscriptionRequest,
)
from vbwd_plugins.payments._results import Capability, PaymentErrorCode

if TYPE_CHECKING:
    from vbwd_plugins.payments._money import CurrencyRules
    from vbwd_plugins.payments._results import PaymentResult

__all__ = ["BILLING_OPERATIONS", "RecurringBilling", "guard_billing_operation"]

logger = logging.getLogger("vbwd_plugins.payments")

#: Each billing operation and the capability it needs.
BILLING_OPERATIONS: Final[Mapping[str, Capability]] = {
    "create_checkout_session": Capability.CHECKOUT,
    "create_customer": Capability.CUSTOMERS,
    "get_customer": Capability.CUSTOMERS,
    "start_payment_method_setup": Capability.SAVED_PAYMENT_METHODS,
    "list_payment_methods": Capability.SAVED_PAYMENT_METHODS,
    "detach_payment_method": Capability.SAVED_PAYMENT_METHODS,
    "ensure_plan": Capability.PLANS,
    "create_subscription": Capability.SUBSCRIPTIONS,
    "get_subscription": Capability.SUBSCRIPTIONS,
    "cancel_subscription": Capability.SUBSCRIPTIONS,
    "change_subscription_plan": Capability.PLAN_CHANGES,
    "pause_subscription": Capability.PAUSE,
    "resume_subscription": Capability.PAUSE,
}
_GUARD_MARK: Final = "__vbwd_billing_guarded__"
#: A checkout in this mode also needs this capability.
_MODE_NEEDS: Final[Mapping[CheckoutMode, Capability]] = {
    CheckoutMode.SUBSCRIPTION: Capability.SUBSCRIPTIONS,
    CheckoutMode.SETUP: Capability.SAVED_PAYMENT_METHODS,
}


def _plans_in(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[Plan]:
    found: list[Plan] = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, Plan):
            found.append(value)
        elif isinstance(value, CheckoutRequest | SubscriptionRequest) and value.plan is not None:
            found.append(value.plan)
    return found


def guard_billing_operation(
    name: str, impl: Callable[..., BillingResult[Any]]
) -> Callable[..., BillingResult[Any]]:
    """Wrap a provider's billing operation ``name`` with the contract's checks."""
    capability = BILLING_OPERATIONS[name]

    @functools.wraps(impl)
    def guarded(self: RecurringBilling, *args: Any, **kwargs: Any) -> BillingResult[Any]:
        self._check_billing_call(name, capability, args, kwargs)
        try:
            result = impl(self, *args, **kwargs)
        except (MoneyError, UnsupportedOperationError):
            raise
        except Exception as exc:  # noqa: BLE001 - no provider exception may escape
            return BillingResult.from_payment_result(self._result_for(name, exc))
        if not isinstance(result, BillingResult):
            logger.error(
                "payment provider %r: %s returned %s, not a BillingResult",
                self._plugin_name(),
                name,
                type(result).__name__,
            )
            return BillingResult.failure(
                PaymentErrorCode.PROVIDER_ERROR,
                f"{self._plugin_name()}.{name} returned {type(result).__name__}, "
                "not a BillingResult",
            )
        return result

    setattr(guarded, _GUARD_MARK, True)
    return guarded


class RecurringBilling:
    """Hosted checkout, customers, saved methods, plans and subscriptions (all optional).

    Every operation answers a :class:`BillingResult`; ``idempotency_key`` is forwarded to the
    provider (a retried call with the same key creates nothing twice).
    """

    capabilities: ClassVar[frozenset[Capability]]
    currency_rules: ClassVar[CurrencyRules]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in BILLING_OPERATIONS:
            impl = cls.__dict__.get(name)
            if callable(impl) and not getattr(impl, _GUARD_MARK, False):
                setattr(cls, name, guard_billing_operation(name, impl))

    # -- hosted checkout ----------------------------------------------------------

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[CheckoutSession]:
        """Create a hosted checkout; redirect the payer to the session's ``url``.

        The outcome arrives as a ``checkout.completed`` event (and, for a subscription,
        ``subscription.*`` events) carrying the request's ``subscription_id``/``user_id``.
        """
        raise self._unsupported("create_checkout_session")

    # -- customers and saved payment methods ---------------------------------------

    def create_customer(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[Customer]:
        """Create a customer (``user_id``: the host's, carried in the provider's metadata)."""
        raise self._unsupported("create_customer")

    def get_customer(self, customer_id: str) -> BillingResult[Customer]:
        """The customer ``customer_id`` (``NOT_FOUND`` when the provider does not know it)."""
        raise self._unsupported("get_customer")

    def start_payment_method_setup(
        self,
        customer_id: str,
        *,
        success_url: str | None = None,
        cancel_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[PaymentMethodSetup]:
        """Start saving a payment method for ``customer_id`` without charging.

        With URLs, a hosted page (``url``); without, a ``client_secret`` to confirm with the
        provider's front-end library.
        """
        raise self._unsupported("start_payment_method_setup")

    def list_payment_methods(
        self, customer_id: str
    ) -> BillingResult[tuple[SavedPaymentMethod, ...]]:
        """The payment methods saved on ``customer_id``."""
        raise self._unsupported("list_payment_methods")

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[SavedPaymentMethod]:
        """Remove a saved payment method from its customer."""
        raise self._unsupported("detach_payment_method")

    # -- plans and subscriptions -----------------------------------------------------

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        """The provider's objects for ``plan``, created the first time (idempotently).

        Calling it again with the same plan finds what the first call created; with
        ``plan.provider_plan_id`` set, that object is looked up and checked instead.
        """
        raise self._unsupported("ensure_plan")

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Subscribe (a ``PENDING`` result with ``approval_url`` when the payer must approve)."""
        raise self._unsupported("create_subscription")

    def get_subscription(self, subscription_id: str) -> BillingResult[Subscription]:
        """The provider's current view of subscription ``subscription_id`` (its id)."""
        raise self._unsupported("get_subscription")

    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        at_period_end: bool = True,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Cancel at the end of the paid period (default) or now."""
        raise self._unsupported("cancel_subscription")

    def change_subscription_plan(
        self,
        subscription_id: str,
        plan: Plan,
        *,
        proration: Proration = Proration.CREATE_PRORATIONS,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Move the subscription to ``plan`` (``proration`` where the provider offers one)."""
        raise self._unsupported("change_subscription_plan")

    def pause_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Stop collecting payments until :meth:`resume_subscription`."""
        raise self._unsupported("pause_subscription")

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Collect payments again after :meth:`pause_subscription`."""
        raise self._unsupported("resume_subscription")

    # -- the guard's checks (PaymentProviderPlugin provides the helpers) ---------------

    def _check_billing_call(
        self,
        name: str,
        capability: Capability,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        needed = [capability]
        for value in (*args, *kwargs.values()):
            if isinstance(value, CheckoutRequest) and value.mode in _MODE_NEEDS:
                needed.append(_MODE_NEEDS[value.mode])
            if isinstance(value, CheckoutRequest) and value.amount is not None:
                value.amount.to_minor_units(self.currency_rules)
        for item in needed:
            if item not in self.capabilities:
                raise self._unsupported(name if item is capability else f"{name}({item.value})")
        for plan in _plans_in(args, kwargs):
            plan.price.to_minor_units(self.currency_rules)  # exact for this provider

    if TYPE_CHECKING:  # provided by PaymentProviderPlugin (and BasePlugin)

        def _unsupported(self, operation: str) -> UnsupportedOperationError: ...

        def _result_for(self, operation: str, exc: Exception) -> PaymentResult: ...

        def _plugin_name(self) -> str: ...
