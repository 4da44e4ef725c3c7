"""The billing sections of the conformance suite: declaration, checkout, customers, methods, plans.

Each test needs the capability it checks (skipped otherwise, with the reason). Subscriptions
are in ``_conformance_subscriptions``; the events that billing causes in ``_conformance_events``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

import pytest

from vbwd_plugins.errors import UnsupportedOperationError
from vbwd_plugins.payments._billing import (
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    Interval,
)
from vbwd_plugins.payments._billing_contract import BILLING_OPERATIONS, RecurringBilling
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._results import Capability, PaymentErrorCode
from vbwd_plugins.testing._conformance_kit import (
    CANCEL_URL,
    RETURN_URL,
    billing_failed,
    billing_ok,
    make_plan,
    usable_plan,
)
from vbwd_plugins.testing._conformance_payments import exotic_money
from vbwd_plugins.testing._harness import PART_UNITS, Context

__all__ = ["BillingConformance", "checkout_request"]

_URL: Final = re.compile(r"https?://\S+")
_MISSING: Final = frozenset({PaymentErrorCode.NOT_FOUND, PaymentErrorCode.INVALID_REQUEST})


def checkout_request(ctx: Context, mode: CheckoutMode, **values: Any) -> CheckoutRequest:
    """A checkout request in ``mode`` carrying the suite's host ids."""
    defaults: dict[str, Any] = {
        "mode": mode,
        "success_url": RETURN_URL,
        "cancel_url": CANCEL_URL,
        "subscription_id": ctx.host_subscription_id,
        "user_id": ctx.host_user_id,
        "metadata": {"conformance": "yes"},
    }
    if mode is CheckoutMode.PAYMENT:
        defaults.update(amount=ctx.charge, description="Conformance order")
    if mode is CheckoutMode.SUBSCRIPTION:
        defaults["plan"] = usable_plan(ctx, make_plan(ctx))
    if mode is CheckoutMode.SETUP:
        defaults["customer_id"] = _customer(ctx)
    defaults.update(values)
    return CheckoutRequest(**defaults)


def _customer(ctx: Context) -> str:
    ctx.require(Capability.CUSTOMERS)
    created = ctx.plugin.create_customer(
        email=f"conformance+{uuid.uuid4().hex[:8]}@host.example", user_id=ctx.host_user_id
    )
    return billing_ok(created, "create_customer").id


def check_session(session: CheckoutSession, mode: CheckoutMode) -> None:
    """What every created checkout session must say."""
    assert isinstance(session, CheckoutSession), f"create_checkout_session returned {session!r}"
    assert session.id, "a checkout session needs the provider's id"
    assert session.url and _URL.fullmatch(session.url), (
        f"a checkout session needs the http(s) URL to send the payer to, got {session.url!r}"
    )
    assert session.mode is mode, f"session mode {session.mode} != {mode}"
    if session.expires_at is not None:
        assert session.expires_at.utcoffset() is not None, "expires_at must be timezone-aware"


