"""Hosted checkout, customers, saved payment methods and plans on Stripe.

A mixin of :class:`~vbwd_stripe.StripePlugin` (subscriptions are in :mod:`._subscriptions`).
Every call goes through the plugin's own ``StripeClient`` (its key, base address, retries and
timeout). SDK exceptions are not caught here: the contract's guard turns them into failed
:class:`~vbwd_plugins.payments.BillingResult` values through the plugin's
``result_from_exception`` (:mod:`._error_map`).

Plans are idempotent without any state on the host's side: the Product has an explicit id
derived from the plan's key, and the Price is found by a ``lookup_key`` derived from the key,
amount, currency and interval (:func:`~._billing_mapping.lookup_key_for`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import stripe

from vbwd_plugins.payments import (
    BillingResult,
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    PaymentErrorCode,
    PaymentMethodSetup,
    Plan,
    ProviderPlan,
    RecurringBilling,
    SavedPaymentMethod,
)

from ._billing_mapping import (
    host_metadata,
    host_tags,
    lookup_key_for,
    object_id,
    plan_mismatch,
    product_id_for,
    to_checkout_session,
    to_customer,
    to_payment_method,
)
from ._currency import stripe_units
from ._traced import traced

if TYPE_CHECKING:
    from stripe.params import PriceCreateParams
    from stripe.params.checkout import (
        SessionCreateParams,
        SessionCreateParamsSubscriptionData,
    )

__all__ = ["StripeBilling", "plain", "relay_failure", "request_id", "request_options"]

logger = logging.getLogger(__name__)

#: Saved payment methods listed per page (Stripe's maximum).
_PAGE: Final = 100
#: Pages read at most (10,000 methods on one customer is beyond any real use).
_MAX_PAGES: Final = 100
#: Metadata key naming the host's plan on the Product and Price the plugin creates.
_PLAN_KEY_TAG: Final = "vbwd_plan_key"


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe response as plain JSON data (no ``StripeObject`` leaks out)."""
    data: dict[str, Any] = obj.to_dict()
    return data


def request_id(obj: Any) -> str | None:
    """The ``Request-Id`` Stripe answered ``obj`` with (what Stripe support asks for)."""
    found = getattr(getattr(obj, "last_response", None), "request_id", None)
    return found if isinstance(found, str) else None


def request_options(idempotency_key: str | None) -> stripe.RequestOptions:
    """Per-request options: the idempotency key, when the caller gave one."""
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


