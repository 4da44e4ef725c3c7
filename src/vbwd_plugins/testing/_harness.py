"""What a provider supplies to run the conformance suite, and what the suite's tests share.

:class:`PaymentProviderHarness` is the protocol of the provider's
``payment_provider_harness`` fixture; :class:`BillingHarness` lists the optional hooks the
same object adds for the round-trip and recurring-billing sections. ``Context`` is the
harness plus a recording dispatcher and ids, as each test of the suite receives it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import pytest

from vbwd_plugins.payments._events import PaymentEventType
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._provider import PaymentProviderPlugin
from vbwd_plugins.payments._results import (
    Capability,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)
from vbwd_plugins.testing._support import (
    BillingScenario,
    RecordingDispatcher,
    WebhookDelivery,
    WebhookVariant,
)

if TYPE_CHECKING:
    from vbwd_plugins.payments._billing import CheckoutSession, Plan
    from vbwd_plugins.payments._billing_events import DisputeOutcome

__all__ = [
    "BILLING_HOOKS",
    "CHARGE_UNITS",
    "PART_UNITS",
    "BillingHarness",
    "Context",
    "PaymentProviderHarness",
    "amount_if_known",
    "amount_reported",
    "ok",
]


@runtime_checkable
class PaymentProviderHarness(Protocol):
    """What a provider's ``payment_provider_harness`` fixture returns.

    Attributes (plain attributes or properties):

    ``plugin``
        The provider plugin, configured against the fake server (base URL, test keys,
        webhook secret) and initialized. The suite attaches its own recording dispatcher
        with ``plugin._attach_dispatcher(...)``; do not rely on another one.
    ``currency``
        The ISO code the suite charges in (``"USD"`` is a good choice). The suite charges
        ``Money.from_minor_units(1000, currency)`` and refunds/captures 300 minor units.
    ``payment_method``
        A payment method id ``process_payment`` accepts on the fake server and that
        succeeds (``"pm_card_visa"``; providers that ignore it may return any string).
    ``scriptable_errors``
        The :class:`PaymentErrorCode` values :meth:`fail_next` can produce. Each is tested;
        the others are skipped. Include at least ``DECLINED`` and ``PROVIDER_UNAVAILABLE``.
    ``webhook_event_types``
        The standard events :meth:`webhook_delivery` can produce a provider webhook for.
        Must include ``PaymentEventType.COMPLETED`` when the plugin declares ``WEBHOOKS``.

    Methods:

    ``fail_next(operation, code)``
        Make the fake server answer the next call of ``operation`` (a method name such as
        ``"create_payment_intent"`` or ``"process_payment"``) with the error the provider's
        API uses for ``code`` — e.g. HTTP 402 ``card_declined`` for ``DECLINED``, 429 for
        ``RATE_LIMITED``, 500 for ``PROVIDER_UNAVAILABLE``. It must keep failing through
        the SDK's own retries of that one operation (answer every retry with the error),
        and later operations must behave normally again.
    ``idempotency_keys()``
        Every idempotency key the fake server has received so far (header values, in
        order; requests without one are not listed).
    ``webhook_delivery(event_type, variant, *, transaction_id, amount, currency, ...)``
        A provider-format webhook request (:class:`~vbwd_plugins.testing.WebhookDelivery`:
        headers + raw body) whose verification and translation must yield the standard
        event ``event_type`` for that transaction: ``amount`` in ISO minor units (for
        ``payment.refunded`` the amount of *this* refund), ``currency``, and the
        ``subscription_id`` and ``user_id`` carried the way ``create_payment_intent`` sends them
        (metadata, custom id, ...). ``variant`` (:class:`WebhookVariant`) says how to sign:
        ``VALID``; ``TAMPERED_BODY`` (sign, then change the body, e.g. the amount);
        ``WRONG_SECRET``; ``STALE_TIMESTAMP`` and ``FUTURE_TIMESTAMP`` (outside the
        plugin's tolerance). Return ``None`` for a variant the scheme cannot express
        (the test is skipped).
    """

    @property
    def plugin(self) -> PaymentProviderPlugin:
        """The configured provider plugin."""
        ...

    @property
    def currency(self) -> str:
        """The currency the suite charges in."""
        ...

    @property
    def payment_method(self) -> str:
        """A payment method that succeeds on the fake server."""
        ...

    @property
    def scriptable_errors(self) -> frozenset[PaymentErrorCode]:
        """Error codes :meth:`fail_next` can produce."""
        ...

    @property
    def webhook_event_types(self) -> frozenset[PaymentEventType]:
        """Standard events :meth:`webhook_delivery` can produce a webhook for."""
        ...

    def fail_next(self, operation: str, code: PaymentErrorCode) -> None:
        """Make the next call of ``operation`` fail with the provider's error for ``code``."""
        ...

    def idempotency_keys(self) -> Sequence[str]:
        """Idempotency keys the fake server has seen, in order."""
        ...

    def webhook_delivery(
        self,
        event_type: PaymentEventType,
        variant: WebhookVariant,
        *,
        transaction_id: str,
        amount: int,
        currency: str,
        subscription_id: str,
        user_id: str,
    ) -> WebhookDelivery | None:
        """A signed webhook for ``event_type``, or ``None`` if ``variant`` is impossible."""
        ...


class BillingHarness(Protocol):
    """Optional hooks a ``payment_provider_harness`` adds for the round-trip and billing checks.

    None is required by the type: a missing hook (no such attribute) skips the tests that
    need it, with the reason shown by ``pytest -rs``, except where a declared capability
    cannot be checked without it (then the test fails saying which hook to add). A hook
    that returns ``None`` means "my fake server cannot do that": the test is skipped.

    The webhook hooks return deliveries the provider's server *sent*, built from what it
    *stored* when the plugin called it: metadata, ``custom_id``, amounts. Never rebuild a
    delivery from ids you know as a test author: the suite checks that the host's
    ``subscription_id``/``user_id`` make the round trip plugin -> provider -> webhook ->
    standard event, and it catches a plugin that never sends them only if the delivery
    comes from the server's state. Every delivery must be validly signed (as
    :meth:`PaymentProviderHarness.webhook_delivery` signs ``VALID``); the suite verifies
    each with ``receive_webhook`` and translates it with ``translate_webhook``. Returning
    more deliveries than the scenario's (say, every event the server sent about the
    object so far) is fine: the suite looks for the events it expects and checks every
    standard event about the object it finds.

    Attribute:

    ``events_without_host_ids``
        Standard event names (``"dispute.opened"``, ...) for which the provider cannot
        return the host's ids, because its webhook never carries the object that holds
        them. For those the ids must be both ``None`` (``host_ids_returned`` False) or
        right. Say why in a comment; everything else must carry them. Default: empty.

    Payments (round trip, declines):

    ``payment_webhooks(transaction_id)``
        The webhooks the server sent about payment ``transaction_id`` (created by the
        plugin with the suite's host ids): after ``process_payment``, they must translate
        to a ``payment.completed`` for it carrying those ids; after a refund, also a
        ``payment.refunded`` with this refund's amount. Stripe: sign the fake's recorded
        ``payment_intent.*``/``refund.*`` events for it; PayPal: the
        ``PAYMENT.CAPTURE.*`` events of the order's capture (its ``custom_id``).
    ``decline_next_payment(code)``
        Make the server decline the next ``process_payment`` *the way it really
        declines* (``code`` is ``DECLINED`` or ``INSUFFICIENT_FUNDS``) and return the
        payment method to pass to it. Stripe: return ``"pm_card_chargeDeclined"`` (or
        ``..InsufficientFunds``); PayPal: set the fake to answer the capture 201 with
        status ``DECLINED`` and return the usual method. ``None``: cannot express
        ``code``. Unlike :meth:`PaymentProviderHarness.fail_next` (an error answer), this
        catches a plugin that reports a normal answer saying "declined" as a success.

    Plans and payers (what subscriptions need):

    ``provider_plan_id(plan)``
        Only for a provider that declares ``SUBSCRIPTIONS`` but not ``PLANS``: create the
        provider's object for :class:`~vbwd_plugins.payments.Plan` ``plan`` on the
        server and return its id (the suite then subscribes with
        ``plan.provider_plan_id`` set).
    ``attach_payment_method(customer_id)``
        Save a payment method that pays on customer ``customer_id`` (created by the
        plugin's ``create_customer``), as the payer would through the setup flow, and
        return its id: the suite lists it, detaches it, and passes it as
        ``SubscriptionRequest.payment_method_id``. ``None``: the provider takes no saved
        method (its payer approves instead, e.g. PayPal).

    Recurring billing webhooks:

    ``checkout_webhooks(session)``
        The payer completes hosted checkout ``session`` (the plugin's
        :class:`~vbwd_plugins.payments.CheckoutSession`): pays with a method that
        succeeds, approves the order or subscription, or saves the method for ``SETUP``.
        Return the webhooks the server then sent. The suite expects a
        ``checkout.completed`` carrying the request's host ids (with ``amount`` and
        ``currency`` in ``PAYMENT`` mode, ``provider_subscription_id`` in
        ``SUBSCRIPTION`` mode), and the host ids on every ``subscription.*`` and
        ``payment.*`` event among them.
    ``subscription_webhooks(provider_subscription_id, scenario)``
        For :class:`~vbwd_plugins.testing.BillingScenario` ``scenario``: drive the
        server where the scenario says so (``ACTIVATED``: approve as the payer, or pay the
        first invoice; ``RENEWED``/``PAYMENT_FAILED``/``PAST_DUE``/``TRIAL_WILL_END``:
        advance the server's clock, declining the renewal charge for the failures), then
        return the webhooks the server sent. For the other scenarios the suite has just
        called the plugin (cancel, change plan, pause, resume) and the harness only
        returns what that sent, except that for ``PLAN_CHANGED`` it approves the change as
        the payer where the provider asks for consent (a ``change_subscription_plan``
        result still on the old plan, with an ``approval_url``: PayPal's revise). The
        suite calls ``ACTIVATED`` also to get past a ``PENDING`` (approval) subscription
        before cancelling, pausing or changing it.
        With ``SUBSCRIPTIONS`` and ``WEBHOOKS`` declared this hook is required and
        ``ACTIVATED``, ``RENEWED``, ``PAYMENT_FAILED`` and ``CANCELLED_NOW`` must be
        producible; the rest may return ``None``.
    ``dispute_webhooks(transaction_id, outcome)``
        The payer disputes the whole completed payment ``transaction_id``. ``outcome``
        ``None``: return the webhooks of the dispute being opened
        (``dispute.opened``); :class:`~vbwd_plugins.payments.DisputeOutcome` ``WON`` or
        ``LOST``: open it and close it so, returning the webhooks (``dispute.closed``
        with that outcome). Required with ``DISPUTES`` declared.
    """

    events_without_host_ids: frozenset[str]

    def payment_webhooks(self, transaction_id: str) -> Sequence[WebhookDelivery] | None:
        """Signed webhooks the server sent about payment ``transaction_id``."""
        ...

    def decline_next_payment(self, code: PaymentErrorCode) -> str | None:
        """Make the next ``process_payment`` decline with ``code``; the method to pass."""
        ...

    def provider_plan_id(self, plan: Plan) -> str | None:
        """The id of a provider object created for ``plan`` (providers without PLANS)."""
        ...

    def attach_payment_method(self, customer_id: str) -> str | None:
        """Save a paying method on ``customer_id``; its id (``None``: no saved methods)."""
        ...

    def checkout_webhooks(self, session: CheckoutSession) -> Sequence[WebhookDelivery] | None:
        """Complete ``session`` as the payer; the signed webhooks the server sent."""
        ...

    def subscription_webhooks(
        self, provider_subscription_id: str, scenario: BillingScenario
    ) -> Sequence[WebhookDelivery] | None:
        """Play ``scenario`` for the subscription; the signed webhooks the server sent."""
        ...

    def dispute_webhooks(
        self, transaction_id: str, outcome: DisputeOutcome | None
    ) -> Sequence[WebhookDelivery] | None:
        """Dispute the payment (and close it with ``outcome``); the signed webhooks."""
        ...


#: The methods of :class:`BillingHarness`, in the order its docstring explains them.
BILLING_HOOKS: Final = (
    "payment_webhooks",
    "decline_next_payment",
    "provider_plan_id",
    "attach_payment_method",
    "checkout_webhooks",
    "subscription_webhooks",
    "dispute_webhooks",
)

#: What the suite charges, and captures or refunds in part (minor units).
CHARGE_UNITS: Final = 1000
PART_UNITS: Final = 300


@dataclass
class Context:
    """The harness, its plugin with a recording dispatcher, and ids for one test."""

    harness: PaymentProviderHarness
    plugin: PaymentProviderPlugin
    dispatcher: RecordingDispatcher
    subscription_id: uuid.UUID
    user_id: uuid.UUID

    @property
    def charge(self) -> Money:
        return Money.from_minor_units(CHARGE_UNITS, self.harness.currency)

    @property
    def part(self) -> Money:
        return Money.from_minor_units(PART_UNITS, self.harness.currency)

    def require(self, capability: Capability) -> None:
        if capability not in self.plugin.capabilities:
            pytest.skip(f"{self.name} does not declare {capability.value}")

    @property
    def name(self) -> str:
        return self.plugin.metadata.name

    @property
    def host_subscription_id(self) -> str:
        """The host's subscription id, as billing requests and events carry it."""
        return str(self.subscription_id)

    @property
    def host_user_id(self) -> str:
        """The host's user id, as billing requests and events carry it."""
        return str(self.user_id)

    def hook(self, name: str, why: str, *, required: bool = False) -> Callable[..., Any]:
        """The harness's optional hook ``name`` (see :class:`BillingHarness`).

        Missing, the test is skipped (``why``: what goes unchecked) or, when ``required``
        (a declared capability cannot be checked without it), fails saying what to add.
        """
        found = getattr(self.harness, name, None)
        if callable(found):
            return found  # type: ignore[no-any-return]
        message = f"the harness has no {name}() hook (vbwd_plugins.testing.BillingHarness): {why}"
        if required:
            pytest.fail(f"{self.name}: {message}", pytrace=False)
        pytest.skip(message)

    @property
    def events_without_host_ids(self) -> frozenset[str]:
        """Event names the harness says cannot carry the host's ids."""
        return frozenset(getattr(self.harness, "events_without_host_ids", frozenset()))

    def create(self, *, manual: bool = False, key: str | None = None) -> PaymentResult:
        kwargs: dict[str, Any] = {}
        if manual:
            kwargs["manual_capture"] = True
        if key is not None:
            kwargs["idempotency_key"] = key
        result = self.plugin.create_payment_intent(
            self.charge.amount,
            self.charge.currency,
            self.subscription_id,
            self.user_id,
            {"conformance": "yes"},
            **kwargs,
        )
        ok(result, "create_payment_intent")
        assert result.transaction_id, "create_payment_intent returned no transaction_id"
        amount_if_known(result, CHARGE_UNITS, self.charge.currency, "create_payment_intent")
        return result

    def complete(self, *, manual: bool = False) -> PaymentResult:
        created = self.create(manual=manual)
        assert created.transaction_id is not None
        result = self.plugin.process_payment(created.transaction_id, self.harness.payment_method)
        ok(result, "process_payment")
        expected = PaymentStatus.AUTHORIZED if manual else PaymentStatus.COMPLETED
        assert result.status is expected, f"process_payment: {result.status} != {expected}"
        assert result.transaction_id, "process_payment returned no transaction_id"
        return result


def ok(result: PaymentResult, operation: str) -> None:
    """Assert ``result`` is a success without error fields."""
    assert isinstance(result, PaymentResult), f"{operation} returned {result!r}"
    assert result.success, (
        f"{operation} failed: {result.error_code} {result.error_message} {result.metadata}"
    )
    assert result.status is not PaymentStatus.FAILED, f"{operation}: success but FAILED"
    assert result.error_code is None, f"{operation}: success with error_code {result.error_code}"


def amount_if_known(result: PaymentResult, units: int, currency: str, operation: str) -> None:
    """Assert the amount and currency, where the result reports them."""
    if result.amount is not None:
        assert result.amount == units, f"{operation}: amount {result.amount} != {units} (ISO)"
    if result.currency is not None:
        assert result.currency == currency, f"{operation}: currency {result.currency}"


def amount_reported(result: PaymentResult, units: int, currency: str, operation: str) -> None:
    """Assert the result reports exactly ``units`` of ``currency`` (a refund must say them)."""
    assert result.amount is not None and result.currency is not None, (
        f"{operation} succeeded without amount/currency ({result.amount!r}, "
        f"{result.currency!r}): a refund result must report this refund's amount and currency "
        "(ISO 4217 minor units)"
    )
    amount_if_known(result, units, currency, operation)
