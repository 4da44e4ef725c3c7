"""The PayPal payment provider: Orders v2, Payments v2 and certificate-verified webhooks.

Transaction ids follow the contract: ``create_payment_intent`` returns the **order** id;
``process_payment`` returns the **capture** id (or, with ``manual_capture=True``, the
**authorization** id), which ``refund_payment``, ``capture_payment``, ``cancel_payment``
and ``get_payment`` take. Those also accept the order id, so a host that only stored the
order id can still reconcile and refund. A subscription's payments are **sales** (the
``invoice_id`` of ``subscription.renewed``): ``refund_payment`` and ``get_payment`` take
their ids too (``_sales``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final

import requests

from vbwd_plugins import (
    Capability,
    Event,
    Money,
    PaymentErrorCode,
    PaymentEventData,
    PaymentProviderPlugin,
    PaymentResult,
    PluginMetadata,
    listener,
)
from vbwd_plugins.errors import PluginStateError

from ._approval import ORDER_APPROVED, OrderApproved, act_on_approval, approval_events
from ._billing import PayPalBilling
from ._billing_events import billing_events_from_webhook, sale_payment_events
from ._certs import CertificateCache, CertificateFetcher, load_trust_store, reject
from ._client import PayPalClient, mount_adapters
from ._config import PayPalConfig
from ._errors import PayPalAPIError, PayPalError
from ._mapping import PAYPAL_CURRENCY_RULES
from ._requests import amount_body, order_body
from ._requests import request_id as new_request_id
from ._resources import ResourceFinder
from ._results import (
    authorization_result,
    capture_result,
    failed_result,
    order_result,
    payment_of_order,
    refund_result,
    resource_id,
    unapproved_order_result,
)
from ._sales import sale_amount, sale_refund_body, sale_refund_result, sale_result
from ._version import __version__
from ._webhook_events import amount_of, events_from_webhook
from ._webhooks import WebhookVerifier

if TYPE_CHECKING:
    from uuid import UUID

__all__ = ["PayPalPlugin"]

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PayPalPlugin(PayPalBilling, PaymentProviderPlugin):
    """PayPal payment provider (Orders v2 with capture or authorize intent), and recurring
    billing through Subscriptions v1 (``_billing``).

    ``session`` lets a host supply the ``requests.Session`` (proxies, extra adapters);
    ``clock`` (monotonic seconds) and ``now`` (aware ``datetime``) exist for tests.
    """

    metadata = PluginMetadata(
        name="paypal",
        version=__version__,
        author="VBWD Team",
        description="PayPal payment provider (Orders v2, certificate-verified webhooks)",
        emits=[ORDER_APPROVED],
    )
    config_schema: ClassVar[type[PayPalConfig]] = PayPalConfig
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
            Capability.PLANS,
            Capability.SUBSCRIPTIONS,
            Capability.PLAN_CHANGES,
            Capability.PAUSE,
            Capability.DISPUTES,
        }
    )
    currency_rules = PAYPAL_CURRENCY_RULES
    webhook_event_type_field: ClassVar[str | None] = "event_type"

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__()
        self._session: Final = session if session is not None else requests.Session()
        self._clock: Final = clock
        self._now: Final = now
        self._client: PayPalClient | None = None
        self._verifier: WebhookVerifier | None = None
        self._mounted: tuple[str, ...] = ()
        self._resources: Final = ResourceFinder(lambda path: self.client.call("GET", path))
        self._known_products: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The one ``requests.Session`` this plugin instance sends everything through."""
        return self._session

    @property
    def settings(self) -> PayPalConfig:
        """The validated configuration; :class:`PluginStateError` before initialization."""
        config = self.config
        if not isinstance(config, PayPalConfig):
            raise self._not_ready()
        return config

    @property
    def client(self) -> PayPalClient:
        """The REST client built from the current configuration."""
        if self._client is None:
            raise self._not_ready()
        return self._client

    def _not_ready(self) -> PluginStateError:
        return PluginStateError(
            "Plugin 'paypal' is not initialized: call initialize() with its configuration",
            plugin_name="paypal",
            status=self.status,
            action="use",
        )

    def on_initialize(self) -> None:
        """Build the client and certificate cache for the (new) configuration."""
        settings = self.settings
        for prefix in self._mounted:
            self._session.adapters.pop(prefix, None)
        self._mounted = mount_adapters(self._session, settings)
        client = PayPalClient(settings, self._session, clock=self._clock)
        store = load_trust_store(None if settings.ca_bundle is None else str(settings.ca_bundle))
        self._client = client
        self._verifier = WebhookVerifier(
            webhook_id=settings.webhook_id,
            mode=settings.webhook_verification,
            tolerance=timedelta(seconds=settings.transmission_tolerance),
            cert_hosts=settings.cert_hosts,
            certificates=CertificateCache(
                CertificateFetcher(
                    self._session,
                    connect_timeout=settings.connect_timeout,
                    read_timeout=settings.timeout,
                ),
                store,
                mode=settings.mode,
                now=self._now,
            ),
            remote=lambda body: client.call(
                "POST", "/v1/notifications/verify-webhook-signature", body=body
            ),
            now=self._now,
        )
        self._resources.forget()
        self._known_products.clear()

    def on_uninstall(self) -> None:
        """Close the session's connections."""
        self._session.close()

    # -- results -------------------------------------------------------------------------

    def _failure(
        self, exc: PayPalError, transaction_id: str | None, operation: str
    ) -> PaymentResult:
        logger.info("paypal: %s failed (%s): %s", operation, exc.error_code.value, exc)
        return failed_result(exc, transaction_id)

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        """Map the client's errors (and ``ValueError`` from bad arguments) to results."""
        if isinstance(exc, PayPalError):
            return self._failure(exc, None, operation)
        if isinstance(exc, ValueError):
            return PaymentResult.failure(PaymentErrorCode.INVALID_REQUEST, str(exc))
        return super().result_from_exception(exc, operation=operation)

    def _attempt(
        self, operation: str, transaction_id: str | None, body: Callable[[], PaymentResult]
    ) -> PaymentResult:
        try:
            result = body()
        except PayPalError as exc:
            return self._failure(exc, transaction_id, operation)
        self._resources.remember_result(result)
        return result

    def _money_in(
        self, amount: Decimal | Money | None, resource: Mapping[str, Any], what: str
    ) -> Money | None:
        """``amount`` as Money; a bare ``Decimal`` is in the currency of ``resource``."""
        if amount is None or isinstance(amount, Money):
            return None if amount is None else self.money(amount.amount, amount.currency)
        return self.money(amount, amount_of(resource, what).currency)

    # -- operations ----------------------------------------------------------------------

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
        """Create an order; the payer approves it at ``metadata["approval_url"]``.

        ``metadata`` keys ``description``, ``invoice_id``, ``reference_id`` and
        ``soft_descriptor`` go into the purchase unit; ``return_url``, ``cancel_url``,
        ``brand_name``, ``locale``, ``shipping_preference`` and ``user_action`` into the
        PayPal experience context. Subscription and user travel in ``custom_id``.
        """
        money = self.money(amount, currency)
        request_id = new_request_id(idempotency_key)
        body = order_body(
            money,
            self.currency_rules,
            subscription_id=subscription_id,
            user_id=user_id,
            metadata=metadata or {},
            manual_capture=manual_capture,
        )

        def create() -> PaymentResult:
            order = self.client.call(
                "POST", "/v2/checkout/orders", body=body, request_id=request_id
            )
            result = order_result(order, request_id)
            if result.amount is None:
                result.currency, result.amount = money.currency, money.to_minor_units()
            return result

        return self._attempt("create_payment_intent", None, create)

    def process_payment(
        self,
        payment_intent_id: str,
        payment_method: str,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Capture (or, for a manual-capture order, authorize) an approved order.

        ``payment_method`` is informational: the payer chose how to pay on PayPal. An
        order that was already captured or authorized reports that payment.
        """
        request_id = new_request_id(idempotency_key)

        def process() -> PaymentResult:
            order = self._resources.get("order", payment_intent_id)
            done = payment_of_order(order)
            if done is not None:
                return done
            if order.get("status") != "APPROVED":
                return unapproved_order_result(order, payment_intent_id)
            action = "authorize" if order.get("intent") == "AUTHORIZE" else "capture"
            answer = self.client.call(
                "POST",
                f"/v2/checkout/orders/{payment_intent_id}/{action}",
                body={},
                request_id=request_id,
            )
            processed = payment_of_order(answer, request_id)
            if processed is None:
                raise PayPalAPIError(
                    f"PayPal's {action} answer for order {payment_intent_id} has no {action}",
                    error_code=PaymentErrorCode.PROVIDER_ERROR,
                    status_code=200,
                )
            if payment_method:
                processed.metadata["payment_method"] = payment_method
            return processed

        return self._attempt("process_payment", payment_intent_id, process)

    def capture_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Capture an authorization (all of it, or ``amount`` as the final capture)."""
        request_id = new_request_id(idempotency_key)

        def capture() -> PaymentResult:
            authorization, order_id = self._resources.authorization_of(transaction_id)
            authorization_id = resource_id(authorization)
            money = self._money_in(amount, authorization, "authorization")
            body = amount_body(money, self.currency_rules, authorization, "authorization")
            if body:
                body["final_capture"] = True
            answer = self.client.call(
                "POST",
                f"/v2/payments/authorizations/{authorization_id}/capture",
                body=body,
                request_id=request_id,
            )
            result = capture_result(answer, order_id=order_id, request_id=request_id)
            result.metadata["authorization_id"] = authorization_id
            return result

        return self._attempt("capture_payment", transaction_id, capture)

    def cancel_payment(
        self, transaction_id: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Void an authorization (orders themselves cannot be cancelled; they expire)."""
        request_id = new_request_id(idempotency_key)

        def cancel() -> PaymentResult:
            authorization, order_id = self._resources.authorization_of(transaction_id)
            authorization_id = resource_id(authorization)
            answer = self.client.call(
                "POST",
                f"/v2/payments/authorizations/{authorization_id}/void",
                body={},
                request_id=request_id,
            )
            if not answer:  # 204 without Prefer: return=representation
                answer = self._resources.get("authorization", authorization_id)
            return authorization_result(answer, order_id=order_id, request_id=request_id)

        return self._attempt("cancel_payment", transaction_id, cancel)

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund a capture (by capture or order id) or a subscription's sale (by sale id,
        the ``invoice_id`` of ``subscription.renewed``): the rest, or ``amount``."""
        request_id = new_request_id(idempotency_key)

        def refund() -> PaymentResult:
            kind, capture, _ = self._resources.refundable(transaction_id)
            if kind == "sale":
                return self._refund_sale(capture, amount, request_id)
            capture_id = resource_id(capture)
            money = self._money_in(amount, capture, "capture")
            body = amount_body(money, self.currency_rules, capture, "capture")
            if isinstance(capture.get("custom_id"), str):
                # so that PAYMENT.CAPTURE.REFUNDED names the subscription and user too
                body["custom_id"] = capture["custom_id"]
            answer = self.client.call(
                "POST",
                f"/v2/payments/captures/{capture_id}/refund",
                body=body,
                request_id=request_id,
            )
            return refund_result(
                answer, capture_id=capture_id, fallback=money, request_id=request_id
            )

        return self._attempt("refund_payment", transaction_id, refund)

    def _refund_sale(
        self, sale: Mapping[str, Any], amount: Decimal | Money | None, request_id: str
    ) -> PaymentResult:
        sale_id = resource_id(sale)
        money: Money | None = None
        if isinstance(amount, Money):
            money = self.money(amount.amount, amount.currency)
        elif amount is not None:  # a bare Decimal is in the sale's currency
            money = self.money(amount, sale_amount(sale, "sale").currency)
        answer = self.client.call(
            "POST",
            f"/v1/payments/sale/{sale_id}/refund",
            body=sale_refund_body(money, self.currency_rules, sale),
            request_id=request_id,
        )
        return sale_refund_result(answer, sale_id=sale_id, fallback=money, request_id=request_id)

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """PayPal's current view of an order, capture, authorization or refund, or of a
        subscription's sale or a sale's refund.

        An order that has been captured or authorized is reported by that payment, so
        the result's ``transaction_id`` is the id to refund or capture.
        """

        def get() -> PaymentResult:
            kind, resource = self._resources.find(
                transaction_id,
                ("capture", "order", "authorization", "refund", "sale", "sale_refund"),
            )
            if kind == "sale":
                return sale_result(resource)
            if kind == "sale_refund":
                return sale_refund_result(resource, sale_id=None)
            if kind == "capture":
                return capture_result(resource)
            if kind == "authorization":
                return authorization_result(resource)
            if kind == "refund":
                return refund_result(resource, capture_id=None)
            return payment_of_order(resource) or order_result(resource)

        return self._attempt("get_payment", transaction_id, get)

    # -- webhooks ------------------------------------------------------------------------

    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Verify the five ``PAYPAL-*`` headers, offline or remotely (per configuration).

        The certificate URL is checked against the allow-list before anything is fetched,
        in both modes; a refusal's ``reason`` says what failed.
        """
        if self._verifier is None:
            raise reject("the plugin is not initialized")
        self._verifier.verify(headers, body)

    def payment_events_from_webhook(self, payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
        """The standard events for a verified PayPal webhook (pure; see the mapping tables)."""
        return [*events_from_webhook(payload), *sale_payment_events(payload)]

    def translate_webhook(self, payload: Mapping[str, Any]) -> list[Event]:
        """The standard payment and billing events, and ``paypal.order.approved`` for
        ``CHECKOUT.ORDER.APPROVED``.

        Pure, like the mappings it extends: whether to capture is the listener's decision.
        """
        billing = billing_events_from_webhook(payload)
        return super().translate_webhook(payload) + billing + approval_events(payload)

    def handle_webhook(self, payload: dict[str, Any]) -> None:
        """Dispatch, strictly, what :meth:`translate_webhook` returns (``process_webhook``).

        ``paypal.order.approved`` reaches :meth:`capture_on_approval` the same way, so a
        direct caller still captures on approval; a listener's failure propagates so that
        PayPal redelivers. The webhook pipeline records deliveries instead of calling this.
        """
        if not self.dispatch_webhook_events(payload):
            logger.debug("paypal: webhook %r emits no event", payload.get("event_type"))

    @listener(ORDER_APPROVED, id="capture-on-approval")
    def capture_on_approval(self, event: Event) -> None:
        """With ``capture_on_approval``, capture (or authorize) the approved order, once.

        A delivery of its own (``paypal:capture-on-approval``): PayPal's request id is the
        delivery's idempotency key, so a retried capture is not a second one. A decline
        dispatches ``payment.failed`` for the order; outages, rate limits and timeouts raise,
        so the delivery is retried (see ``_approval``).
        """
        if not self.settings.capture_on_approval:
            logger.debug("paypal: order approved; capture_on_approval is off")
            return
        approved = OrderApproved.from_event(event)
        failure = act_on_approval(self.client, approved, request_id=event.idempotency_key)
        if failure is not None:
            self.dispatch_payment_event(failure)
