"""Recurring billing, provider-neutral: plans, checkout, customers, saved methods, subscriptions.

What a host asks for (:class:`Plan`, :class:`CheckoutRequest`, :class:`SubscriptionRequest`) is
checked when it is built, so a malformed request raises :class:`BillingRequestError` (or
:class:`MoneyError`) naming the field before any provider is called. What a provider answers is
a :class:`BillingResult`: a value, or a standard :class:`PaymentErrorCode` and a message, never a
raised SDK exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Generic, TypeVar

from vbwd_plugins.errors import BillingFailedError, BillingRequestError, PaymentResultError
from vbwd_plugins.events._serialization import register_event_enum
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._results import PaymentErrorCode, PaymentResult

__all__ = [
    "BillingResult",
    "CheckoutMode",
    "CheckoutRequest",
    "CheckoutSession",
    "Customer",
    "Interval",
    "PaymentMethodSetup",
    "Plan",
    "ProviderPlan",
    "Proration",
    "SavedPaymentMethod",
    "Subscription",
    "SubscriptionRequest",
    "SubscriptionStatus",
]

T = TypeVar("T")

#: A host's plan key: what it calls the plan in its own code and tables ("pro-monthly").
_PLAN_KEY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Upper bound of a trial, a quantity and an interval count: beyond any provider's limits.
_MAX_TRIAL_DAYS: Final = 730
_MAX_QUANTITY: Final = 10_000
_MAX_INTERVAL_COUNT: Final = 365


class Interval(StrEnum):
    """How often a plan bills (with ``Plan.interval_count``: every 3 months)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class CheckoutMode(StrEnum):
    """What a hosted checkout session is for."""

    #: A one-off payment of ``CheckoutRequest.amount``.
    PAYMENT = "payment"
    #: A subscription to ``CheckoutRequest.plan``.
    SUBSCRIPTION = "subscription"
    #: Saving a payment method for later, without charging.
    SETUP = "setup"


class SubscriptionStatus(StrEnum):
    """Where a subscription stands, the same for every provider."""

    #: Created, waiting for the payer to approve it (PayPal) or for its first payment (Stripe).
    PENDING = "pending"
    #: In its free trial.
    TRIALING = "trialing"
    #: Paid up.
    ACTIVE = "active"
    #: A renewal failed; the provider is still retrying.
    PAST_DUE = "past_due"
    #: Collection paused (Stripe ``pause_collection``, PayPal suspended).
    PAUSED = "paused"
    #: Retries exhausted without payment (Stripe ``unpaid``); access should end.
    UNPAID = "unpaid"
    #: Cancelled (now, or its period ended after a cancellation at period end).
    CANCELLED = "cancelled"
    #: Ended by itself (all cycles billed, or never completed).
    EXPIRED = "expired"


class Proration(StrEnum):
    """How a plan change is charged, where the provider has a choice (Stripe's names)."""

    #: Credit the unused time and charge the new plan's, on the next invoice.
    CREATE_PRORATIONS = "create_prorations"
    #: No proration: the new price applies from the next period.
    NONE = "none"
    #: Prorate and invoice the difference now.
    ALWAYS_INVOICE = "always_invoice"


for _enum in (Interval, CheckoutMode, SubscriptionStatus, Proration):
    register_event_enum(_enum, name=f"vbwd_plugins.payments:{_enum.__name__}")


def _bad(field_name: str, value: object, why: str) -> BillingRequestError:
    return BillingRequestError(f"{field_name}={value!r}: {why}", field=field_name)


def _check_int(field_name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(field_name, value, f"must be an int from {low} to {high}")


def _check_optional_text(field_name: str, value: object, *, limit: int = 500) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        raise _bad(field_name, value, f"must be a non-empty string of at most {limit} characters")


def _check_url(field_name: str, value: object) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s]{1,2000}", value):
        raise _bad(field_name, value, "must be an absolute http(s) URL")