class BillingConformance:
    """Declared billing capabilities are implemented and behave; undeclared ones refuse."""

    # -- declaration ---------------------------------------------------------------

    def test_declared_billing_operations_are_implemented(self, conformance: Context) -> None:
        """Each billing operation of a declared capability overrides the contract's."""
        plugin_type = type(conformance.plugin)
        missing = [
            f"{name} ({capability.value})"
            for name, capability in BILLING_OPERATIONS.items()
            if capability in conformance.plugin.capabilities
            and getattr(plugin_type, name) is getattr(RecurringBilling, name)
        ]
        assert not missing, f"{conformance.name} declares but does not implement: {missing}"

    def test_undeclared_billing_operations_raise_unsupported(self, conformance: Context) -> None:
        """Billing operations of undeclared capabilities raise UnsupportedOperationError."""
        plugin = conformance.plugin
        calls: dict[Capability, Callable[[], object]] = {
            Capability.CHECKOUT: lambda: plugin.create_checkout_session(
                checkout_request(conformance, CheckoutMode.PAYMENT)
            ),
            Capability.CUSTOMERS: lambda: plugin.get_customer("cus_conformance"),
            Capability.SAVED_PAYMENT_METHODS: lambda: plugin.list_payment_methods("cus_conf"),
            Capability.PLANS: lambda: plugin.ensure_plan(make_plan(conformance)),
            Capability.SUBSCRIPTIONS: lambda: plugin.get_subscription("sub_conformance"),
            Capability.PLAN_CHANGES: lambda: plugin.change_subscription_plan(
                "sub_conformance", make_plan(conformance)
            ),
            Capability.PAUSE: lambda: plugin.pause_subscription("sub_conformance"),
        }
        missing = [c for c in calls if c not in plugin.capabilities]
        if not missing:
            pytest.skip("every billing capability is declared")
        for capability in missing:
            with pytest.raises(UnsupportedOperationError) as info:
                calls[capability]()
            assert info.value.plugin_name == conformance.name, capability

    # -- CHECKOUT --------------------------------------------------------------------

    def test_checkout_payment_session(self, conformance: Context) -> None:
        """A payment checkout answers the URL to redirect to, its id and its expiry."""
        conformance.require(Capability.CHECKOUT)
        request = checkout_request(conformance, CheckoutMode.PAYMENT)
        session = billing_ok(
            conformance.plugin.create_checkout_session(request), "create_checkout_session"
        )
        check_session(session, CheckoutMode.PAYMENT)
        assert session.expires_at is not None, (
            "a payment checkout session needs expires_at: when the URL stops working"
        )

    def test_checkout_subscription_session(self, conformance: Context) -> None:
        """With SUBSCRIPTIONS, a subscription checkout answers a session too."""
        conformance.require(Capability.CHECKOUT)
        conformance.require(Capability.SUBSCRIPTIONS)
        request = checkout_request(conformance, CheckoutMode.SUBSCRIPTION)
        session = billing_ok(
            conformance.plugin.create_checkout_session(request), "create_checkout_session"
        )
        check_session(session, CheckoutMode.SUBSCRIPTION)

    def test_checkout_setup_session(self, conformance: Context) -> None:
        """With SAVED_PAYMENT_METHODS, a setup checkout answers a session too."""
        conformance.require(Capability.CHECKOUT)
        conformance.require(Capability.SAVED_PAYMENT_METHODS)
        request = checkout_request(conformance, CheckoutMode.SETUP)
        session = billing_ok(
            conformance.plugin.create_checkout_session(request), "create_checkout_session"
        )
        check_session(session, CheckoutMode.SETUP)

    def test_checkout_idempotency_key(self, conformance: Context) -> None:
        """The same idempotency key twice answers the same session, and reaches the server."""
        conformance.require(Capability.CHECKOUT)
        conformance.require(Capability.IDEMPOTENCY)
        request = checkout_request(conformance, CheckoutMode.PAYMENT)
        key = f"conf-checkout-{uuid.uuid4().hex[:12]}"
        first, second = (
            billing_ok(
                conformance.plugin.create_checkout_session(request, idempotency_key=key),
                "create_checkout_session",
            )
            for _ in range(2)
        )
        assert first.id == second.id, f"one key, two sessions: {first.id} and {second.id}"
        assert key in set(conformance.harness.idempotency_keys()), "the key never reached it"

    @pytest.mark.parametrize("exponent", [0, 3], ids=["zero-decimal", "three-decimal"])
    def test_checkout_in_odd_currencies(self, conformance: Context, exponent: int) -> None:
        """A payment checkout in a zero- or three-decimal currency is created exactly."""
        conformance.require(Capability.CHECKOUT)
        charge, _ = exotic_money(conformance, exponent)
        request = checkout_request(conformance, CheckoutMode.PAYMENT, amount=charge)
        session = billing_ok(
            conformance.plugin.create_checkout_session(request),
            f"create_checkout_session({charge})",
        )
        check_session(session, CheckoutMode.PAYMENT)

    # -- CUSTOMERS -------------------------------------------------------------------

    def test_customer_round_trip(self, conformance: Context) -> None:
        """A created customer is found again, with its email and the host's user id."""
        conformance.require(Capability.CUSTOMERS)
        email = f"conformance+{uuid.uuid4().hex[:8]}@host.example"
        created = billing_ok(
            conformance.plugin.create_customer(
                email=email, name="Conformance Payer", user_id=conformance.host_user_id
            ),
            "create_customer",
        )
        assert created.id, "create_customer returned no id"
        found = billing_ok(conformance.plugin.get_customer(created.id), "get_customer")
        assert found.id == created.id, f"get_customer answered {found.id} for {created.id}"
        assert found.email == email, f"get_customer: email {found.email!r} != {email!r}"
        assert found.user_id == conformance.host_user_id, (
            f"get_customer: user_id {found.user_id!r} is not the host's "
            f"{conformance.host_user_id!r} given to create_customer: carry it in the "
            "provider's metadata and read it back"
        )

    def test_unknown_customer_is_not_found(self, conformance: Context) -> None:
        """get_customer of an unknown id is a NOT_FOUND result, not an exception."""
        conformance.require(Capability.CUSTOMERS)
        result = conformance.plugin.get_customer(f"cus_unknown_{uuid.uuid4().hex[:10]}")
        billing_failed(result, "get_customer(unknown)", frozenset({PaymentErrorCode.NOT_FOUND}))

    def test_customer_idempotency_key(self, conformance: Context) -> None:
        """create_customer twice with one key creates one customer."""
        conformance.require(Capability.CUSTOMERS)
        conformance.require(Capability.IDEMPOTENCY)
        key = f"conf-customer-{uuid.uuid4().hex[:12]}"
        ids = {
            billing_ok(
                conformance.plugin.create_customer(
                    email="conformance@host.example", idempotency_key=key
                ),
                "create_customer",
            ).id
            for _ in range(2)
        }
        assert len(ids) == 1, f"one idempotency key created {sorted(ids)}"

    # -- SAVED_PAYMENT_METHODS -----------------------------------------------------------

    def test_payment_method_setup(self, conformance: Context) -> None:
        """Saving a method starts with a hosted URL, or a client secret without URLs."""
        conformance.require(Capability.SAVED_PAYMENT_METHODS)
        customer = _customer(conformance)
        hosted = billing_ok(
            conformance.plugin.start_payment_method_setup(
                customer, success_url=RETURN_URL, cancel_url=CANCEL_URL
            ),
            "start_payment_method_setup(urls)",
        )
        assert hosted.id and hosted.customer_id == customer, hosted
        assert hosted.url or hosted.client_secret, "a setup needs a url or a client_secret"
        inline = billing_ok(
            conformance.plugin.start_payment_method_setup(customer),
            "start_payment_method_setup()",
        )
        assert inline.url or inline.client_secret, "a setup needs a url or a client_secret"

    def test_saved_methods_are_listed_and_detached(self, conformance: Context) -> None:
        """A saved method is listed, detaches, and is no longer listed."""
        conformance.require(Capability.SAVED_PAYMENT_METHODS)
        customer = _customer(conformance)
        before = billing_ok(conformance.plugin.list_payment_methods(customer), "list")
        assert isinstance(before, tuple), f"list_payment_methods returned {before!r}"
        attach = conformance.hook(
            "attach_payment_method",
            "saving a method needs the payer's side",
            required=True,
        )
        method = attach(customer)
        if method is None:
            pytest.skip("the provider saves no payment methods the harness can attach")
        listed = billing_ok(conformance.plugin.list_payment_methods(customer), "list")
        assert method in [m.id for m in listed], f"{method} not in {[m.id for m in listed]}"
        detached = billing_ok(
            conformance.plugin.detach_payment_method(method), "detach_payment_method"
        )
        assert detached.id == method, f"detach_payment_method answered {detached.id}"
        after = billing_ok(conformance.plugin.list_payment_methods(customer), "list")
        assert method not in [m.id for m in after], f"{method} still listed after detaching"

    def test_detaching_an_unknown_method_fails(self, conformance: Context) -> None:
        """detach_payment_method of an unknown id is a failed result, not an exception."""
        conformance.require(Capability.SAVED_PAYMENT_METHODS)
        result = conformance.plugin.detach_payment_method(f"pm_unknown_{uuid.uuid4().hex[:8]}")
        billing_failed(result, "detach_payment_method(unknown)", _MISSING)

    # -- PLANS ---------------------------------------------------------------------------

    def test_ensure_plan_is_idempotent(self, conformance: Context) -> None:
        """ensure_plan twice finds what the first call created: the same provider ids."""
        conformance.require(Capability.PLANS)
        plan = make_plan(conformance)
        first = billing_ok(conformance.plugin.ensure_plan(plan), "ensure_plan")
        second = billing_ok(conformance.plugin.ensure_plan(plan), "ensure_plan (again)")
        assert first.plan_key == plan.key, f"plan_key {first.plan_key!r} != {plan.key!r}"
        assert first.provider_plan_id, "ensure_plan returned no provider_plan_id"
        assert (second.provider_plan_id, second.provider_product_id) == (
            first.provider_plan_id,
            first.provider_product_id,
        ), f"ensure_plan created again: {first} then {second}"

    def test_a_new_price_is_a_new_plan(self, conformance: Context) -> None:
        """The same key at another price or interval is not the old provider plan."""
        conformance.require(Capability.PLANS)
        plan = make_plan(conformance)
        first = billing_ok(conformance.plugin.ensure_plan(plan), "ensure_plan")
        units = plan.price.to_minor_units() + PART_UNITS
        dearer = replace(plan, price=Money.from_minor_units(units, plan.price.currency))
        yearly = replace(plan, interval=Interval.YEAR)
        for changed, what in ((dearer, "price"), (yearly, "interval")):
            other = billing_ok(conformance.plugin.ensure_plan(changed), f"ensure_plan({what})")
            assert other.provider_plan_id != first.provider_plan_id, (
                f"ensure_plan reused {first.provider_plan_id} for a plan with another {what}"
            )

    def test_plan_referenced_by_provider_id(self, conformance: Context) -> None:
        """A plan with provider_plan_id is looked up; an unknown id fails as a result."""
        conformance.require(Capability.PLANS)
        plan = make_plan(conformance)
        first = billing_ok(conformance.plugin.ensure_plan(plan), "ensure_plan")
        referenced = replace(plan, provider_plan_id=first.provider_plan_id)
        found = billing_ok(conformance.plugin.ensure_plan(referenced), "ensure_plan(reference)")
        assert found.provider_plan_id == first.provider_plan_id, found
        unknown = replace(plan, provider_plan_id=f"plan_unknown_{uuid.uuid4().hex[:8]}")
        billing_failed(conformance.plugin.ensure_plan(unknown), "ensure_plan(unknown)", _MISSING)

    @pytest.mark.parametrize("exponent", [0, 3], ids=["zero-decimal", "three-decimal"])
    def test_plans_in_odd_currencies(self, conformance: Context, exponent: int) -> None:
        """Plans priced in zero- and three-decimal currencies are created exactly, once."""
        conformance.require(Capability.PLANS)
        charge, _ = exotic_money(conformance, exponent)
        plan = make_plan(conformance, units=charge.to_minor_units(), currency=charge.currency)
        first = billing_ok(conformance.plugin.ensure_plan(plan), f"ensure_plan({charge})")
        again = billing_ok(conformance.plugin.ensure_plan(plan), f"ensure_plan({charge})")
        assert again.provider_plan_id == first.provider_plan_id, (first, again)
