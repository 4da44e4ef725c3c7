"""Stripe subscriptions: create, read, cancel, change plan, pause and resume collection.

A mixin of :class:`~vbwd_stripe.StripePlugin`, like :mod:`._billing` (whose ``ensure_plan``
gives the Price a subscription is created with). The host's ``subscription_id``/``user_id``
go into the subscription's metadata, which Stripe copies onto every invoice
(``parent.subscription_details.metadata``), so each ``customer.subscription.*`` and
``invoice.*`` event names them.

* Without ``payment_method_id`` the subscription is created with
  ``payment_behavior=default_incomplete``: it stays ``PENDING`` until the first invoice's
  payment is confirmed with Stripe.js (``client_secret`` in the result's metadata).
* With ``payment_method_id`` (a method saved on the customer) that method becomes the
  subscription's default and the first invoice is charged at once
  (``payment_behavior=allow_incomplete``): the result is ``ACTIVE``, or ``PENDING`` if the
  charge was declined or needs authentication.
* Pausing uses ``pause_collection[behavior]=void`` (invoices are voided, the subscription
  keeps its status); resuming clears it, and resumes a subscription in Stripe's own
  ``paused`` status (``POST /v1/subscriptions/{id}/resume``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from vbwd_plugins.payments import (
    BillingResult,
    PaymentErrorCode,
    Plan,
    Proration,
    Subscription,
    SubscriptionRequest,
)

from ._billing import StripeBilling, plain, relay_failure, request_id, request_options
from ._billing_mapping import first_item, host_metadata, object_id, to_subscription
from ._traced import traced

if TYPE_CHECKING:
    from stripe.params import SubscriptionCreateParams, SubscriptionUpdateParams

__all__ = ["StripeSubscriptions"]

_ONE: Final = "/v1/subscriptions/{subscription}"


class StripeSubscriptions(StripeBilling):
    """The subscription operations of the Stripe plugin."""

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """A subscription of ``request.customer_id`` to the plan's Price (see module doc)."""
        if request.customer_id is None:
            return BillingResult.failure(
                PaymentErrorCode.INVALID_REQUEST,
                "stripe: create_subscription needs customer_id (a Stripe customer, cus_...); "
                "create one with create_customer, or use a subscription checkout",
            )
        found = self.ensure_plan(request.plan)
        if not found.success or found.value is None:
            return relay_failure(found)
        params: SubscriptionCreateParams = {
            "customer": request.customer_id,
            "items": [{"price": found.value.provider_plan_id, "quantity": request.quantity}],
            "metadata": host_metadata(request.metadata, request.subscription_id, request.user_id),
            "payment_behavior": "default_incomplete",
            "expand": ["latest_invoice.confirmation_secret"],
        }
        if request.payment_method_id is not None:
            params["default_payment_method"] = request.payment_method_id
            params["payment_behavior"] = "allow_incomplete"
        if request.effective_trial_days:
            params["trial_period_days"] = request.effective_trial_days
        sub = traced(
            "POST",
            "/v1/subscriptions",
            self.client.v1.subscriptions.create,
            params=params,
            options=request_options(idempotency_key),
        )
        data = plain(sub)
        extra: dict[str, Any] = {"request_id": request_id(sub)}
        invoice = data.get("latest_invoice")
        extra["latest_invoice"] = object_id(invoice)
        if isinstance(invoice, dict) and isinstance(invoice.get("confirmation_secret"), dict):
            secret = invoice["confirmation_secret"].get("client_secret")
            extra["client_secret"] = secret if isinstance(secret, str) else None
        return BillingResult.ok(to_subscription(data), **extra)

    def get_subscription(self, subscription_id: str) -> BillingResult[Subscription]:
        """The subscription as Stripe sees it now."""
        sub = traced("GET", _ONE, self.client.v1.subscriptions.retrieve, subscription_id)
        return BillingResult.ok(to_subscription(plain(sub)), request_id=request_id(sub))

    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        at_period_end: bool = True,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """At period end: ``cancel_at_period_end=true``; now: ``DELETE`` (no proration)."""
        if at_period_end:
            return self._update(subscription_id, {"cancel_at_period_end": True}, idempotency_key)
        sub = traced(
            "DELETE",
            _ONE,
            self.client.v1.subscriptions.cancel,
            subscription_id,
            options=request_options(idempotency_key),
        )
        return BillingResult.ok(to_subscription(plain(sub)), request_id=request_id(sub))

    def change_subscription_plan(
        self,
        subscription_id: str,
        plan: Plan,
        *,
        proration: Proration = Proration.CREATE_PRORATIONS,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Swap the first item's Price for ``plan``'s (quantity kept), prorated as asked."""
        current = plain(traced("GET", _ONE, self.client.v1.subscriptions.retrieve, subscription_id))
        item_id = first_item(current).get("id")
        if not isinstance(item_id, str):
            return BillingResult.failure(
                PaymentErrorCode.INVALID_REQUEST,
                f"stripe: subscription {subscription_id!r} has no item to change",
            )
        found = self.ensure_plan(plan)
        if not found.success or found.value is None:
            return relay_failure(found)
        params: SubscriptionUpdateParams = {
            "items": [{"id": item_id, "price": found.value.provider_plan_id}],
            "proration_behavior": Proration(proration).value,
        }
        return self._update(subscription_id, params, idempotency_key)

    def pause_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Stop collecting: ``pause_collection[behavior]=void`` (invoices are voided)."""
        params: SubscriptionUpdateParams = {"pause_collection": {"behavior": "void"}}
        return self._update(subscription_id, params, idempotency_key)

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Collect again: a ``paused`` subscription is resumed, ``pause_collection`` cleared.

        The subscription is read first. Status ``paused`` (Stripe's own pause) takes
        ``POST .../resume`` with Stripe's defaults, under ``<idempotency_key>:resume`` so a
        retry after a lost answer (which finds it resumed) does not reuse the key for
        another request; a ``pause_collection`` left set is then cleared.
        """
        current = plain(traced("GET", _ONE, self.client.v1.subscriptions.retrieve, subscription_id))
        if current.get("status") == "paused":
            resumed = traced(
                "POST",
                _ONE + "/resume",
                self.client.v1.subscriptions.resume,
                subscription_id,
                options=request_options(idempotency_key and f"{idempotency_key}:resume"),
            )
            current = plain(resumed)
            if not current.get("pause_collection"):
                return BillingResult.ok(to_subscription(current), request_id=request_id(resumed))
        return self._update(subscription_id, {"pause_collection": ""}, idempotency_key)

    def _update(
        self,
        subscription_id: str,
        params: SubscriptionUpdateParams,
        idempotency_key: str | None,
    ) -> BillingResult[Subscription]:
        sub = traced(
            "POST",
            _ONE,
            self.client.v1.subscriptions.update,
            subscription_id,
            params=params,
            options=request_options(idempotency_key),
        )
        return BillingResult.ok(to_subscription(plain(sub)), request_id=request_id(sub))
