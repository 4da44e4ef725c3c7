"""Standard payment events: what every provider emits after a verified webhook.

Each event has a typed, frozen payload class. ``payload.to_event()`` builds the
:class:`~vbwd_plugins.Event` a provider dispatches (its ``data`` holds only JSON-friendly
values plus a timezone-aware ``datetime``); ``PaymentEventData.from_event(event)`` turns a
received event back into the right payload class, also after a JSON round trip.

Amounts are integers of the currency's **ISO 4217** minor units, whatever the provider's
API uses (Stripe's two-decimal ISK is converted back to ISO's zero decimals). A refund
event carries the amount of *this* refund, never a cumulative total.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, Self, TypeVar, final

from vbwd_plugins.errors import MoneyError, WebhookPayloadError
from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.events._serialization import register_event_enum
from vbwd_plugins.payments._currencies import ISO_4217_EXPONENTS
from vbwd_plugins.payments._money import Money, _normalize_code
from vbwd_plugins.payments._results import PaymentErrorCode

__all__ = [
    "PaymentAuthorized",
    "PaymentCancelled",
    "PaymentCompleted",
    "PaymentEventData",
    "PaymentEventType",
    "PaymentFailed",
    "PaymentPending",
    "PaymentRefunded",
]


class PaymentEventType(StrEnum):
    """The names of the standard payment events."""

    #: Money was captured; activate the subscription.
    COMPLETED = "payment.completed"
    #: The payment failed (declined, expired, ...); ``error_code`` says why when known.
    FAILED = "payment.failed"
    #: Money was returned to the payer; ``amount`` is this refund's.
    REFUNDED = "payment.refunded"
    #: The payment was cancelled or voided before completion.
    CANCELLED = "payment.cancelled"
    #: Accepted but not final yet (e.g. a PayPal eCheck, a processing bank debit).
    PENDING = "payment.pending"
    #: Funds are held, waiting for ``capture_payment`` (manual capture).
    AUTHORIZED = "payment.authorized"


register_event_enum(PaymentEventType, name="vbwd_plugins.payments:PaymentEventType")

#: What a currency code looks like before it is looked up (``_normalize_code`` upper-cases).
_CURRENCY: Final = re.compile(r"[A-Za-z]{3}")
#: Amounts below this are within :class:`Money`'s range in every currency (at most 30
#: digits, 8 decimals), so ``money`` works without building one to check.
_ALWAYS_MONEY: Final = 10**20
#: Every ISO 4217 code, upper and lower case, to its code (what ``_currency_code`` returns
#: for them, looked up without a regex).
_CODES: Final[Mapping[str, str]] = {
    spelling: code for code in ISO_4217_EXPONENTS for spelling in (code, code.lower())
}


def _bad(field_name: str, value: object, why: str) -> WebhookPayloadError:
    return WebhookPayloadError(f"Payment event field {field_name!r}={value!r}: {why}")


def _check_text(field_name: str, value: str) -> None:
    """Refuse text a database or a JSON column cannot hold as it is."""
    if "\x00" in value:
        raise _bad(field_name, value, "must not contain a NUL character")
    if value.isascii():  # no surrogate either (the common case, without an encode)
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(field_name, value, "must not contain an unpaired surrogate") from None


def _plain_text(value: str) -> bool:
    """Whether ``value`` is ASCII without NUL, which :func:`_check_text` always accepts."""
    return value.isascii() and "\x00" not in value


def _currency_code(currency: object) -> str:
    """``currency`` as an upper-case ISO 4217 code, or the field's error."""
    if not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
        raise _bad("currency", currency, "must be a 3-letter ISO 4217 code (A-Z)")
    try:
        return _normalize_code(currency)
    except MoneyError as exc:
        raise _bad("currency", currency, str(exc)) from None


def _check_metadata(metadata: Mapping[Any, Any]) -> None:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _bad("metadata", metadata, "must map strings to strings")
    for key, item in metadata.items():
        _check_text(f"metadata[{key!r}]", key)
        _check_text(f"metadata[{key!r}]", item)


