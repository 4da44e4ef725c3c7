"""Recurring billing on PayPal: hosted checkout, catalog products and billing plans,
subscriptions (Subscriptions v1), plan changes and suspension.

:class:`PayPalBilling` is the plugin's half of :class:`~vbwd_plugins.payments.RecurringBilling`;
the contract wraps each operation, so the client's errors become failed results through
:meth:`PayPalPlugin.result_from_exception <vbwd_paypal.PayPalPlugin.result_from_exception>`.

PayPal differs from the contract in four places, each decided here once:

* **The payer approves.** A subscription starts ``PENDING`` with ``approval_url``; a checkout
  session's ``url`` is that link (or an order's). PayPal returns no expiry for either link and
  documents none in its API reference, so ``CheckoutSession.expires_at`` is ``None``.
* **Cancelling ends billing at once**, yet the payer keeps what was paid for: with
  ``at_period_end=True`` (the default) the answer says ``cancel_at_period_end=True`` and
  ``current_period_end`` is the next billing time PayPal reported just before the
  cancellation; with ``False`` the same call is made and the host ends access now.
* **No proration.** A revised plan bills from the next billing time; ``Proration.NONE`` and the
  default are accepted (the result's ``metadata["proration"]`` is ``"none"``),
  ``ALWAYS_INVOICE`` is refused.
* **Plans live in products**, and PayPal revises a subscription only to a plan of its own
  product. So every plan ``ensure_plan`` makes is a billing plan of one catalog product
  (``PayPalConfig.catalog_product_id``): any plan can change to any other of the same
  currency. A plan change finds or creates the new billing plan in the subscription's
  product (the catalog product, or the product of a plan it was created with by id or
  under an earlier ``catalog_product_id``); a plan referenced by ``provider_plan_id`` from
  another product is refused before PayPal is called. The change waits for the payer's
  approval: the result's ``approval_url``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode

from vbwd_plugins import Money, PaymentErrorCode
from vbwd_plugins.payments import (
    BillingResult,
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    Plan,
    Proration,
    ProviderPlan,
    RecurringBilling,
    Subscription,
    SubscriptionRequest,
)

from ._billing_requests import (
    CHECKOUT_REFERENCE,
    catalog_product_body,
    host_custom_id,
    plan_body,
    plan_currency,
    plan_description,
    plan_fingerprint,
    plan_mismatch,
    product_request_id,
    subscription_body,
)
from ._errors import PayPalAPIError
from ._requests import order_body
from ._requests import request_id as new_request_id
from ._results import link, resource_id
from ._subscriptions import (
    RESUME_NOTE,
    cancel_note,
    moment,
    paid_through,
    subscription_of,
)

if TYPE_CHECKING:
    from ._client import PayPalClient
    from ._config import PayPalConfig

__all__ = ["PayPalBilling"]

_PLANS: Final = "/v1/billing/plans"
_SUBSCRIPTIONS: Final = "/v1/billing/subscriptions"
#: How many pages of a product's plans are searched (20 plans a page).
_MAX_PAGES: Final = 25
_PAGE_SIZE: Final = 20
#: Status changes PayPal refuses when the subscription is already there.
_ALREADY: Final = frozenset({"SUBSCRIPTION_STATUS_INVALID"})
_PAUSE_NOTE: Final = "vbwd: paused"


def _path(base: str, resource: str, action: str = "") -> str:
    return f"{base}/{quote(resource, safe='')}" + (f"/{action}" if action else "")


class PayPalBilling(RecurringBilling):
    """Checkout, plans, subscriptions, plan changes and pause for :class:`PayPalPlugin`."""

    if TYPE_CHECKING:

        @property
        def client(self) -> PayPalClient: ...

        @property
        def settings(self) -> PayPalConfig: ...

        #: Catalog products known to exist (``PayPalPlugin`` clears it on initialization).
        _known_products: set[str]

    # -- hosted checkout -------------------------------------------------------------

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[CheckoutSession]:
        """An order (payment) or a subscription (subscription) whose approval link is the url.

        Payment checkouts capture as :meth:`create_payment_intent` orders do
        (``process_payment``, or ``capture_on_approval``).
        """
        request_id = new_request_id(idempotency_key)
        if request.mode is CheckoutMode.SUBSCRIPTION:
            assert request.plan is not None  # CheckoutRequest checked it
            subscription = self._subscribe(
                SubscriptionRequest(
                    plan=request.plan,
                    quantity=request.quantity,
                    trial_days=request.trial_days,
                    subscription_id=request.subscription_id,
                    user_id=request.user_id,
                    return_url=request.success_url,
                    cancel_url=request.cancel_url,
                    metadata=request.metadata,
                ),
                request_id,
            )
            return self._checkout_session(
                subscription.id, subscription.approval_url, request, request_id
            )
        assert request.amount is not None  # CheckoutRequest checked it
        custom = host_custom_id(request.subscription_id, request.user_id)
        metadata: dict[str, Any] = dict(request.metadata)
        metadata.update(return_url=request.success_url, cancel_url=request.cancel_url)
        metadata.setdefault("user_action", "PAY_NOW")
        if request.description is not None:
            metadata["description"] = request.description
        money = Money(request.amount.amount * request.quantity, request.amount.currency)
        body = order_body(
            money,
            self.currency_rules,
            subscription_id="-",
            user_id="-",
            metadata=metadata,
            manual_capture=False,
        )
        unit = body["purchase_units"][0]
        unit["reference_id"] = CHECKOUT_REFERENCE
        del unit["custom_id"]
        if custom is not None:
            unit["custom_id"] = custom
        order = self.client.call("POST", "/v2/checkout/orders", body=body, request_id=request_id)
        url = link(order, "payer-action", "approve")
        created = moment(order.get("create_time")) or datetime.now(UTC)
        expires = created + timedelta(hours=self.settings.order_approval_hours)
        return self._checkout_session(resource_id(order), url, request, request_id, expires)

    def _checkout_session(
        self,
        object_id: str,
        url: str | None,
        request: CheckoutRequest,
        request_id: str,
        expires_at: datetime | None = None,
    ) -> BillingResult[CheckoutSession]:
        if url is None:
            raise PayPalAPIError(
                f"PayPal answered {object_id} without an approval link",
                error_code=PaymentErrorCode.PROVIDER_ERROR,
                status_code=200,
            )
        session = CheckoutSession(
            id=object_id,
            url=url,
            mode=request.mode,
            expires_at=expires_at,
            provider_object_id=object_id,
        )
        return BillingResult.ok(session, paypal_request_id=request_id)

    # -- plans ---------------------------------------------------------------------------

    def ensure_plan(self, plan: Plan) -> BillingResult[ProviderPlan]:
        """The billing plan for ``plan`` in the catalog product (``catalog_product_id``).

        Found again by listing that product's plans and comparing name, key (the plan's
        ``description``), price, interval and trial; created otherwise (the product too, on
        first use). ``plan.provider_plan_id`` names an existing billing plan, of any product,
        which is read and checked against ``plan`` instead.
        """
        return BillingResult.ok(self._provider_plan(plan))

    def _provider_plan(self, plan: Plan, product_id: str | None = None) -> ProviderPlan:
        """``plan`` at PayPal; made in ``product_id`` (default: the catalog product)."""
        rules = self.currency_rules
        if plan.provider_plan_id is not None:
            found = self.client.call("GET", _path(_PLANS, plan.provider_plan_id))
            why = plan_mismatch(found, plan, rules)
            if why is not None:
                raise ValueError(
                    f"PayPal billing plan {plan.provider_plan_id} does not bill as plan "
                    f"{plan.key!r}: {why}"
                )
            product = found.get("product_id")
            return ProviderPlan(
                plan_key=plan.key,
                provider_plan_id=plan.provider_plan_id,
                provider_product_id=product if isinstance(product, str) else None,
            )
        if product_id is None:
            product_id = self._catalog_product()
        existing = self._find_plan(plan, product_id)
        if existing is None:
            existing = self.client.call(
                "POST",
                _PLANS,
                body=plan_body(plan, product_id, rules),
                request_id=plan_fingerprint(plan, product_id, rules),
            )
        return ProviderPlan(
            plan_key=plan.key,
            provider_plan_id=resource_id(existing),
            provider_product_id=product_id,
        )

    def _catalog_product(self) -> str:
        """The configured catalog product, created unless it exists (a duplicate id: found).

        Remembered once known, until the plugin is initialized again.
        """
        product_id = self.settings.catalog_product_id
        if product_id in self._known_products:
            return product_id
        body = catalog_product_body(product_id)
        try:
            self.client.call(
                "POST",
                "/v1/catalogs/products",
                body=body,
                request_id=product_request_id(body),
            )
        except PayPalAPIError as exc:
            if "DUPLICATE_RESOURCE_IDENTIFIER" not in exc.issues:
                raise
        self._known_products.add(product_id)
        return product_id

    def _find_plan(self, plan: Plan, product_id: str) -> Mapping[str, Any] | None:
        description = plan_description(plan.key)
        for page in range(1, _MAX_PAGES + 1):
            query = urlencode(
                {
                    "product_id": product_id,
                    "page_size": _PAGE_SIZE,
                    "page": page,
                    "total_required": "true",
                }
            )
            answer = self.client.call("GET", f"{_PLANS}?{query}")
            plans = answer.get("plans")
            plans = [p for p in plans if isinstance(p, Mapping)] if isinstance(plans, list) else []
            for summary in plans:
                if summary.get("name") != plan.name or summary.get("status") != "ACTIVE":
                    continue
                if summary.get("description", description) != description:
                    continue
                full: Mapping[str, Any] = summary
                if "billing_cycles" not in summary or "description" not in summary:
                    full = self.client.call("GET", _path(_PLANS, resource_id(summary)))
                if full.get("description") != description:
                    continue
                if plan_mismatch(full, plan, self.currency_rules) is None:
                    return full
            pages = answer.get("total_pages")
            if len(plans) < _PAGE_SIZE or (isinstance(pages, int) and page >= pages):
                return None
        return None

    # -- subscriptions ---------------------------------------------------------------------

    def create_subscription(
        self, request: SubscriptionRequest, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """A ``PENDING`` subscription: send the payer to its ``approval_url``.

        The trial is part of PayPal's billing plan: a ``trial_days`` override on a plan
        without one starts the subscription that many days later (``start_time``: nothing is
        charged until then; counted from now, not from the payer's approval); any other
        override uses (or creates) the plan's variant with that trial. ``customer_id`` is
        not used (the payer signs in on PayPal); ``payment_method_id`` is refused (no saved
        methods on PayPal).
        """
        request_id = new_request_id(idempotency_key)
        return BillingResult.ok(self._subscribe(request, request_id), paypal_request_id=request_id)

    def _subscribe(self, request: SubscriptionRequest, request_id: str) -> Subscription:
        if request.payment_method_id is not None:
            raise ValueError(
                "payment_method_id: PayPal subscriptions are approved by the payer; the "
                "paypal plugin has no saved payment methods"
            )
        custom = host_custom_id(request.subscription_id, request.user_id)
        plan, start = request.plan, None
        trial = request.effective_trial_days
        if trial != plan.trial_days and plan.trial_days == 0:
            start = datetime.now(UTC) + timedelta(days=trial)
        elif trial != plan.trial_days:
            if plan.provider_plan_id is not None:
                raise ValueError(
                    f"trial_days={request.trial_days}: the trial is part of PayPal billing plan "
                    f"{plan.provider_plan_id}; reference a plan with that trial instead"
                )
            plan = dataclasses.replace(plan, trial_days=trial)
        provider = self._provider_plan(plan)
        body = subscription_body(
            provider.provider_plan_id,
            quantity=request.quantity,
            custom_id=custom,
            return_url=request.return_url,
            cancel_url=request.cancel_url,
            metadata=request.metadata,
            start_time=start,
        )
        answer = self.client.call("POST", _SUBSCRIPTIONS, body=body, request_id=request_id)
        return subscription_of(answer)

    def get_subscription(self, subscription_id: str) -> BillingResult[Subscription]:
        """PayPal's current view of the subscription (see ``_subscriptions`` for statuses)."""
        return BillingResult.ok(subscription_of(self._read(subscription_id)))

    def _read(self, subscription_id: str) -> dict[str, Any]:
        return self.client.call("GET", _path(_SUBSCRIPTIONS, subscription_id))

    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        at_period_end: bool = True,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Cancel at PayPal (billing stops now); see the module docstring for the period.

        The cancellation's reason records which one the host asked for (and until when the
        payer paid), so ``get_subscription`` and the ``subscription.cancelled`` event say it.
        """
        before = self._read(subscription_id)
        note = cancel_note(at_period_end, paid_through(before))
        after = self._act(subscription_id, "cancel", "CANCELLED", note, idempotency_key, before)
        return BillingResult.ok(subscription_of(after))

    def _act(
        self,
        subscription_id: str,
        action: str,
        target: str,
        reason: str,
        idempotency_key: str | None,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST .../{action}``, then read the subscription; already ``target`` is success."""
        request_id = new_request_id(idempotency_key)
        try:
            self.client.call(
                "POST",
                _path(_SUBSCRIPTIONS, subscription_id, action),
                body={"reason": reason},
                request_id=request_id,
            )
        except PayPalAPIError as exc:
            if not _ALREADY.intersection(exc.issues):
                raise
            state = current if current is not None else self._read(subscription_id)
            if state.get("status") != target:
                raise
        return self._read(subscription_id)

    def change_subscription_plan(
        self,
        subscription_id: str,
        plan: Plan,
        *,
        proration: Proration = Proration.CREATE_PRORATIONS,
        idempotency_key: str | None = None,
    ) -> BillingResult[Subscription]:
        """Revise the subscription to ``plan`` from its next billing time, without proration.

        When PayPal needs the payer to approve the change, the result's ``approval_url`` is
        where to send them; the subscription keeps its plan until they do
        (``subscription.updated`` follows).
        """
        if Proration(proration) is Proration.ALWAYS_INVOICE:
            raise ValueError(
                "proration=always_invoice: PayPal bills a revised plan from the next billing "
                "time and cannot invoice the difference now"
            )
        current = self._read(subscription_id)
        product, currency = self._product_and_currency(current.get("plan_id"))
        if currency is not None and plan.price.currency != currency:
            raise ValueError(
                f"plan {plan.key!r} bills in {plan.price.currency}, subscription "
                f"{subscription_id} in {currency}: PayPal changes a subscription only to a plan "
                "of the same currency"
            )
        provider = self._provider_plan(plan, product)
        if product is not None and provider.provider_product_id not in (None, product):
            raise ValueError(
                f"plan {plan.key!r}: PayPal billing plan {provider.provider_plan_id} belongs to "
                f"product {provider.provider_product_id}, subscription {subscription_id} to "
                f"product {product}; PayPal changes a subscription only to a plan of its own "
                "product (leave provider_plan_id unset, or cancel and subscribe again)"
            )
        request_id = new_request_id(idempotency_key)
        answer = self.client.call(
            "POST",
            _path(_SUBSCRIPTIONS, subscription_id, "revise"),
            body={"plan_id": provider.provider_plan_id},
            request_id=request_id,
        )
        revised = subscription_of(self._read(subscription_id), approval_url=link(answer, "approve"))
        return BillingResult.ok(revised, proration="none", paypal_request_id=request_id)

    def _product_and_currency(self, plan_id: object) -> tuple[str | None, str | None]:
        """The catalog product and currency of billing plan ``plan_id`` (``None``: unknown)."""
        if not isinstance(plan_id, str) or not plan_id:
            return None, None
        found = self.client.call("GET", _path(_PLANS, plan_id))
        product = found.get("product_id")
        return (product if isinstance(product, str) and product else None), plan_currency(found)

    def pause_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Suspend the subscription: PayPal bills nothing until it is activated again."""
        return BillingResult.ok(
            subscription_of(
                self._act(subscription_id, "suspend", "SUSPENDED", _PAUSE_NOTE, idempotency_key)
            )
        )

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str | None = None
    ) -> BillingResult[Subscription]:
        """Activate a suspended subscription (PayPal refuses one its failures suspended)."""
        return BillingResult.ok(
            subscription_of(
                self._act(subscription_id, "activate", "ACTIVE", RESUME_NOTE, idempotency_key)
            )
        )