def _check_metadata(field_name: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _bad(field_name, value, "must map strings to strings")
    return dict(value)


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A provider-neutral price for a subscription: ``price`` every ``interval_count`` ``interval``.

    ``key`` is the host's stable name for the plan; providers derive their own objects' ids or
    lookup keys from it (and from the price), so :meth:`ensure_plan
    <vbwd_plugins.PaymentProviderPlugin.ensure_plan>` creates them once. Set
    ``provider_plan_id`` to use an object created outside (a Stripe price, a PayPal plan).
    """

    key: str
    name: str
    price: Money
    interval: Interval = Interval.MONTH
    interval_count: int = 1
    trial_days: int = 0
    provider_plan_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _PLAN_KEY.fullmatch(self.key):
            raise _bad("key", self.key, "must be 1-64 characters of A-Z a-z 0-9 _ . - ")
        _check_optional_text("name", self.name, limit=127)
        if not isinstance(self.price, Money):
            raise _bad("price", self.price, "must be Money")
        self.price.require_positive("plan price")
        try:
            object.__setattr__(self, "interval", Interval(self.interval))
        except ValueError:
            raise _bad("interval", self.interval, "must be day, week, month or year") from None
        _check_int("interval_count", self.interval_count, 1, _MAX_INTERVAL_COUNT)
        _check_int("trial_days", self.trial_days, 0, _MAX_TRIAL_DAYS)
        _check_optional_text("provider_plan_id", self.provider_plan_id, limit=255)


@dataclass(frozen=True, kw_only=True)
class ProviderPlan:
    """Where a :class:`Plan` lives at a provider: what subscriptions and checkouts refer to."""

    plan_key: str
    #: What a subscription is created with (Stripe: a price id; PayPal: a billing plan id).
    provider_plan_id: str
    #: The product the plan belongs to, when the provider has one.
    provider_product_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckoutRequest:
    """A hosted checkout: the payer is sent to ``CheckoutSession.url`` and comes back.

    ``subscription_id`` and ``user_id`` are the *host's* ids; providers carry them through
    (metadata, ``custom_id``) so the webhooks that follow name them.
    """

    mode: CheckoutMode
    success_url: str
    cancel_url: str
    plan: Plan | None = None
    amount: Money | None = None
    quantity: int = 1
    customer_id: str | None = None
    subscription_id: str | None = None
    user_id: str | None = None
    #: Overrides ``Plan.trial_days`` (``0``: no trial this time).
    trial_days: int | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", CheckoutMode(self.mode))
        except ValueError:
            raise _bad("mode", self.mode, "must be payment, subscription or setup") from None
        _check_url("success_url", self.success_url)
        _check_url("cancel_url", self.cancel_url)
        _check_int("quantity", self.quantity, 1, _MAX_QUANTITY)
        if self.trial_days is not None:
            _check_int("trial_days", self.trial_days, 0, _MAX_TRIAL_DAYS)
        for name in ("customer_id", "subscription_id", "user_id"):
            _check_optional_text(name, getattr(self, name), limit=64)
        _check_optional_text("description", self.description)
        object.__setattr__(self, "metadata", _check_metadata("metadata", self.metadata))
        if self.mode is CheckoutMode.SUBSCRIPTION and not isinstance(self.plan, Plan):
            raise _bad("plan", self.plan, "a subscription checkout needs a Plan")
        if self.mode is CheckoutMode.PAYMENT:
            if not isinstance(self.amount, Money):
                raise _bad("amount", self.amount, "a payment checkout needs a Money amount")
            self.amount.require_positive("checkout amount")
        if self.mode is CheckoutMode.SETUP and self.customer_id is None:
            raise _bad("customer_id", None, "a setup checkout needs the customer to save for")

    @property
    def effective_trial_days(self) -> int:
        """The trial this checkout starts: the override, else the plan's, else none."""
        if self.trial_days is not None:
            return self.trial_days
        return self.plan.trial_days if self.plan is not None else 0


@dataclass(frozen=True, kw_only=True)
class CheckoutSession:
    """A created hosted checkout: redirect the payer to ``url`` before ``expires_at``."""

    id: str
    url: str
    mode: CheckoutMode
    expires_at: datetime | None = None
    #: The provider object it created when known now (PayPal: the order or subscription id).
    provider_object_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Customer:
    """A payer at the provider, to save methods for and subscribe."""

    id: str
    email: str | None = None
    name: str | None = None
    user_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PaymentMethodSetup:
    """Saving a payment method has started: confirm it client-side or send the payer to ``url``.

    ``client_secret`` is handed to the provider's front-end library, never logged.
    """

    id: str
    customer_id: str
    url: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class SavedPaymentMethod:
    """A payment method saved on a customer (what a host shows as "Visa •••• 4242")."""

    id: str
    type: str
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True, kw_only=True)
class SubscriptionRequest:
    """Create a subscription to ``plan`` (``subscription_id``/``user_id``: the host's ids).

    Providers that need the payer's approval (PayPal) answer a ``PENDING`` subscription with
    :attr:`Subscription.approval_url`; ``return_url`` and ``cancel_url`` are where it sends
    the payer back. Providers that charge a saved method (Stripe) need ``customer_id``.
    """

    plan: Plan
    customer_id: str | None = None
    quantity: int = 1
    #: Overrides ``Plan.trial_days`` (``0``: no trial this time).
    trial_days: int | None = None
    subscription_id: str | None = None
    user_id: str | None = None
    payment_method_id: str | None = None
    return_url: str | None = None
    cancel_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.plan, Plan):
            raise _bad("plan", self.plan, "must be a Plan")
        _check_int("quantity", self.quantity, 1, _MAX_QUANTITY)
        if self.trial_days is not None:
            _check_int("trial_days", self.trial_days, 0, _MAX_TRIAL_DAYS)
        for name in ("customer_id", "subscription_id", "user_id", "payment_method_id"):
            _check_optional_text(name, getattr(self, name), limit=64)
        for name in ("return_url", "cancel_url"):
            if getattr(self, name) is not None:
                _check_url(name, getattr(self, name))
        object.__setattr__(self, "metadata", _check_metadata("metadata", self.metadata))

    @property
    def effective_trial_days(self) -> int:
        """The trial this subscription starts with: the override, else the plan's."""
        return self.plan.trial_days if self.trial_days is None else self.trial_days


