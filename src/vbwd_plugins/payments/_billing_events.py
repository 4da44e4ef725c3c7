"""Standard recurring-billing events: subscriptions, hosted checkout and disputes.

Like the payment events (:mod:`vbwd_plugins.payments._events`), each has a typed, frozen payload
class; ``payload.to_event()`` builds the :class:`~vbwd_plugins.Event` a provider emits and
``BillingEventData.from_event(event)`` turns a received one back, also after a JSON round trip.
Amounts are ISO 4217 minor units. ``subscription_id`` and ``user_id`` are the **host's** ids as
the provider returned them; ``host_ids_returned`` says plainly whether it did (when not, look
the subscription up by ``provider_subscription_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, Self, final

from vbwd_plugins.errors import WebhookPayloadError
from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.events._serialization import register_event_enum
from vbwd_plugins.payments._billing import CheckoutMode, SubscriptionStatus
from vbwd_plugins.payments._events import (
    _bad,
    _check_aware,
    _check_minor_units,
    _check_text,
    _checked_metadata,
    _currency,
    _optional_str,
    _payload_dict,
    _payload_from_dict,
)
from vbwd_plugins.payments._money import Money
from vbwd_plugins.payments._results import PaymentErrorCode

__all__ = [
    "BillingEventData",
    "BillingEventType",
    "CheckoutCompleted",
    "DisputeClosed",
    "DisputeEventData",
    "DisputeOpened",
    "DisputeOutcome",
    "SubscriptionActivated",
    "SubscriptionCancelled",
    "SubscriptionCreated",
    "SubscriptionEventData",
    "SubscriptionPastDue",
    "SubscriptionPaused",
    "SubscriptionPaymentFailed",
    "SubscriptionRenewed",
    "SubscriptionResumed",
    "SubscriptionTrialWillEnd",
    "SubscriptionUpdated",
]


class BillingEventType(StrEnum):
    """The names of the standard recurring-billing events."""

    SUBSCRIPTION_CREATED = "subscription.created"
    #: Paid up and usable: after checkout or approval, or at the end of a trial's first charge.
    SUBSCRIPTION_ACTIVATED = "subscription.activated"
    #: A period was paid: extend access to ``period_end``.
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    #: A charge failed; the provider may retry (``next_retry_at``).
    SUBSCRIPTION_PAYMENT_FAILED = "subscription.payment_failed"
    #: The subscription is behind on payments.
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    #: Plan (or quantity) changed.
    SUBSCRIPTION_UPDATED = "subscription.updated"
    #: The trial ends soon (Stripe: three days before).
    SUBSCRIPTION_TRIAL_WILL_END = "subscription.trial_will_end"
    SUBSCRIPTION_PAUSED = "subscription.paused"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    #: Cancelled: ``at_period_end`` says whether access lasts until ``ends_at``.
    SUBSCRIPTION_CANCELLED = "subscription.cancelled"
    CHECKOUT_COMPLETED = "checkout.completed"
    DISPUTE_OPENED = "dispute.opened"
    #: ``outcome`` says who won.
    DISPUTE_CLOSED = "dispute.closed"


class DisputeOutcome(StrEnum):
    """How a dispute ended, for the merchant."""

    WON = "won"
    LOST = "lost"
    #: Withdrawn, accepted or closed without a decision the provider names.
    OTHER = "other"


for _enum in (BillingEventType, DisputeOutcome):
    register_event_enum(_enum, name=f"vbwd_plugins.payments:{_enum.__name__}")

#: Fields each event class checks by kind (a subclass adds to them).
_TEXT: Final = ("provider", "provider_event_type")
_OPTIONAL_TEXT: Final = ("provider_event_id", "subscription_id", "user_id")


@dataclass(frozen=True, kw_only=True)
class BillingEventData:
    """Fields every standard billing event carries (see the module docstring)."""

    event_type: ClassVar[BillingEventType]
    _registry: ClassVar[dict[str, type[BillingEventData]]] = {}
    _required_text: ClassVar[tuple[str, ...]] = ()
    _optional_text: ClassVar[tuple[str, ...]] = ()
    _moments: ClassVar[tuple[str, ...]] = ()

    provider: str
    provider_event_type: str
    occurred_at: datetime
    provider_event_id: str | None = None
    subscription_id: str | None = None
    user_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type is not None:
            BillingEventData._registry[str(event_type)] = cls

    def __post_init__(self) -> None:
        if "event_type" not in type(self).__dict__:
            raise TypeError(f"{type(self).__name__} is abstract: use SubscriptionRenewed, ...")
        for name in (*_TEXT, *self._required_text):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise _bad(name, value, "must be a non-empty string")
            _check_text(name, value)
        for name in (*_OPTIONAL_TEXT, *self._optional_text):
            _optional_str(name, getattr(self, name))
        _check_aware("occurred_at", self.occurred_at)
        for name in self._moments:
            if (moment := getattr(self, name)) is not None:
                _check_aware(name, moment)
        object.__setattr__(self, "metadata", _checked_metadata(self.metadata))
        amount = getattr(self, "amount", None)
        currency = getattr(self, "currency", None)
        if amount is not None or currency is not None:
            code = _currency(currency)
            _check_minor_units(amount, code)
            object.__setattr__(self, "currency", code)

    @property
    def host_ids_returned(self) -> bool:
        """Whether the provider returned the host's ``subscription_id`` or ``user_id``."""
        return self.subscription_id is not None or self.user_id is not None

    @property
    def money(self) -> Money | None:
        """``amount`` and ``currency`` as :class:`~vbwd_plugins.Money`, when the event has one."""
        amount = getattr(self, "amount", None)
        currency = getattr(self, "currency", None)
        if amount is None or currency is None:
            return None
        return Money.from_minor_units(amount, currency)

    def to_dict(self) -> dict[str, Any]:
        """The event data: JSON-friendly values, datetimes as they are."""
        data = _payload_dict(self)
        data["host_ids_returned"] = self.host_ids_returned
        return data

    def to_event(self) -> Event:
        """The :class:`~vbwd_plugins.Event` to emit."""
        return Event(name=self.event_type.value, data=self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a payload from :meth:`to_dict` output (datetimes may be ISO text)."""
        return _payload_from_dict(cls, data, ("occurred_at", *cls._moments), "Billing")

    @staticmethod
    def from_event(event: Event) -> BillingEventData:
        """The typed payload of a standard billing ``event`` (by its name)."""
        cls = BillingEventData._registry.get(event.name)
        if cls is None:
            raise WebhookPayloadError(f"{event.name!r} is not a standard billing event")
        return cls.from_dict(event.data)


def _enum_field(payload: BillingEventData, name: str, enum: type[StrEnum]) -> None:
    value = getattr(payload, name)
    if value is None:
        return
    try:
        object.__setattr__(payload, name, enum(value))
    except ValueError:
        raise _bad(name, value, f"is not a {enum.__name__}") from None


@dataclass(frozen=True, kw_only=True)
class SubscriptionEventData(BillingEventData):
    """A ``subscription.*`` event: ``provider_subscription_id`` is the provider's id."""

    _required_text: ClassVar[tuple[str, ...]] = ("provider_subscription_id",)
    _optional_text: ClassVar[tuple[str, ...]] = ("provider_plan_id", "customer_id")
    _moments: ClassVar[tuple[str, ...]] = ("current_period_end",)

    provider_subscription_id: str
    status: SubscriptionStatus | None = None
    provider_plan_id: str | None = None
    customer_id: str | None = None
    #: The end of the paid (or trial) period, when the provider said.
    current_period_end: datetime | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _enum_field(self, "status", SubscriptionStatus)


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionCreated(SubscriptionEventData):
    """``subscription.created``: the provider created it (not necessarily paid yet)."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_CREATED


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionActivated(SubscriptionEventData):
    """``subscription.activated``: usable now (trialing or paid)."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_ACTIVATED


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionRenewed(SubscriptionEventData):
    """``subscription.renewed``: ``amount`` paid for ``period_start`` to ``period_end``."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_RENEWED
    _optional_text: ClassVar[tuple[str, ...]] = ("provider_plan_id", "customer_id", "invoice_id")
    _moments: ClassVar[tuple[str, ...]] = ("current_period_end", "period_start", "period_end")

    amount: int
    currency: str
    period_start: datetime | None = None
    period_end: datetime | None = None
    #: The invoice (Stripe) or sale (PayPal) that paid it. ``refund_payment`` and
    #: ``get_payment`` take it; ``get_payment(invoice_id).transaction_id`` is the payment id
    #: that ``dispute.*`` events name (a Stripe invoice's webhook does not carry it).
    invoice_id: str | None = None


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionPaymentFailed(SubscriptionEventData):
    """``subscription.payment_failed``: ``attempt`` and ``next_retry_at`` when known."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_PAYMENT_FAILED
    _optional_text: ClassVar[tuple[str, ...]] = (
        "provider_plan_id",
        "customer_id",
        "invoice_id",
        "error_message",
    )
    _moments: ClassVar[tuple[str, ...]] = ("current_period_end", "next_retry_at")

    amount: int | None = None
    currency: str | None = None
    attempt: int | None = None
    #: ``None``: the provider will not retry, or did not say when.
    next_retry_at: datetime | None = None
    invoice_id: str | None = None
    error_code: PaymentErrorCode | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        attempt = self.attempt
        if attempt is not None and (
            isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1
        ):
            raise _bad("attempt", attempt, "must be an int >= 1 or None")
        _enum_field(self, "error_code", PaymentErrorCode)


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionPastDue(SubscriptionEventData):
    """``subscription.past_due``: behind on payments; the provider is retrying."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_PAST_DUE


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionUpdated(SubscriptionEventData):
    """``subscription.updated``: the plan changed (``previous_plan_id`` when known)."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_UPDATED
    _optional_text: ClassVar[tuple[str, ...]] = (
        "provider_plan_id",
        "customer_id",
        "previous_plan_id",
    )

    previous_plan_id: str | None = None


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionTrialWillEnd(SubscriptionEventData):
    """``subscription.trial_will_end``: remind the payer before ``trial_end``."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_TRIAL_WILL_END
    _moments: ClassVar[tuple[str, ...]] = ("current_period_end", "trial_end")

    trial_end: datetime | None = None


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionPaused(SubscriptionEventData):
    """``subscription.paused``: collection paused."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_PAUSED


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionResumed(SubscriptionEventData):
    """``subscription.resumed``: collection resumed."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_RESUMED


@final
@dataclass(frozen=True, kw_only=True)
class SubscriptionCancelled(SubscriptionEventData):
    """``subscription.cancelled``: ``at_period_end`` True: access lasts until ``ends_at``."""

    event_type: ClassVar[BillingEventType] = BillingEventType.SUBSCRIPTION_CANCELLED
    _moments: ClassVar[tuple[str, ...]] = ("current_period_end", "ends_at")

    at_period_end: bool = False
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.at_period_end, bool):
            raise _bad("at_period_end", self.at_period_end, "must be True or False")


@final
@dataclass(frozen=True, kw_only=True)
class CheckoutCompleted(BillingEventData):
    """``checkout.completed``: the payer finished a hosted checkout.

    ``provider_subscription_id`` for a subscription checkout, ``transaction_id`` for a paid
    one; ``amount``/``currency`` when money moved.
    """

    event_type: ClassVar[BillingEventType] = BillingEventType.CHECKOUT_COMPLETED
    _required_text: ClassVar[tuple[str, ...]] = ("checkout_session_id",)
    _optional_text: ClassVar[tuple[str, ...]] = (
        "provider_subscription_id",
        "customer_id",
        "transaction_id",
    )

    checkout_session_id: str
    mode: CheckoutMode
    provider_subscription_id: str | None = None
    customer_id: str | None = None
    transaction_id: str | None = None
    amount: int | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _enum_field(self, "mode", CheckoutMode)


@dataclass(frozen=True, kw_only=True)
class DisputeEventData(BillingEventData):
    """A ``dispute.*`` event: ``transaction_id`` is the disputed payment (or sale)."""

    _required_text: ClassVar[tuple[str, ...]] = ("dispute_id", "transaction_id")
    _optional_text: ClassVar[tuple[str, ...]] = ("reason",)

    dispute_id: str
    transaction_id: str
    amount: int
    currency: str
    reason: str | None = None


@final
@dataclass(frozen=True, kw_only=True)
class DisputeOpened(DisputeEventData):
    """``dispute.opened``: the payer disputed ``amount``; the money is held."""

    event_type: ClassVar[BillingEventType] = BillingEventType.DISPUTE_OPENED


@final
@dataclass(frozen=True, kw_only=True)
class DisputeClosed(DisputeEventData):
    """``dispute.closed``: ``outcome`` won (money back to the merchant) or lost."""

    event_type: ClassVar[BillingEventType] = BillingEventType.DISPUTE_CLOSED

    outcome: DisputeOutcome = DisputeOutcome.OTHER

    def __post_init__(self) -> None:
        super().__post_init__()
        _enum_field(self, "outcome", DisputeOutcome)
