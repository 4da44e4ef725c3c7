"""The PayPal payment provider: Orders v2, Payments v2 and certificate-verified webhooks.

Transaction ids follow the contract: ``create_payment_intent`` returns the **order** id;
``process_payment`` returns the **capture** id (or, with ``manual_capture=True``, the
**authorization** id), which ``refund_payment``, ``capture_payment``, ``cancel_payment``
and ``get_payment`` take. Those also accept the order id, so a host that only stored the
order id can still reconcile and refund.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final

import requests

from vbwd_plugins import (
    Capability,
    Money,
    PaymentErrorCode,
    PaymentEventData,
    PaymentProviderPlugin,
    PaymentResult,
    PaymentStatus,
    PluginMetadata,
    WebhookVerificationError,
)
from vbwd_plugins.errors import PluginStateError

from ._client import PayPalClient, mount_adapters
from ._config import PayPalConfig
from ._errors import PayPalAPIError, PayPalError
from ._mapping import PAYPAL_CURRENCY_RULES
from ._results import (
    ID_KEYS,
    authorization_result,
    capture_result,
    order_result,
    payment_of_order,
    payments_of,
    refund_result,
    related_order,
    resource_id,
)
from ._version import __version__
from ._webhook_events import amount_of, encode_custom_id, events_from_webhook, order_failed_event
from ._webhooks import CertificateCache, WebhookVerifier, load_trust_store

if TYPE_CHECKING:
    from uuid import UUID

__all__ = ["PayPalPlugin"]

logger = logging.getLogger(__name__)

_MAX_REQUEST_ID: Final = 108
#: ``metadata`` keys copied into the purchase unit (PayPal has no free-form metadata).
_UNIT_KEYS: Final = ("description", "invoice_id", "reference_id", "soft_descriptor")
#: ``metadata`` keys copied into ``payment_source.paypal.experience_context``.
_EXPERIENCE_KEYS: Final = (
    "return_url",
    "cancel_url",
    "brand_name",
    "locale",
    "shipping_preference",
    "user_action",
)
_ALREADY_DONE: Final = frozenset({"ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED"})
_KIND_PATHS: Final = {
    "capture": "/v2/payments/captures/",
    "order": "/v2/checkout/orders/",
    "authorization": "/v2/payments/authorizations/",
    "refund": "/v2/payments/refunds/",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _request_id(idempotency_key: str | None) -> str:
    """The ``PayPal-Request-Id``: the caller's key, or a fresh one for this call."""
    if idempotency_key is None:
        return f"vbwd-{uuid.uuid4()}"
    if not 1 <= len(idempotency_key) <= _MAX_REQUEST_ID:
        raise ValueError(f"idempotency_key must be 1 to {_MAX_REQUEST_ID} characters")
    return idempotency_key