def _optional_str(field_name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _bad(field_name, value, "must be a string or None")
    _check_text(field_name, value)


_PLAIN: Final = frozenset({str, int, type(None), datetime})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """The dataclass field names of ``cls``, in order (computed once per class)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


# -- shared by the payment and the billing event payloads ------------------------------


def _currency(currency: object) -> str:
    """``currency`` as an upper-case ISO 4217 code (a table lookup in the common case)."""
    code = _CODES.get(currency) if type(currency) is str else None
    return _currency_code(currency) if code is None else code


def _check_minor_units(amount: object, code: str) -> None:
    """Refuse an amount that is not an int of minor units >= 0 within Money's range."""
    if type(amount) is not int and (isinstance(amount, bool) or not isinstance(amount, int)):
        raise _bad("amount", amount, "must be an int of minor units >= 0")
    if amount < 0:
        raise _bad("amount", amount, "must be an int of minor units >= 0")
    if amount >= _ALWAYS_MONEY:
        try:  # in range for Money, so ``money`` always works
            Money.from_minor_units(amount, code)
        except MoneyError as exc:
            raise _bad("amount", amount, str(exc)) from None


def _check_aware(field_name: str, moment: object) -> None:
    """Refuse a naive datetime, or one that cannot be converted to UTC."""
    if type(moment) is datetime and moment.tzinfo is UTC:
        return  # aware, and already in UTC
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise _bad(field_name, moment, "must be a timezone-aware datetime")
    try:  # readers convert to UTC, which fails at the calendar's edge (year 1, +01:00)
        moment.astimezone(UTC)
    except OverflowError:
        raise _bad(field_name, moment, "is out of range in UTC") from None


def _checked_metadata(metadata: object) -> dict[str, str]:
    """A copy of ``metadata``, refused unless it maps plain text to plain text."""
    if type(metadata) is not dict and not isinstance(metadata, Mapping):
        raise _bad("metadata", metadata, "must map strings to strings")
    copied = dict(metadata)
    if not all(  # the common case: no message built, nothing encoded
        type(k) is str and type(v) is str and _plain_text(k) and _plain_text(v)
        for k, v in copied.items()
    ):
        _check_metadata(metadata)
    return copied


def _payload_dict(payload: object) -> dict[str, Any]:
    """A payload's fields as event data: JSON-friendly values, datetimes as they are."""
    data: dict[str, Any] = {}
    for name in _field_names(type(payload)):
        value = getattr(payload, name)
        if type(value) in _PLAIN:
            pass
        elif isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, Mapping):
            value = dict(value)
        data[name] = value
    return data


_P = TypeVar("_P")