class StripeBilling(RecurringBilling):
    """Checkout Sessions, Customers, SetupIntents/PaymentMethods and Products/Prices."""

    if TYPE_CHECKING:

        @property
        def client(self) -> stripe.StripeClient: ...

    # -- invoices ------------------------------------------------------------------------

    def payment_intent_of(self, reference: str) -> str:
        """``reference``, or for an invoice (``in_...``) the PaymentIntent that paid it."""
        return self.paid_by(reference)[0]

    def paid_by(self, reference: str) -> tuple[str, dict[str, str]]:
        """The PaymentIntent ``reference`` names, and the host's ids an invoice carries.

        ``subscription.renewed`` names the invoice (its ``invoice.paid`` carries no payment
        in this API version), while refunds and disputes name the PaymentIntent: this is
        the link, read from the invoice's ``payments``. ``get_payment`` and
        ``refund_payment`` accept an invoice id through it. An invoice's PaymentIntent has
        no metadata, so the host's ids come from the invoice's copy of its subscription's
        (``parent.subscription_details.metadata``); a PaymentIntent id gives ``{}``.
        """
        if not reference.startswith("in_"):
            return reference, {}
        invoice = plain(
            traced(
                "GET",
                "/v1/invoices/{invoice}",
                self.client.v1.invoices.retrieve,
                reference,
                params={"expand": ["payments"]},
            )
        )
        parent = invoice.get("parent")
        details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
        tags = host_tags(details.get("metadata")) if isinstance(details, Mapping) else {}
        payments = invoice.get("payments")
        for item in (payments.get("data") if isinstance(payments, Mapping) else None) or []:
            payment = item.get("payment") if isinstance(item, Mapping) else None
            intent = (
                object_id(payment.get("payment_intent")) if isinstance(payment, Mapping) else None
            )
            if intent is not None and item.get("status") == "paid":
                return intent, tags
        status = invoice.get("status")
        message = f"Stripe invoice {reference!r} has no paid PaymentIntent (status {status!r})"
        error = {"type": "invalid_request_error", "code": "resource_missing", "message": message}
        # As Stripe answers an unknown id, so the plugin's error mapping says NOT_FOUND.
        raise stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
            message,
            "transaction_id",
            "resource_missing",
            http_status=404,
            json_body={"error": error},
        )

    # -- hosted checkout ----------------------------------------------------------------

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[CheckoutSession]:
        """A Checkout Session; the host's ids travel in every metadata Stripe copies on.

        ``metadata`` and ``client_reference_id`` name them on the session
        (``checkout.session.completed``); ``subscription_data[metadata]`` on the subscription
        it creates (``customer.subscription.*``, ``invoice.*``);
        ``payment_intent_data[metadata]`` / ``setup_intent_data[metadata]`` on the intent.
        In payment mode ``amount`` is the price of one unit (``quantity`` of them are paid).
        """
        tags = host_metadata(request.metadata, request.subscription_id, request.user_id)
        params: SessionCreateParams = {
            "mode": request.mode.value,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": tags,
        }
        reference = request.subscription_id or request.user_id
        if reference is not None:
            params["client_reference_id"] = reference
        if request.customer_id is not None:
            params["customer"] = request.customer_id
        if request.mode is CheckoutMode.SUBSCRIPTION and request.plan is not None:
            found = self.ensure_plan(request.plan)
            if not found.success or found.value is None:
                return relay_failure(found)
            params["line_items"] = [
                {"price": found.value.provider_plan_id, "quantity": request.quantity}
            ]
            subscription_data: SessionCreateParamsSubscriptionData = {"metadata": tags}
            if request.effective_trial_days:
                subscription_data["trial_period_days"] = request.effective_trial_days
            params["subscription_data"] = subscription_data
        elif request.mode is CheckoutMode.PAYMENT and request.amount is not None:
            params["line_items"] = [
                {
                    "price_data": {
                        "currency": request.amount.currency.lower(),
                        "unit_amount": stripe_units(request.amount),
                        "product_data": {"name": request.description or "Payment"},
                    },
                    "quantity": request.quantity,
                }
            ]
            params["payment_intent_data"] = {"metadata": tags}
        else:  # setup: save a card for later, charge nothing
            params["allowed_payment_method_types"] = ["card"]
            params["setup_intent_data"] = {"metadata": tags}
        session = traced(
            "POST",
            "/v1/checkout/sessions",
            self.client.v1.checkout.sessions.create,
            params=params,
            options=request_options(idempotency_key),
        )
        return BillingResult.ok(
            to_checkout_session(plain(session), request.mode), request_id=request_id(session)
        )

    # -- customers -----------------------------------------------------------------------

    def create_customer(
        self,
        *,
        email: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[Customer]:
        """A Customer; the host's ``user_id`` is kept in its metadata."""
        params: stripe.params.CustomerCreateParams = {
            "metadata": host_metadata(metadata, None, user_id)
        }
        if email is not None:
            params["email"] = email
        if name is not None:
            params["name"] = name
        customer = traced(
            "POST",
            "/v1/customers",
            self.client.v1.customers.create,
            params=params,
            options=request_options(idempotency_key),
        )
        return BillingResult.ok(to_customer(plain(customer)), request_id=request_id(customer))

    def get_customer(self, customer_id: str) -> BillingResult[Customer]:
        """The Customer; a deleted one is ``NOT_FOUND`` (Stripe still answers it, marked)."""
        customer = traced(
            "GET", "/v1/customers/{customer}", self.client.v1.customers.retrieve, customer_id
        )
        data = plain(customer)
        if data.get("deleted") is True:
            return BillingResult.failure(
                PaymentErrorCode.NOT_FOUND,
                f"Stripe customer {customer_id!r} was deleted",
                request_id=request_id(customer),
            )
        return BillingResult.ok(to_customer(data), request_id=request_id(customer))

    # -- saved payment methods -----------------------------------------------------------

    def start_payment_method_setup(
        self,
        customer_id: str,
        *,
        success_url: str | None = None,
        cancel_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> BillingResult[PaymentMethodSetup]:
        """With ``success_url``: Checkout in setup mode (``url``); else a SetupIntent.

        The SetupIntent's ``client_secret`` is for Stripe.js (``confirmCardSetup``); it is
        never logged.
        """
        if success_url is not None:
            request = CheckoutRequest(
                mode=CheckoutMode.SETUP,
                success_url=success_url,
                cancel_url=cancel_url or success_url,
                customer_id=customer_id,
            )
            made = self.create_checkout_session(request, idempotency_key=idempotency_key)
            if not made.success or made.value is None:
                return relay_failure(made)
            return BillingResult.ok(
                PaymentMethodSetup(id=made.value.id, customer_id=customer_id, url=made.value.url),
                **made.metadata,
            )
        intent = traced(
            "POST",
            "/v1/setup_intents",
            self.client.v1.setup_intents.create,
            params={"customer": customer_id, "usage": "off_session"},
            options=request_options(idempotency_key),
        )
        data = plain(intent)
        secret = data.get("client_secret")
        return BillingResult.ok(
            PaymentMethodSetup(
                id=str(data["id"]),
                customer_id=customer_id,
                client_secret=secret if isinstance(secret, str) else None,
            ),
            request_id=request_id(intent),
        )

    def list_payment_methods(
        self, customer_id: str
    ) -> BillingResult[tuple[SavedPaymentMethod, ...]]:
        """Every PaymentMethod saved on the customer, all pages."""
        found: list[SavedPaymentMethod] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            params: stripe.params.CustomerPaymentMethodListParams = {"limit": _PAGE}
            if after is not None:
                params["starting_after"] = after
            page = plain(
                traced(
                    "GET",
                    "/v1/customers/{customer}/payment_methods",
                    self.client.v1.customers.payment_methods.list,
                    customer_id,
                    params=params,
                )
            )
            data = [pm for pm in page.get("data") or [] if isinstance(pm, Mapping)]
            found.extend(to_payment_method(pm) for pm in data)
            if page.get("has_more") is not True or not data:
                break
            after = str(data[-1]["id"])
        return BillingResult.ok(tuple(found))

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[SavedPaymentMethod]:
        """Detach the PaymentMethod from its customer (it cannot be used again)."""
        pm = traced(
            "POST",
            "/v1/payment_methods/{payment_method}/detach",
            self.client.v1.payment_methods.detach,
            payment_method_id,
            options=request_options(idempotency_key),
        )
        return BillingResult.ok(to_payment_method(plain(pm)), request_id=request_id(pm))

    # -- plans ---------------------------------------------------------------------------

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        """The Price billing ``plan``: the configured one (checked), found, or created."""
        if plan.provider_plan_id is not None:
            price = traced(
                "GET", "/v1/prices/{price}", self.client.v1.prices.retrieve, plan.provider_plan_id
            )
            return _checked_price(plain(price), plan, request=request_id(price))
        lookup_key = lookup_key_for(plan)
        listing = traced(
            "GET",
            "/v1/prices",
            self.client.v1.prices.list,
            params={"lookup_keys": [lookup_key], "limit": 10},
        )
        for price in plain(listing).get("data") or []:
            if isinstance(price, Mapping) and price.get("active") is not False:
                return _checked_price(price, plan, request=request_id(listing))
        product_id = self._ensure_product(plan)
        params: PriceCreateParams = {
            "product": product_id,
            "currency": plan.price.currency.lower(),
            "unit_amount": stripe_units(plan.price),
            "recurring": {"interval": plan.interval.value, "interval_count": plan.interval_count},
            "lookup_key": lookup_key,
            # An archived price may still hold the key: the new one takes it over.
            "transfer_lookup_key": True,
            "nickname": plan.name,
            "metadata": {_PLAN_KEY_TAG: plan.key},
        }
        created = traced("POST", "/v1/prices", self.client.v1.prices.create, params=params)
        logger.info("stripe: created price for plan %r (lookup_key %s)", plan.key, lookup_key)
        return _checked_price(plain(created), plan, request=request_id(created))

    def _ensure_product(self, plan: Plan) -> str:
        """The plan's Product: created with its explicit id, or already there."""
        product_id = product_id_for(plan)
        try:
            traced(
                "POST",
                "/v1/products",
                self.client.v1.products.create,
                params={
                    "id": product_id,
                    "name": plan.name,
                    "metadata": {_PLAN_KEY_TAG: plan.key},
                },
            )
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_already_exists":
                raise
        return product_id


def _checked_price(
    price: Mapping[str, Any], plan: Plan, *, request: str | None = None
) -> BillingResult[ProviderPlan]:
    why = plan_mismatch(price, plan)
    if why is not None:
        return BillingResult.failure(PaymentErrorCode.INVALID_REQUEST, f"stripe: {why}")
    return BillingResult.ok(
        ProviderPlan(
            plan_key=plan.key,
            provider_plan_id=str(price["id"]),
            provider_product_id=object_id(price.get("product")),
        ),
        request_id=request,
    )


def relay_failure(result: BillingResult[Any]) -> BillingResult[Any]:
    """A failure of one value type passed on as another's (same code, message, metadata)."""
    return BillingResult(
        False,
        None,
        result.error_code or PaymentErrorCode.PROVIDER_ERROR,
        result.error_message,
        dict(result.metadata),
    )