class PayPalPlugin(PaymentProviderPlugin):
    """PayPal payment provider (Orders v2 with capture or authorize intent).

    ``session`` lets a host supply the ``requests.Session`` (proxies, extra adapters);
    ``clock`` (monotonic seconds) and ``now`` (aware ``datetime``) exist for tests.
    """

    metadata = PluginMetadata(
        name="paypal",
        version=__version__,
        author="VBWD Team",
        description="PayPal payment provider (Orders v2, certificate-verified webhooks)",
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
        }
    )
    currency_rules = PAYPAL_CURRENCY_RULES

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
        self._kinds: OrderedDict[str, str] = OrderedDict()
        self._kinds_lock: Final = threading.Lock()

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
            raise PluginStateError(
                "Plugin 'paypal' is not initialized: call initialize() with its configuration",
                plugin_name="paypal",
                status=self.status,
                action="use",
            )
        return config

    @property
    def client(self) -> PayPalClient:
        """The REST client built from the current configuration."""
        if self._client is None:
            raise PluginStateError(
                "Plugin 'paypal' is not initialized: call initialize() with its configuration",
                plugin_name="paypal",
                status=self.status,
                action="use",
            )
        return self._client

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
            certificates=CertificateCache(client.fetch_certificate, store, now=self._now),
            remote=lambda body: client.call(
                "POST", "/v1/notifications/verify-webhook-signature", body=body
            ),
            now=self._now,
        )
        with self._kinds_lock:
            self._kinds.clear()

    def on_uninstall(self) -> None:
        """Close the session's connections."""
        self._session.close()

    # -- results -------------------------------------------------------------------------

    def _remember(self, transaction_id: str, kind: str) -> None:
        with self._kinds_lock:
            self._kinds[transaction_id] = kind
            self._kinds.move_to_end(transaction_id)
            while len(self._kinds) > 4096:
                self._kinds.popitem(last=False)

    def _failure(
        self, exc: PayPalError, transaction_id: str | None, operation: str
    ) -> PaymentResult:
        metadata: dict[str, Any] = {}
        if isinstance(exc, PayPalAPIError):
            metadata["http_status"] = exc.status_code
            if exc.name:
                metadata["paypal_error"] = exc.name
            if exc.debug_id:
                metadata["debug_id"] = exc.debug_id
            if exc.issues:
                metadata["paypal_issues"] = list(exc.issues)
        logger.info("paypal: %s failed (%s): %s", operation, exc.error_code.value, exc)
        return PaymentResult.failure(
            exc.error_code, str(exc), transaction_id=transaction_id, metadata=metadata
        )

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
        for key, kind in ID_KEYS.items():
            if isinstance(result.metadata.get(key), str):
                self._remember(result.metadata[key], kind)
        return result

    # -- lookups -------------------------------------------------------------------------

    def _get(self, kind: str, resource_id: str) -> dict[str, Any]:
        return self.client.call("GET", f"{_KIND_PATHS[kind]}{resource_id}")

    def _find(self, transaction_id: str, kinds: Sequence[str]) -> tuple[str, dict[str, Any]]:
        """The resource ``transaction_id`` names, trying ``kinds`` (remembered kind first)."""
        with self._kinds_lock:
            hint = self._kinds.get(transaction_id)
        order = [hint, *kinds] if hint in kinds else list(kinds)
        last: PayPalAPIError | None = None
        for kind in dict.fromkeys(order):
            if kind is None:
                continue
            try:
                resource = self._get(kind, transaction_id)
            except PayPalAPIError as exc:
                if exc.error_code is not PaymentErrorCode.NOT_FOUND:
                    raise
                last = exc
                continue
            self._remember(transaction_id, kind)
            return kind, resource
        raise last or PayPalAPIError(
            f"{transaction_id!r} is not a PayPal {' or '.join(kinds)}",
            error_code=PaymentErrorCode.NOT_FOUND,
            status_code=404,
        )

    def _capture_of(self, transaction_id: str) -> tuple[dict[str, Any], str | None]:
        """The capture a capture id or an order id names, and the order id if known."""
        kind, resource = self._find(transaction_id, ("capture", "order"))
        if kind == "capture":
            return resource, related_order(resource)
        captures = payments_of(resource, "captures")
        if not captures:
            raise PayPalAPIError(
                f"PayPal order {transaction_id} has no capture to refund "
                f"(order status {resource.get('status')})",
                error_code=PaymentErrorCode.INVALID_REQUEST,
                status_code=422,
            )
        return dict(captures[-1]), transaction_id

    def _authorization_of(self, transaction_id: str) -> tuple[dict[str, Any], str | None]:
        """The authorization an authorization id or an order id names."""
        kind, resource = self._find(transaction_id, ("authorization", "order"))
        if kind == "authorization":
            return resource, related_order(resource)
        authorizations = payments_of(resource, "authorizations")
        if not authorizations:
            raise PayPalAPIError(
                f"PayPal order {transaction_id} is not authorized "
                f"(status {resource.get('status')}, intent {resource.get('intent')}): "
                "call process_payment on a manual-capture order first",
                error_code=PaymentErrorCode.INVALID_REQUEST,
                status_code=422,
            )
        return dict(authorizations[-1]), transaction_id

    def _amount_body(
        self, amount: Decimal | Money | None, resource: Mapping[str, Any], what: str
    ) -> tuple[dict[str, Any], Money | None]:
        if amount is None:
            return {}, None
        currency = amount_of(resource, what).currency
        money = (
            self.money(amount, currency)
            if not isinstance(amount, Money)
            else self.money(amount.amount, amount.currency)
        )
        if money.currency != currency:
            raise PayPalAPIError(
                f"Amount {money} is not in the {what}'s currency {currency}",
                error_code=PaymentErrorCode.INVALID_REQUEST,
                status_code=400,
            )
        value = money.to_decimal_string(self.currency_rules)
        return {"amount": {"currency_code": money.currency, "value": value}}, money

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
        request_id = _request_id(idempotency_key)
        extra = dict(metadata or {})
        unit: dict[str, Any] = {
            "amount": {
                "currency_code": money.currency,
                "value": money.to_decimal_string(self.currency_rules),
            },
            "custom_id": encode_custom_id(subscription_id, user_id),
        }
        unit.update({key: str(extra[key]) for key in _UNIT_KEYS if extra.get(key) is not None})
        body: dict[str, Any] = {
            "intent": "AUTHORIZE" if manual_capture else "CAPTURE",
            "purchase_units": [unit],
        }
        experience = {key: extra[key] for key in _EXPERIENCE_KEYS if extra.get(key) is not None}
        if experience:
            body["payment_source"] = {"paypal": {"experience_context": experience}}

        def create() -> PaymentResult:
            order = self.client.call(
                "POST", "/v2/checkout/orders", body=body, request_id=request_id
            )
            result = order_result(order, request_id)
            if result.amount is None:
                result.amount, result.currency = money.to_minor_units(), money.currency
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
        request_id = _request_id(idempotency_key)

        def process() -> PaymentResult:
            order = self._get("order", payment_intent_id)
            done = payment_of_order(order)
            if done is not None:
                return done
            status = order.get("status")
            if status != "APPROVED":
                result = order_result(order)
                if result.status is PaymentStatus.REQUIRES_ACTION:
                    result.success = False
                    result.error_code = PaymentErrorCode.PAYER_ACTION_REQUIRED
                    result.error_message = (
                        f"PayPal order {payment_intent_id} is {status}: the payer must approve "
                        "it at metadata['approval_url'] first"
                    )
                    return result
                return PaymentResult.failure(
                    PaymentErrorCode.INVALID_REQUEST,
                    f"PayPal order {payment_intent_id} is {status} and cannot be processed",
                    transaction_id=payment_intent_id,
                    metadata=result.metadata,
                )
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
        request_id = _request_id(idempotency_key)

        def capture() -> PaymentResult:
            authorization, order_id = self._authorization_of(transaction_id)
            authorization_id = resource_id(authorization)
            body, _ = self._amount_body(amount, authorization, "authorization")
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
        request_id = _request_id(idempotency_key)

        def cancel() -> PaymentResult:
            authorization, order_id = self._authorization_of(transaction_id)
            authorization_id = resource_id(authorization)
            answer = self.client.call(
                "POST",
                f"/v2/payments/authorizations/{authorization_id}/void",
                body={},
                request_id=request_id,
            )
            if not answer:  # 204 without Prefer: return=representation
                answer = self._get("authorization", authorization_id)
            return authorization_result(answer, order_id=order_id, request_id=request_id)

        return self._attempt("cancel_payment", transaction_id, cancel)

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund a capture (by capture or order id): the rest, or ``amount``."""
        request_id = _request_id(idempotency_key)

        def refund() -> PaymentResult:
            capture, _ = self._capture_of(transaction_id)
            capture_id = resource_id(capture)
            body, money = self._amount_body(amount, capture, "capture")
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

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """PayPal's current view of an order, capture, authorization or refund.

        An order that has been captured or authorized is reported by that payment, so
        the result's ``transaction_id`` is the id to refund or capture.
        """

        def get() -> PaymentResult:
            kind, resource = self._find(
                transaction_id, ("capture", "order", "authorization", "refund")
            )
            if kind == "capture":
                return capture_result(resource)
            if kind == "authorization":
                return authorization_result(resource)
            if kind == "refund":
                return refund_result(resource, capture_id=None)
            return payment_of_order(resource) or order_result(resource)

        return self._attempt("get_payment", transaction_id, get)

    # -- webhooks ------------------------------------------------------------------------

    def verify_webhook(self, payload: bytes, signature: str) -> bool:
        """Always ``False``: PayPal signs with five headers; use :meth:`verify_webhook_request`."""
        logger.warning(
            "paypal: verify_webhook(payload, signature) cannot verify PayPal deliveries, "
            "which are signed with five PAYPAL-* headers; call verify_webhook_request"
        )
        return False

    def verify_webhook_request(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether a delivery is authentic and fresh (offline or remote, per configuration).

        The certificate URL is checked against the allow-list before anything is fetched,
        in both modes. Rejections are logged at warning with the reason.
        """
        try:
            self.check_webhook_request(headers, body)
        except WebhookVerificationError as exc:
            logger.warning("%s", exc)
            return False
        return True

    def check_webhook_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Like :meth:`verify_webhook_request`, but raise :class:`WebhookVerificationError`.

        The error message says why the delivery was rejected.
        """
        if self._verifier is None:
            raise WebhookVerificationError(
                "PayPal webhook rejected: the plugin is not initialized", plugin_name="paypal"
            )
        self._verifier.verify(headers, body)

    def payment_events_from_webhook(self, payload: Mapping[str, Any]) -> Sequence[PaymentEventData]:
        """The standard events for a verified PayPal webhook (pure; see the mapping table)."""
        return events_from_webhook(payload)

    def handle_webhook(self, payload: dict[str, Any]) -> None:
        """Emit the standard events; on ``CHECKOUT.ORDER.APPROVED`` capture if configured.

        With ``capture_on_approval`` an approved order is captured (or authorized, for a
        manual-capture order) using a request id derived from the order, so redeliveries
        never act twice. Success emits nothing here: PayPal's own
        ``PAYMENT.CAPTURE.COMPLETED`` / ``PAYMENT.AUTHORIZATION.CREATED`` follows. A decline
        emits ``payment.failed`` for the order. Transient failures raise, so PayPal
        redelivers the approval.
        """
        events = list(self.payment_events_from_webhook(payload))
        if payload.get("event_type") == "CHECKOUT.ORDER.APPROVED":
            if self.settings.capture_on_approval:
                events.extend(self._act_on_approval(payload))
            else:
                logger.debug("paypal: order approved; capture_on_approval is off")
        elif not events:
            logger.debug("paypal: webhook %r emits no standard event", payload.get("event_type"))
        for data in events:
            self.dispatch_payment_event(data)

    def _act_on_approval(self, payload: Mapping[str, Any]) -> list[PaymentEventData]:
        order = payload.get("resource")
        if not isinstance(order, Mapping) or not isinstance(order.get("id"), str):
            logger.warning("paypal: CHECKOUT.ORDER.APPROVED without an order resource")
            return []
        order_id = str(order["id"])
        action = "authorize" if order.get("intent") == "AUTHORIZE" else "capture"
        try:
            self.client.call(
                "POST",
                f"/v2/checkout/orders/{order_id}/{action}",
                body={},
                request_id=f"vbwd-approval-{action}-{order_id}",
            )
        except PayPalAPIError as exc:
            if _ALREADY_DONE.intersection(exc.issues):
                logger.info("paypal: order %s was already %sd", order_id, action)
                return []
            if exc.error_code.retryable or exc.error_code in (
                PaymentErrorCode.AUTHENTICATION_FAILED,
                PaymentErrorCode.PROVIDER_ERROR,
            ):
                raise
            return [order_failed_event(payload, order, exc.error_code, str(exc))]
        logger.info("paypal: order %s approved and %sd", order_id, action)
        return []
