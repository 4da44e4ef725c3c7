"""The payment-provider contract: one interface every provider plugin implements.

The contract, not each provider, owns what is easy to get wrong:

* **Guarded operations.** Every public operation a subclass defines
  (``create_payment_intent``, ``process_payment``, ``capture_payment``, ``cancel_payment``,
  ``refund_payment``, ``get_payment``) is wrapped when the class is created. The wrapper
  validates money and capabilities *before* the provider is called and turns any
  exception the provider raises into a failed :class:`PaymentResult` with a
  :class:`PaymentErrorCode` (see :meth:`PaymentProviderPlugin.result_from_exception`).
  Caller mistakes (:class:`MoneyError`, :class:`UnsupportedOperationError`) still raise:
  they are bugs to fix, not outcomes to handle. Subclasses written against the original
  design, overriding ``create_payment_intent`` directly, are guarded the same way.
* **Webhooks.** The webhook half of the contract (``verify_request``, the fail-closed
  ``receive_webhook``, translation to standard events) is :class:`WebhookReceiver`, which
  this class inherits; :meth:`PaymentProviderPlugin.process_webhook` is receive ->
  :meth:`handle_webhook`, without the inbox of the :class:`~vbwd_plugins.WebhookProcessor`.
"""

from __future__ import annotations

import functools
import inspect
import logging
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, final

from vbwd_plugins.errors import MoneyError, UnsupportedOperationError, WebhookVerificationError
from vbwd_plugins.payments._billing_contract import RecurringBilling
from vbwd_plugins.payments._money import (
    ISO_4217_RULES,
    CurrencyRules,
    Money,
    _to_decimal,
)
from vbwd_plugins.payments._results import Capability, PaymentErrorCode, PaymentResult
from vbwd_plugins.payments._webhook import WebhookReceiver

if TYPE_CHECKING:
    from uuid import UUID

__all__ = ["PaymentProviderPlugin"]

logger = logging.getLogger(__name__)


# -- the guard ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Operation:
    capability: Capability | None
    #: Keywords added by this contract; a seed-style implementation may not accept them.
    extensions: tuple[str, ...]
    #: Name of the argument that must be a positive charge amount, if any.
    money_argument: str | None = None


_OPERATIONS: Final[Mapping[str, _Operation]] = {
    "create_payment_intent": _Operation(None, ("idempotency_key", "manual_capture"), "amount"),
    "process_payment": _Operation(None, ("idempotency_key",)),
    "capture_payment": _Operation(Capability.MANUAL_CAPTURE, ("idempotency_key",), "amount"),
    "cancel_payment": _Operation(Capability.CANCEL, ("idempotency_key",)),
    "refund_payment": _Operation(Capability.REFUNDS, ("idempotency_key",), "amount"),
    "get_payment": _Operation(Capability.GET_PAYMENT, ()),
}
_GUARD_MARK: Final = "__vbwd_guarded__"


def _accepts(func: Callable[..., Any], name: str) -> bool:
    params = inspect.signature(func).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _guard_operation(
    name: str, impl: Callable[..., PaymentResult], contract: inspect.Signature
) -> Callable[..., PaymentResult]:
    spec = _OPERATIONS[name]
    accepted = {ext: _accepts(impl, ext) for ext in spec.extensions}
    own = inspect.signature(impl)

    @functools.wraps(impl)
    def guarded(self: PaymentProviderPlugin, *args: Any, **kwargs: Any) -> PaymentResult:
        try:
            bound = contract.bind(self, *args, **kwargs)
        except TypeError:
            # A provider may accept keywords of its own; its signature then decides.
            bound = own.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        self._check_call(name, spec, arguments)
        for ext, ok in accepted.items():
            if ok:
                continue
            value = kwargs.pop(ext, None)
            if value not in (None, False):
                raise UnsupportedOperationError(
                    f"Payment provider {self._plugin_name()!r} does not support "
                    f"{name}({ext}=...): its implementation does not accept {ext!r}",
                    plugin_name=self._plugin_name(),
                    operation=f"{name}({ext})",
                )
        try:
            return impl(self, *args, **kwargs)
        except (MoneyError, UnsupportedOperationError):
            raise
        except Exception as exc:  # noqa: BLE001 - no provider exception may escape
            return self._result_for(name, exc)

    setattr(guarded, _GUARD_MARK, True)
    return guarded