def _payload_from_dict(
    cls: type[_P], data: Mapping[str, Any], moments: tuple[str, ...], kind: str
) -> _P:
    """Build ``cls`` from event data: unknown keys dropped, ``moments`` read from ISO text."""
    known = frozenset(_field_names(cls))
    values = {k: v for k, v in data.items() if k in known}
    for name in moments:
        moment = values.get(name)
        if isinstance(moment, str):
            try:
                values[name] = datetime.fromisoformat(moment)
            except ValueError:
                raise _bad(name, moment, "is not an ISO 8601 datetime") from None
    try:
        return cls(**values)
    except TypeError as exc:
        raise WebhookPayloadError(f"{kind} event data for {cls.__name__}: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class PaymentEventData:
    """Fields every standard payment event carries.

    * ``provider``: the plugin name (``"stripe"``).
    * ``transaction_id``: the payment's id at the provider, as ``PaymentResult`` reports it.
    * ``provider_event_id``: the webhook event's id (``evt_...``, ``WH-...``).
    * ``amount``: ISO 4217 minor units (int >= 0); ``currency``: ISO code, upper case.
    * ``provider_event_type``: the provider's own type (``payment_intent.succeeded``).
    * ``occurred_at``: when it happened at the provider (timezone-aware).
    * ``subscription_id``, ``user_id``: from the metadata set at creation, when known.
    * ``metadata``: other string metadata the provider returned.
    """

    event_type: ClassVar[PaymentEventType]
    _registry: ClassVar[dict[str, type[PaymentEventData]]] = {}

    provider: str
    transaction_id: str
    amount: int
    currency: str
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
            PaymentEventData._registry[str(event_type)] = cls

    def __post_init__(self) -> None:
        if "event_type" not in type(self).__dict__:
            raise TypeError(f"{type(self).__name__} is abstract: use PaymentCompleted, ...")
        for name in ("provider", "transaction_id", "provider_event_type"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise _bad(name, value, "must be a non-empty string")
            if not _plain_text(value):
                _check_text(name, value)
        for name in ("provider_event_id", "subscription_id", "user_id"):
            value = getattr(self, name)
            if value is None or (type(value) is str and _plain_text(value)):
                continue
            _optional_str(name, value)
        code = _currency(self.currency)
        object.__setattr__(self, "currency", code)
        _check_minor_units(self.amount, code)
        _check_aware("occurred_at", self.occurred_at)
        object.__setattr__(self, "metadata", _checked_metadata(self.metadata))

    @property
    def money(self) -> Money:
        """``amount`` and ``currency`` as :class:`~vbwd_plugins.Money`."""
        return Money.from_minor_units(self.amount, self.currency)

    def to_dict(self) -> dict[str, Any]:
        """The event data: JSON-friendly values and ``occurred_at`` as a datetime."""
        return _payload_dict(self)

    def to_event(self) -> Event:
        """The :class:`~vbwd_plugins.Event` to dispatch."""
        return Event(name=self.event_type.value, data=self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a payload from :meth:`to_dict` output (``occurred_at`` may be ISO text)."""
        return _payload_from_dict(cls, data, ("occurred_at",), "Payment")

    @staticmethod
    def from_event(event: Event) -> PaymentEventData:
        """The typed payload of a standard payment ``event`` (by its name)."""
        cls = PaymentEventData._registry.get(event.name)
        if cls is None:
            raise WebhookPayloadError(f"{event.name!r} is not a standard payment event")
        return cls.from_dict(event.data)


@final
@dataclass(frozen=True, kw_only=True)
class PaymentCompleted(PaymentEventData):
    """``payment.completed``: the payment's money was captured."""

    event_type: ClassVar[PaymentEventType] = PaymentEventType.COMPLETED


@final
@dataclass(frozen=True, kw_only=True)
class PaymentFailed(PaymentEventData):
    """``payment.failed``: with the standard ``error_code`` and message when known."""

    event_type: ClassVar[PaymentEventType] = PaymentEventType.FAILED

    error_code: PaymentErrorCode | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.error_code is not None:
            try:
                object.__setattr__(self, "error_code", PaymentErrorCode(self.error_code))
            except ValueError:
                raise _bad("error_code", self.error_code, "is not a PaymentErrorCode") from None
        _optional_str("error_message", self.error_message)


@final
@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(PaymentEventData):
    """``payment.refunded``: ``amount`` is this refund's; ``refund_id`` its provider id."""

    event_type: ClassVar[PaymentEventType] = PaymentEventType.REFUNDED

    refund_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _optional_str("refund_id", self.refund_id)


@final
@dataclass(frozen=True, kw_only=True)
class PaymentCancelled(PaymentEventData):
    """``payment.cancelled``: cancelled or voided before completion."""

    event_type: ClassVar[PaymentEventType] = PaymentEventType.CANCELLED


@final
@dataclass(frozen=True, kw_only=True)
class PaymentPending(PaymentEventData):
    """``payment.pending``: accepted by the provider, outcome not final yet."""

    event_type: ClassVar[PaymentEventType] = PaymentEventType.PENDING


@final
@dataclass(frozen=True, kw_only=True)
class PaymentAuthorized(PaymentEventData):
    """``payment.authorized``: funds held until ``capture_payment``."""

    event_type: ClassVar[PaymentEventType] = PaymentEventType.AUTHORIZED