@dataclass(frozen=True, kw_only=True)
class Subscription:
    """The provider's view of a subscription, in provider-neutral terms.

    ``subscription_id``/``user_id`` are the host's ids as the provider returned them; ``None``
    means the provider did not return them (look the subscription up by ``id``).
    """

    id: str
    status: SubscriptionStatus
    provider_plan_id: str | None = None
    customer_id: str | None = None
    quantity: int = 1
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    trial_end: datetime | None = None
    cancel_at_period_end: bool = False
    #: Where the payer approves it, while ``PENDING`` (PayPal).
    approval_url: str | None = None
    subscription_id: str | None = None
    user_id: str | None = None
    #: The provider's own status word (``"past_due"``, ``"SUSPENDED"``), for logs.
    provider_status: str | None = None


@dataclass(frozen=True)
class BillingResult(Generic[T]):
    """The outcome of one billing call: ``value`` on success, else a standard error code.

    Like :class:`PaymentResult`, a provider's refusal or failure is a result, not an
    exception: branch on ``success`` (or call :meth:`unwrap` where a failure is a bug).
    ``metadata`` carries request ids for support tickets.
    """

    success: bool
    value: T | None = None
    error_code: PaymentErrorCode | None = None
    error_message: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.success and (self.error_code is not None or self.value is None):
            raise PaymentResultError(
                "BillingResult: a successful result has a value and no error_code",
                field="success",
            )
        if not self.success and self.error_code is None:
            raise PaymentResultError(
                "BillingResult: a failed result needs an error_code", field="error_code"
            )

    @classmethod
    def ok(cls, value: T, **metadata: Any) -> BillingResult[T]:
        """A successful result holding ``value``."""
        return cls(True, value, metadata=metadata)

    @classmethod
    def failure(
        cls, error_code: PaymentErrorCode, error_message: str, **metadata: Any
    ) -> BillingResult[T]:
        """A failed result with a standard code and a message."""
        return cls(False, None, PaymentErrorCode(error_code), error_message, metadata)

    @classmethod
    def from_payment_result(cls, result: PaymentResult) -> BillingResult[T]:
        """The failure a provider's error mapping produced, as billing's.

        (:meth:`~vbwd_plugins.PaymentProviderPlugin.result_from_exception` answers a
        ``PaymentResult``; billing operations answer this.)
        """
        return cls(
            False,
            None,
            result.error_code or PaymentErrorCode.PROVIDER_ERROR,
            result.error_message,
            dict(result.metadata),
        )

    def unwrap(self) -> T:
        """The value; a failure raises :class:`BillingFailedError` with the code and message."""
        if not self.success or self.value is None:
            code = None if self.error_code is None else self.error_code.value
            raise BillingFailedError(
                f"billing call failed ({code}): {self.error_message}", error_code=self.error_code
            )
        return self.value