# -- the contract ------------------------------------------------------------------


class PaymentProviderPlugin(WebhookReceiver, RecurringBilling):
    """Base class for payment provider plugins (Stripe, PayPal, ...).

    Implement ``create_payment_intent``, ``process_payment`` and ``refund_payment`` (the
    original design's) and ``verify_request`` (webhooks; a provider written for the
    original design may implement ``verify_webhook`` instead). Add ``capture_payment``,
    ``cancel_payment`` and ``get_payment`` if the provider supports them, declare what it
    supports in :attr:`capabilities`, and state its currency deviations in
    :attr:`currency_rules`. Accept ``idempotency_key`` (and ``manual_capture`` on
    ``create_payment_intent``) as keywords to forward them to the provider.

    Recurring billing (hosted checkout, customers, saved methods, plans, subscriptions) is
    :class:`~vbwd_plugins.payments.RecurringBilling`'s half: override what the provider
    supports and declare it in :attr:`capabilities`.

    ``transaction_id`` conventions: ``create_payment_intent`` returns the id that
    ``process_payment`` takes; the ``transaction_id`` of a completed or authorized result is
    what ``capture_payment``, ``cancel_payment``, ``refund_payment`` and ``get_payment`` take.
    """

    #: What this provider supports; the original design's refunds and webhooks by default.
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.REFUNDS, Capability.PARTIAL_REFUNDS, Capability.WEBHOOKS}
    )
    #: Exponent and divisibility overrides where the provider's API differs from ISO 4217.
    currency_rules: ClassVar[CurrencyRules] = ISO_4217_RULES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _OPERATIONS:
            impl = cls.__dict__.get(name)
            if callable(impl) and not getattr(impl, _GUARD_MARK, False):
                contract = inspect.signature(getattr(PaymentProviderPlugin, name))
                setattr(cls, name, _guard_operation(name, impl, contract))

    # -- the original design's five operations ----------------------------------

    @abstractmethod
    def create_payment_intent(
        self,
        amount: Decimal,
        currency: str,
        subscription_id: UUID,
        user_id: UUID,
        metadata: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        manual_capture: bool = False,
    ) -> PaymentResult:
        """Create a payment (intent, order, session) for ``amount`` of ``currency``.

        ``amount`` is a ``Decimal`` in major units (``Decimal("10.50")``); it must be
        positive and exact for the currency under :attr:`currency_rules`, otherwise
        :class:`MoneyError` is raised before the provider is called. With
        ``manual_capture=True`` the payment is only authorized by ``process_payment``.
        """

    @abstractmethod
    def process_payment(
        self,
        payment_intent_id: str,
        payment_method: str,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Confirm the payment with ``payment_method`` (status ``COMPLETED`` or ``AUTHORIZED``)."""

    @abstractmethod
    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund ``amount`` (``None``: everything not yet refunded) of a completed payment.

        A ``Decimal`` amount is in the payment's currency (see :meth:`resolve_amount`).
        """

    # -- extensions -------------------------------------------------------------

    def capture_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Capture an ``AUTHORIZED`` payment, all of it or ``amount``."""
        raise self._unsupported("capture_payment")

    def cancel_payment(
        self, transaction_id: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Cancel (void) a payment that is not completed yet."""
        raise self._unsupported("cancel_payment")

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """The provider's current view of a payment (reconcile after a timeout)."""
        raise self._unsupported("get_payment")

    def supports(self, capability: Capability) -> bool:
        """Whether this provider declares ``capability``."""
        return capability in self.capabilities

    # -- error mapping ----------------------------------------------------------

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        """Turn an exception raised by an operation into a failed result.

        Providers override this to map their SDK's errors to :class:`PaymentErrorCode`
        and keep request ids in ``metadata``; call ``super()`` for the generic cases.
        """
        if isinstance(exc, TimeoutError):
            code = PaymentErrorCode.TIMEOUT
        elif isinstance(exc, ConnectionError):
            code = PaymentErrorCode.PROVIDER_UNAVAILABLE
        else:
            code = PaymentErrorCode.PROVIDER_ERROR
        return PaymentResult.failure(code, f"{type(exc).__name__}: {exc}")

    def _result_for(self, operation: str, exc: Exception) -> PaymentResult:
        provider = self._plugin_name()
        try:
            result = self.result_from_exception(exc, operation=operation)
        except Exception:  # the mapping itself must not let anything escape
            logger.exception("payment provider %r: result_from_exception failed", provider)
            result = PaymentResult.failure(
                PaymentErrorCode.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}"
            )
        result.success = False  # first: a successful result cannot take an error code
        if result.error_code is None:
            result.error_code = PaymentErrorCode.PROVIDER_ERROR
        if result.error_message is None:
            result.error_message = f"{type(exc).__name__}: {exc}"
        # An unclassified failure is a bug to look at (with traceback); a decline or a
        # rate limit is business as usual.
        unclassified = result.error_code is PaymentErrorCode.PROVIDER_ERROR
        logger.log(
            logging.WARNING if unclassified else logging.INFO,
            "payment provider %r: %s failed (%s): %s",
            provider,
            operation,
            result.error_code.value,
            result.error_message,
            exc_info=exc if unclassified else None,
        )
        return result

    # -- money helpers ----------------------------------------------------------

    def money(self, amount: Decimal | int | str, currency: str) -> Money:
        """``Money(amount, currency)``, checked to be positive and exact for this provider."""
        value = Money(amount, currency).require_positive("charge amount")
        value.to_minor_units(self.currency_rules)
        return value

    def resolve_amount(self, transaction_id: str, amount: Decimal | Money | None) -> Money | None:
        """The refund or capture ``amount`` as :class:`Money`.

        A bare ``Decimal`` (the original design's refund signature) carries no currency:
        it is taken from :meth:`get_payment`. Providers whose API needs the currency call
        this; ``None`` stays ``None``.
        """
        if amount is None or isinstance(amount, Money):
            return amount
        current = self.get_payment(transaction_id)
        if current.currency is None:
            raise MoneyError(
                f"Cannot refund {amount} on {transaction_id!r}: the payment's currency is "
                f"unknown ({current.error_message or 'no currency reported'}); pass Money"
            )
        return self.money(amount, current.currency)

    # -- the guard's checks -----------------------------------------------------

    def _unsupported(self, operation: str) -> UnsupportedOperationError:
        provider = self._plugin_name()
        return UnsupportedOperationError(
            f"Payment provider {provider!r} does not support {operation} "
            f"(capabilities: {', '.join(sorted(self.capabilities)) or 'none'})",
            plugin_name=provider,
            operation=operation,
        )

    def _check_call(self, name: str, spec: _Operation, arguments: Mapping[str, Any]) -> None:
        if spec.capability is not None and spec.capability not in self.capabilities:
            raise self._unsupported(name)
        if arguments.get("manual_capture") and Capability.MANUAL_CAPTURE not in self.capabilities:
            raise self._unsupported(f"{name}(manual_capture=True)")
        if spec.money_argument is None:
            return
        amount: Any = arguments.get(spec.money_argument)
        if name == "create_payment_intent":
            self.money(amount, arguments["currency"])
        elif amount is not None:
            if name == "refund_payment" and Capability.PARTIAL_REFUNDS not in self.capabilities:
                raise self._unsupported("refund_payment(amount)")
            if name == "capture_payment" and Capability.PARTIAL_CAPTURE not in self.capabilities:
                raise self._unsupported("capture_payment(amount)")
            if isinstance(amount, Money):
                self.money(amount.amount, amount.currency)
            elif _to_decimal(amount) <= 0:
                raise MoneyError(f"{name} amount must be positive, got {amount!r}")

    # -- webhooks ---------------------------------------------------------------

    @final
    def process_webhook(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Receive (verify, parse) and handle one delivery, without an inbox; the payload.

        Raises :class:`WebhookVerificationError` (answer 401; ``reason`` says why) or
        :class:`WebhookPayloadError` (answer 400). Exceptions from :meth:`handle_webhook`
        propagate so the delivery can be retried. Hosts with a store use the
        :class:`~vbwd_plugins.WebhookProcessor`, which also deduplicates.
        """
        if Capability.WEBHOOKS not in self.capabilities:
            raise self._unsupported("process_webhook")
        try:
            received = self.receive_webhook(headers, body)
        except WebhookVerificationError as exc:
            logger.warning(
                "payment provider %r: webhook refused: %s", self._plugin_name(), exc.reason
            )
            raise
        self.handle_webhook(received.payload)
        return received.payload
