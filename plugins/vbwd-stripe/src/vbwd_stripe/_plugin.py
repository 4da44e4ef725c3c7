"""The Stripe payment provider: PaymentIntents, Refunds and billing through one ``StripeClient``.

Each plugin instance owns its client (API key, base address, retries, timeout); nothing
is set on the ``stripe`` module, so two instances with different keys can serve
different tenants from different threads. Stripe answers are read as plain dicts
(``to_dict()``), so no ``StripeObject`` leaks into results or events. Recurring billing
(checkout, customers, saved methods, plans, subscriptions) is in ``_billing`` and
``_subscriptions``; its webhook translation in ``_billing_events``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final

import stripe

from vbwd_plugins import (
    Capability,
    Event,
    Money,
    PaymentErrorCode,
    PaymentEventData,
    PaymentProviderPlugin,
    PaymentResult,
    PaymentStatus,
    PluginMetadata,
    WebhookVerificationError,
)
from vbwd_plugins.errors import MoneyError, PluginStateError
from vbwd_plugins.payments import header_value

from ._billing import plain as _plain
from ._billing import request_id as _request_id
from ._billing_events import billing_events
from ._billing_mapping import host_tags
from ._config import StripeConfig
from ._currency import STRIPE_CURRENCY_RULES, iso_units, stripe_units
from ._error_map import code_for_error_object, failure_from_stripe_error
from ._signature import SignatureVerifier
from ._status import intent_status, refund_status
from ._subscriptions import StripeSubscriptions
from ._traced import traced
from ._version import __version__
from ._webhook_events import payment_events

if TYPE_CHECKING:
    from uuid import UUID

    from stripe.params import (
        PaymentIntentCaptureParams,
        PaymentIntentCreateParams,
        RefundCreateParams,
    )

__all__ = ["StripePlugin"]

logger = logging.getLogger(__name__)

#: PaymentIntent statuses after which ``process_payment`` has done its job.
_CONFIRMED: Final = frozenset({"succeeded", "requires_capture", "processing"})
#: Metadata keys the plugin sets itself; a caller's values for them are overridden.
_RESERVED_METADATA: Final = ("subscription_id", "user_id")


class StripePlugin(StripeSubscriptions, PaymentProviderPlugin):
    """Stripe payment provider (PaymentIntents, manual capture, Refunds, webhooks, billing).

    ``transaction_id`` is the PaymentIntent id (``pi_...``) for every operation; a refund
    result's ``transaction_id`` is the Refund id (``re_...``).
    """

    metadata = PluginMetadata(
        name="stripe",
        version=__version__,
        author="VBWD Team",
        description="Stripe payment provider",
    )
    config_schema: ClassVar[type[Any] | None] = StripeConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.REFUNDS,
            Capability.PARTIAL_REFUNDS,
            Capability.MANUAL_CAPTURE,
            Capability.PARTIAL_CAPTURE,
            Capability.CANCEL,
            Capability.GET_PAYMENT,
            Capability.WEBHOOKS,
            Capability.IDEMPOTENCY,
            Capability.CHECKOUT,
            Capability.CUSTOMERS,
            Capability.SAVED_PAYMENT_METHODS,
            Capability.PLANS,
            Capability.SUBSCRIPTIONS,
            Capability.PLAN_CHANGES,
            Capability.PAUSE,
            Capability.DISPUTES,
        }
    )
    currency_rules = STRIPE_CURRENCY_RULES
    webhook_signature_header: ClassVar[str | None] = "Stripe-Signature"

    def __init__(self) -> None:
        super().__init__()
        self._settings: StripeConfig | None = None
        self._client: stripe.StripeClient | None = None
        self._verifier: SignatureVerifier | None = None

    # -- lifecycle ----------------------------------------------------------------

    def on_initialize(self) -> None:
        """Validate the configuration and build this instance's client and verifier."""
        settings = self._load_settings()
        client = stripe.StripeClient(
            settings.api_key.get_secret_value(),
            base_addresses={"api": settings.api_base},
            max_network_retries=settings.max_network_retries,
            http_client=stripe.RequestsClient(timeout=settings.timeout),
        )
        verifier = SignatureVerifier(
            [settings.webhook_secret.get_secret_value()]
            + [s.get_secret_value() for s in settings.previous_webhook_secrets],
            settings.webhook_tolerance,
        )
        self._settings, self._client, self._verifier = settings, client, verifier

    def on_enable(self) -> None:
        """Make sure a client exists (a plugin restored from a store may skip initialize)."""
        if self._client is None:
            self.on_initialize()

    def _load_settings(self) -> StripeConfig:
        # BasePlugin.initialize has validated the configuration against ``config_schema``
        # before this hook runs (a ConfigValidationError never reaches it).
        settings = self.config
        if not isinstance(settings, StripeConfig):
            raise self._not_ready()
        return settings

    @property
    def settings(self) -> StripeConfig:
        """The validated configuration (after initialize)."""
        if self._settings is None:
            raise self._not_ready()
        return self._settings

    @property
    def client(self) -> stripe.StripeClient:
        """This instance's ``StripeClient`` (after initialize)."""
        if self._client is None:
            raise self._not_ready()
        return self._client

    def _not_ready(self) -> PluginStateError:
        return PluginStateError(
            "Plugin 'stripe' is not initialized: call initialize() with its configuration",
            plugin_name="stripe",
            status=self.status,
            action="use",
        )

    # -- payments -----------------------------------------------------------------

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
        """Create a PaymentIntent; ``metadata`` values are sent as strings."""
        money = self.money(amount, currency)
        tags = {
            str(key): str(value)
            for key, value in (metadata or {}).items()
            if value is not None and key not in _RESERVED_METADATA
        }
        tags["subscription_id"] = str(subscription_id)
        tags["user_id"] = str(user_id)
        params: PaymentIntentCreateParams = {
            "amount": stripe_units(money),
            "currency": money.currency.lower(),
            "metadata": tags,
        }
        if manual_capture:
            params["capture_method"] = "manual"
        try:
            intent = traced(
                "POST",
                "/v1/payment_intents",
                self.client.v1.payment_intents.create,
                params=params,
                options=self._options(idempotency_key),
            )
        except stripe.StripeError as exc:
            return self._failure("create_payment_intent", exc, None)
        data = _plain(intent)
        result = self._intent_result(data, _request_id(intent), success=True)
        result.metadata["client_secret"] = data.get("client_secret")
        return result

    def process_payment(
        self,
        payment_intent_id: str,
        payment_method: str,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Confirm the PaymentIntent with ``payment_method`` (``pm_...``)."""
        try:
            intent = traced(
                "POST",
                "/v1/payment_intents/{intent}/confirm",
                self.client.v1.payment_intents.confirm,
                payment_intent_id,
                params={"payment_method": payment_method},
                options=self._options(idempotency_key),
            )
        except stripe.StripeError as exc:
            return self._failure("process_payment", exc, payment_intent_id)
        data = _plain(intent)
        return self._intent_result(data, _request_id(intent), success=data["status"] in _CONFIRMED)

    def capture_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Capture an authorized PaymentIntent, all of it or ``amount``."""
        params: PaymentIntentCaptureParams = {}
        try:
            money = self._amount_for(transaction_id, amount)[0] if amount is not None else None
            if money is not None:
                params["amount_to_capture"] = stripe_units(money)
            intent = traced(
                "POST",
                "/v1/payment_intents/{intent}/capture",
                self.client.v1.payment_intents.capture,
                transaction_id,
                params=params,
                options=self._options(idempotency_key),
            )
        except stripe.StripeError as exc:
            return self._failure("capture_payment", exc, transaction_id)
        data = _plain(intent)
        return self._intent_result(data, _request_id(intent), success=data["status"] == "succeeded")

    def cancel_payment(
        self, transaction_id: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Cancel a PaymentIntent that has not succeeded (voids an authorization)."""
        try:
            intent = traced(
                "POST",
                "/v1/payment_intents/{intent}/cancel",
                self.client.v1.payment_intents.cancel,
                transaction_id,
                options=self._options(idempotency_key),
            )
        except stripe.StripeError as exc:
            return self._failure("cancel_payment", exc, transaction_id)
        data = _plain(intent)
        return self._intent_result(data, _request_id(intent), success=data["status"] == "canceled")

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund a succeeded PaymentIntent (or an invoice's), everything left or ``amount``.

        The intent is read first: a ``Decimal`` amount takes its currency, a ``Money``
        amount must match it, and its ``subscription_id``/``user_id`` (an invoice's: from
        the invoice) are copied to the refund, so ``refund.*`` webhooks carry them, and
        to the result's metadata.
        """
        try:
            transaction_id, tags = self.paid_by(transaction_id)  # an invoice: its payment
            money, intent = self._amount_for(transaction_id, amount)
            params: RefundCreateParams = {"payment_intent": transaction_id}
            if money is not None:
                params["amount"] = stripe_units(money)
            tags = {**tags, **host_tags(intent.get("metadata"))}
            if tags:
                params["metadata"] = tags
            refund = traced(
                "POST",
                "/v1/refunds",
                self.client.v1.refunds.create,
                params=params,
                options=self._options(idempotency_key),
            )
        except stripe.StripeError as exc:
            return self._failure("refund_payment", exc, transaction_id)
        data = _plain(refund)
        status = refund_status(data)
        ok = status not in (PaymentStatus.FAILED, PaymentStatus.CANCELLED)
        result = PaymentResult(
            ok,
            data["id"],
            status,
            None if ok else f"Stripe refund {data['id']} is {data.get('status')}",
            {
                "payment_intent": transaction_id,
                "stripe_status": data.get("status"),
                "request_id": _request_id(refund),
                **tags,
            },
            amount=iso_units(data["amount"], data["currency"]),
            currency=data["currency"],
        )
        if not ok:
            result.error_code = self._refund_failure_code(data)
        return result

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """The PaymentIntent (or an invoice's, ``in_...``) as Stripe sees it now, with refunds."""
        try:
            transaction_id = self.payment_intent_of(transaction_id)
            intent = traced(
                "GET",
                "/v1/payment_intents/{intent}",
                self.client.v1.payment_intents.retrieve,
                transaction_id,
                params={"expand": ["latest_charge"]},
            )
        except stripe.StripeError as exc:
            return self._failure("get_payment", exc, transaction_id)
        data = _plain(intent)
        result = self._intent_result(data, _request_id(intent), success=True)
        charge = data.get("latest_charge")
        if isinstance(charge, Mapping) and isinstance(charge.get("amount_refunded"), int):
            result.metadata["amount_refunded"] = iso_units(
                charge["amount_refunded"], data["currency"]
            )
        return result

    # -- helpers ------------------------------------------------------------------

    @staticmethod
    def _options(idempotency_key: str | None) -> stripe.RequestOptions:
        return {"idempotency_key": idempotency_key} if idempotency_key else {}

    def _amount_for(
        self, transaction_id: str, amount: Decimal | Money | None
    ) -> tuple[Money | None, dict[str, Any]]:
        """``amount`` as Money in the intent's currency, and the intent itself."""
        retrieve = self.client.v1.payment_intents.retrieve
        intent = _plain(traced("GET", "/v1/payment_intents/{intent}", retrieve, transaction_id))
        if amount is None:
            return None, intent
        currency = str(intent["currency"]).upper()
        if isinstance(amount, Money):
            if amount.currency != currency:
                raise MoneyError(
                    f"Amount {amount} does not match the currency of {transaction_id} ({currency})"
                )
            return self.money(amount.amount, currency), intent
        return self.money(amount, currency), intent

    def _intent_result(
        self, intent: dict[str, Any], request_id: str | None, *, success: bool
    ) -> PaymentResult:
        """A result for a PaymentIntent; ``success`` says whether the operation did its job.

        A ``FAILED`` intent is never a success (also for ``get_payment``): the result
        carries the decline's error code instead.
        """
        status = intent_status(intent)
        success = success and status is not PaymentStatus.FAILED
        metadata: dict[str, Any] = {"stripe_status": intent.get("status"), "request_id": request_id}
        error_code: PaymentErrorCode | None = None
        error_message: str | None = None
        error = intent.get("last_payment_error")
        if status is PaymentStatus.FAILED and isinstance(error, Mapping):
            error_code = code_for_error_object(error)
            message = error.get("message")
            error_message = message if isinstance(message, str) else None
        elif status is PaymentStatus.REQUIRES_ACTION:
            action = intent.get("next_action")
            metadata["next_action"] = action.get("type") if isinstance(action, Mapping) else None
            metadata["client_secret"] = intent.get("client_secret")
            if not success:
                error_code = PaymentErrorCode.PAYER_ACTION_REQUIRED
                error_message = "The payer must authenticate this payment (requires_action)"
        elif not success:
            error_code = PaymentErrorCode.INVALID_REQUEST
            error_message = f"PaymentIntent {intent['id']} is {intent.get('status')}"
        amount_key = "amount_received" if intent.get("amount_received") else "amount"
        return PaymentResult(
            success,
            intent["id"],
            status,
            error_message,
            metadata,
            error_code=error_code,
            amount=iso_units(intent[amount_key], intent["currency"]),
            currency=intent["currency"],
        )

    def _failure(
        self, operation: str, exc: stripe.StripeError, transaction_id: str | None
    ) -> PaymentResult:
        result = failure_from_stripe_error(exc, transaction_id=transaction_id)
        # A decline is an everyday outcome; everything else may need an operator.
        level = logging.INFO if isinstance(exc, stripe.CardError) else logging.WARNING
        logger.log(
            level,
            "stripe %s failed: %s (%s, request %s)",
            operation,
            result.error_code,
            type(exc).__name__,
            result.metadata.get("request_id"),
        )
        return result

    @staticmethod
    def _refund_failure_code(refund: Mapping[str, Any]) -> PaymentErrorCode:
        return (
            PaymentErrorCode.DECLINED
            if refund.get("failure_reason") == "declined"
            else PaymentErrorCode.PROVIDER_ERROR
        )

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        """Stripe errors the operations did not catch themselves, mapped the same way."""
        if isinstance(exc, stripe.StripeError):
            return failure_from_stripe_error(exc)
        return super().result_from_exception(exc, operation=operation)

    # -- webhooks -----------------------------------------------------------------

    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check ``Stripe-Signature`` against the current and previous endpoint secrets."""
        verifier = self._verifier
        if verifier is None:
            raise _refused("the plugin is not initialized")
        reason = verifier.check(body, header_value(headers, "Stripe-Signature"))
        if reason is not None:
            raise _refused(reason)

    def parse_webhook(self, body: bytes) -> dict[str, Any]:
        """Parse to plain data and refuse an event from the other mode (test vs live).

        The livemode check runs here, once per delivery, because it needs the parsed
        event; a mismatch is a verification failure (401, reason "livemode mismatch").
        """
        payload = super().parse_webhook(body)
        expected = self.settings.livemode
        if payload.get("livemode") is not expected:
            mode = "live" if expected else "test"
            raise _refused(
                f"livemode mismatch: the event has livemode={payload.get('livemode')!r}, "
                f"the plugin uses a {mode}-mode key"
            )
        return payload

    def payment_events_from_webhook(self, payload: Mapping[str, Any]) -> list[PaymentEventData]:
        """The standard events for one Stripe event (see ``_webhook_events``)."""
        return payment_events(payload, provider=self.metadata.name)

    def translate_webhook(self, payload: Mapping[str, Any]) -> list[Event]:
        """The payment events, then the billing events (``_billing_events``); pure."""
        billing = billing_events(payload, provider=self.metadata.name)
        return super().translate_webhook(payload) + [data.to_event() for data in billing]


def _refused(reason: str) -> WebhookVerificationError:
    return WebhookVerificationError(
        f"Stripe webhook refused: {reason}", plugin_name="stripe", reason=reason
    )
