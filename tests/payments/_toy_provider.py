"""ToyPay: a third-party-style provider with every billing capability (harness: _toy_harness).

The conformance kit's own tests run the whole suite against it (it must pass), then
against subclasses that each make one mistake (they must fail, saying which).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from tests.payments._toy_server import Obj, ToyError, ToyServer, sign
from tests.payments._toy_translate import moment, translate_toy_event
from vbwd_plugins import (
    Capability,
    Money,
    PaymentErrorCode,
    PaymentProviderPlugin,
    PaymentResult,
    PaymentStatus,
    PluginMetadata,
    WebhookVerificationError,
)
from vbwd_plugins.events import Event
from vbwd_plugins.payments import (
    BillingResult,
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
    SubscriptionStatus,
    header_value,
)

_PAYMENT_STATUSES = {
    "requires_confirmation": PaymentStatus.PENDING,
    "succeeded": PaymentStatus.COMPLETED,
    "partially_refunded": PaymentStatus.PARTIALLY_REFUNDED,
    "refunded": PaymentStatus.REFUNDED,
    "declined": PaymentStatus.FAILED,
}


class ToyPayPlugin(PaymentProviderPlugin):
    """Payments and recurring billing through :class:`ToyServer`."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability) - {
        Capability.MANUAL_CAPTURE,
        Capability.PARTIAL_CAPTURE,
        Capability.CANCEL,
    }
    webhook_signature_header: ClassVar[str | None] = "Toy-Signature"

    def __init__(self, server: ToyServer) -> None:
        super().__init__()
        self.server = server

    @property
    def metadata(self) -> PluginMetadata:
        """Name ``toypay``."""
        return PluginMetadata(name="toypay", version="1.0.0", author="tests", description="Toy")

    def host_metadata(self, subscription_id: object, user_id: object) -> dict[str, str]:
        """What the plugin sends the provider so webhooks can name the host's ids."""
        return {"subscription_id": str(subscription_id), "user_id": str(user_id)}

    # -- payments --------------------------------------------------------------------

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
        """Create a payment carrying the host's ids in its metadata."""
        money = Money(amount, currency)
        sent = self.host_metadata(subscription_id, user_id)
        payment = self.server.create_payment(
            money.to_minor_units(), money.currency, sent, idempotency_key
        )
        return self.payment_result(payment)

    def process_payment(
        self, payment_intent_id: str, payment_method: str, *, idempotency_key: str | None = None
    ) -> PaymentResult:
        """Confirm the payment; the server's ``declined`` answer is a failed result."""
        return self.payment_result(
            self.server.confirm(payment_intent_id, payment_method, idempotency_key)
        )

    def refund_payment(
        self,
        transaction_id: str,
        amount: Decimal | Money | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PaymentResult:
        """Refund; the result carries this refund's amount and currency."""
        money = self.resolve_amount(transaction_id, amount)
        units = None if money is None else money.to_minor_units()
        refund = self.server.refund(transaction_id, units, idempotency_key)
        return self.refund_result(refund)

    def refund_result(self, refund: Obj) -> PaymentResult:
        """The result of a refund answer."""
        return PaymentResult(
            True,
            refund["id"],
            PaymentStatus.REFUNDED,
            amount=refund["amount"],
            currency=refund["currency"],
        )

    def get_payment(self, transaction_id: str) -> PaymentResult:
        """The server's view of the payment."""
        return self.payment_result(self.server.get(transaction_id, "pay"))

    def payment_result(self, payment: Obj) -> PaymentResult:
        """A payment answer as a result (a decline is a failure with its code)."""
        status = _PAYMENT_STATUSES[payment["status"]]
        if status is PaymentStatus.FAILED:
            return PaymentResult.failure(
                PaymentErrorCode(payment["decline_code"]),
                "ToyPay declined the payment",
                transaction_id=payment["id"],
            )
        return PaymentResult(
            True, payment["id"], status, amount=payment["amount"], currency=payment["currency"]
        )

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        """The server's refusals carry their standard code."""
        if isinstance(exc, ToyError):
            return PaymentResult.failure(exc.code, str(exc))
        return super().result_from_exception(exc, operation=operation)

    # -- webhooks ----------------------------------------------------------------------

    def verify_request(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check ``Toy-Signature`` (five minutes' tolerance)."""
        value = header_value(headers, "Toy-Signature") or ""
        fields = dict(item.partition("=")[::2] for item in value.split(","))
        stamp = fields.get("t", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            raise WebhookVerificationError("refused", plugin_name="toypay", reason="bad timestamp")
        if not fields.get("v1") or sign(body, int(stamp)) != value:
            raise WebhookVerificationError("refused", plugin_name="toypay", reason="no match")

    def translate_webhook(self, payload: Mapping[str, Any]) -> list[Event]:
        """ToyPay webhooks -> standard payment and billing events."""
        return [data.to_event() for data in translate_toy_event(self.metadata.name, payload)]

    # -- checkout, customers, methods, plans -------------------------------------------

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[CheckoutSession]:
        """A hosted session carrying the host's ids."""
        values: Obj = {
            "mode": request.mode.value,
            "metadata": self.host_metadata(request.subscription_id, request.user_id),
            "customer": request.customer_id,
            "expires_at": self.server.now + 3600,
        }
        if request.amount is not None:
            values.update(amount=request.amount.to_minor_units(), currency=request.amount.currency)
        if request.plan is not None:
            values["price"] = self.ensure_plan(request.plan).unwrap().provider_plan_id
        session = self.server.once(
            "session", idempotency_key, lambda: self.server.new("cs", **values)
        )
        return BillingResult.ok(
            CheckoutSession(
                id=session["id"],
                url=f"https://toypay.example/pay/{session['id']}",
                mode=request.mode,
                expires_at=datetime.fromtimestamp(session["expires_at"], UTC),
            )
        )

    def create_customer(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[Customer]:
        """A customer; the host's user id travels in its metadata."""
        sent = {**(metadata or {}), **({"user_id": user_id} if user_id else {})}
        customer = self.server.once(
            "customer",
            idempotency_key,
            lambda: self.server.new("cus", email=email, name=name, metadata=sent),
        )
        return BillingResult.ok(self.customer(customer))

    def customer(self, obj: Obj) -> Customer:
        """A stored customer as the contract's."""
        return Customer(
            id=obj["id"],
            email=obj["email"],
            name=obj["name"],
            user_id=obj["metadata"].get("user_id"),
        )

    def get_customer(self, customer_id: str) -> BillingResult[Customer]:
        """The stored customer."""
        return BillingResult.ok(self.customer(self.server.get(customer_id, "cus")))

    def start_payment_method_setup(
        self,
        customer_id: str,
        *,
        success_url: str | None = None,
        cancel_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[PaymentMethodSetup]:
        """A setup: a hosted page with URLs, a client secret without."""
        setup = self.server.new("seti", customer=self.server.get(customer_id, "cus")["id"])
        url = f"https://toypay.example/setup/{setup['id']}" if success_url else None
        secret = None if url else f"{setup['id']}_secret"
        return BillingResult.ok(
            PaymentMethodSetup(
                id=setup["id"], customer_id=customer_id, url=url, client_secret=secret
            )
        )

    def list_payment_methods(
        self, customer_id: str
    ) -> BillingResult[tuple[SavedPaymentMethod, ...]]:
        """The methods saved on the customer."""
        self.server.get(customer_id, "cus")
        found = [o for o in self.server.objects.values() if o.get("customer") == customer_id]
        return BillingResult.ok(
            tuple(
                SavedPaymentMethod(id=o["id"], type="card", brand=o["brand"], last4=o["last4"])
                for o in found
                if o["id"].startswith("pm_")
            )
        )

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[SavedPaymentMethod]:
        """Detach a saved method."""
        method = self.server.get(payment_method_id, "pm")
        method["customer"] = None
        return BillingResult.ok(SavedPaymentMethod(id=method["id"], type="card"))

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        """A price found by a lookup key derived from the plan (or referenced by id)."""
        if plan.provider_plan_id is not None:
            price = self.server.get(plan.provider_plan_id, "price")
        else:
            units = plan.price.to_minor_units()
            key = f"{plan.key}:{units}:{plan.price.currency}:{plan.interval}:{plan.interval_count}"
            price = self.server.price(
                key, {"amount": units, "currency": plan.price.currency, "product": plan.key}
            )
        return BillingResult.ok(
            ProviderPlan(
                plan_key=plan.key,
                provider_plan_id=price["id"],
                provider_product_id=f"prod_{price['product']}",
            )
        )

    # -- subscriptions -------------------------------------------------------------------

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Subscribe; a saved method pays at once, otherwise the payer approves."""
        price = self.ensure_plan(request.plan).unwrap().provider_plan_id
        values: Obj = {
            "price": price,
            "customer": request.customer_id,
            "quantity": request.quantity,
            "metadata": self.host_metadata(request.subscription_id, request.user_id),
        }
        paying = request.payment_method_id is not None
        sub = self.server.once(
            "subscription",
            idempotency_key,
            lambda: self.server.subscribe(
                values, paying=paying, trial_days=request.effective_trial_days
            ),
        )
        return BillingResult.ok(self.subscription(sub))

    def subscription(self, sub: Obj) -> Subscription:
        """A stored subscription as the contract's."""
        pending = sub["status"] == "pending"
        return Subscription(
            id=sub["id"],
            status=SubscriptionStatus(sub["status"]),
            provider_plan_id=sub["price"],
            customer_id=sub["customer"],
            quantity=sub["quantity"],
            current_period_start=moment(sub["period_start"]),
            current_period_end=moment(sub["period_end"]),
            trial_end=moment(sub["trial_end"]),
            cancel_at_period_end=sub["cancel_at_period_end"],
            approval_url=f"https://toypay.example/approve/{sub['id']}" if pending else None,
            subscription_id=sub["metadata"].get("subscription_id"),
            user_id=sub["metadata"].get("user_id"),
            provider_status=sub["status"],
        )

    def get_subscription(self, subscription_id: str) -> BillingResult[Subscription]:
        """The stored subscription."""
        return BillingResult.ok(self.subscription(self.server.get(subscription_id, "sub")))

    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        at_period_end: bool = True,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Cancel now, or at the end of the period."""
        sub = self.server.get(subscription_id, "sub")
        if at_period_end:
            sub["cancel_at_period_end"] = True
        else:
            sub["status"] = "cancelled"
        self.server.emit("subscription.cancelled", sub, at_period_end=at_period_end)
        return BillingResult.ok(self.subscription(sub))

    def change_subscription_plan(
        self,
        subscription_id: str,
        plan: Plan,
        *,
        proration: Proration = Proration.CREATE_PRORATIONS,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Move to another price."""
        sub = self.server.get(subscription_id, "sub")
        previous, sub["price"] = sub["price"], self.ensure_plan(plan).unwrap().provider_plan_id
        self.server.emit("subscription.updated", sub, previous=previous)
        return BillingResult.ok(self.subscription(sub))

    def pause_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Pause collection."""
        return self.set_status(subscription_id, "paused")

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Resume collection."""
        return self.set_status(subscription_id, "active", event="resumed")

    def set_status(
        self, sub_id: str, status: str, *, event: str | None = None
    ) -> BillingResult[Subscription]:
        """Set the status and send its webhook."""
        sub = self.server.get(sub_id, "sub")
        sub["status"] = status
        self.server.emit(f"subscription.{event or status}", sub)
        return BillingResult.ok(self.subscription(sub))
