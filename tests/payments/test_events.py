"""Standard payment events: typed payloads, validation and the JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import (
    Event,
    Money,
    PaymentErrorCode,
    PaymentEventData,
    PaymentEventType,
)
from vbwd_plugins.errors import MoneyError, WebhookPayloadError
from vbwd_plugins.payments import (
    ISO_4217_EXPONENTS,
    PaymentAuthorized,
    PaymentCancelled,
    PaymentCompleted,
    PaymentFailed,
    PaymentPending,
    PaymentRefunded,
)

ALL = [
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PaymentCancelled,
    PaymentPending,
    PaymentAuthorized,
]
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
#: Text a payload accepts: anything but NUL and unpaired surrogates.
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def _base(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "provider": "stripe",
        "transaction_id": "pi_1",
        "provider_event_id": "evt_1",
        "amount": 1050,
        "currency": "usd",
        "provider_event_type": "payment_intent.succeeded",
        "occurred_at": WHEN,
        "subscription_id": "sub-1",
        "user_id": "user-1",
    }
    values.update(overrides)
    return values


def _round_trip(event: Event) -> Event:
    """Through Event.to_json/from_json when available, else plain json with ISO datetimes."""
    to_json = getattr(event, "to_json", None)
    from_json = getattr(Event, "from_json", None)
    if callable(to_json) and callable(from_json):
        restored = from_json(to_json())
        assert isinstance(restored, Event)
        return restored
    text = json.dumps(event.data, default=lambda v: v.isoformat())
    return Event(event.name, json.loads(text))


def test_every_standard_event_has_a_payload_class() -> None:
    """Each PaymentEventType maps to exactly one payload class with that name."""
    assert {cls.event_type for cls in ALL} == set(PaymentEventType)
    assert [t.value for t in PaymentEventType] == [
        "payment.completed",
        "payment.failed",
        "payment.refunded",
        "payment.cancelled",
        "payment.pending",
        "payment.authorized",
    ]


@pytest.mark.parametrize("cls", ALL)
def test_payload_round_trips_through_event_and_json(cls: type[PaymentEventData]) -> None:
    """to_event -> JSON -> from_event gives an equal payload of the same class."""
    payload = cls(**_base())
    event = payload.to_event()
    assert event.name == cls.event_type.value
    assert event.data["currency"] == "USD"
    assert PaymentEventData.from_event(event) == payload
    restored = PaymentEventData.from_event(_round_trip(event))
    assert type(restored) is cls
    assert restored == payload


def test_event_data_is_json_friendly() -> None:
    """Event data holds only JSON types plus a timezone-aware datetime."""
    data = PaymentFailed(**_base(), error_code=PaymentErrorCode.DECLINED).to_dict()
    assert data["error_code"] == "declined"
    assert isinstance(data["occurred_at"], datetime)
    json.dumps({k: v for k, v in data.items() if k != "occurred_at"})


def test_refund_payload_carries_this_refunds_amount() -> None:
    """A refund event's amount is the refund's own, with its refund id."""
    refund = PaymentRefunded(**_base(amount=300), refund_id="re_2")
    assert refund.money == Money("3.00", "USD")
    assert refund.to_event().data["refund_id"] == "re_2"


def test_failed_payload_accepts_code_strings() -> None:
    """error_code may be given as the code's string value."""
    failed = PaymentFailed(**_base(), error_code="insufficient_funds")  # type: ignore[arg-type]
    assert failed.error_code is PaymentErrorCode.INSUFFICIENT_FUNDS
    with pytest.raises(WebhookPayloadError, match="error_code"):
        PaymentFailed(**_base(), error_code="card_on_fire")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", -1),
        ("amount", 10.5),
        ("amount", True),
        ("amount", "1050"),
        ("currency", "ZZZ"),
        ("currency", None),
        ("provider", ""),
        ("transaction_id", None),
        ("provider_event_type", 7),
        ("occurred_at", datetime(2025, 1, 1)),
        ("occurred_at", "2025-01-01T00:00:00Z"),
        ("subscription_id", 42),
        ("metadata", {"a": 1}),
        ("amount", 10**40),
        ("currency", "EURO"),
        ("currency", "EU\x00"),
        ("currency", "\u0131ls"),
        ("transaction_id", "pay\x00"),
        ("user_id", "\ud800"),
        ("metadata", {"note": "a\x00b"}),
        ("occurred_at", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
    ],
)
def test_invalid_payloads_are_rejected(field: str, value: Any) -> None:
    """A malformed field raises WebhookPayloadError naming the field."""
    with pytest.raises(WebhookPayloadError, match=field):
        PaymentCompleted(**_base(**{field: value}))


def test_from_dict_accepts_iso_text_datetimes() -> None:
    """occurred_at may arrive as ISO 8601 text after a JSON round trip."""
    data = PaymentCompleted(**_base()).to_dict()
    data["occurred_at"] = "2025-01-02T03:04:05+00:00"
    assert PaymentCompleted.from_dict(data).occurred_at == WHEN
    data["occurred_at"] = "yesterday"
    with pytest.raises(WebhookPayloadError, match="occurred_at"):
        PaymentCompleted.from_dict(data)


def test_from_dict_reports_missing_fields() -> None:
    """Missing required fields raise WebhookPayloadError."""
    with pytest.raises(WebhookPayloadError, match="PaymentCompleted"):
        PaymentCompleted.from_dict({"provider": "x"})


def test_from_event_rejects_other_events() -> None:
    """Only standard payment events can be read back as payloads."""
    with pytest.raises(WebhookPayloadError, match=r"plugin\.enabled"):
        PaymentEventData.from_event(Event("plugin.enabled", {}))


def test_payloads_are_frozen() -> None:
    """Payloads cannot be changed after construction."""
    payload = PaymentCompleted(**_base())
    with pytest.raises(AttributeError):
        payload.amount = 1  # type: ignore[misc]


@given(
    cls=st.sampled_from(ALL),
    currency=st.sampled_from(sorted(ISO_4217_EXPONENTS)),
    amount=st.integers(min_value=0, max_value=10**15),
    offset=st.integers(min_value=-14 * 60, max_value=14 * 60),
    text=st.text(_CHARS, min_size=1, max_size=20),
    optional=st.none() | st.text(_CHARS, max_size=20),
    metadata=st.dictionaries(st.text(_CHARS, max_size=8), st.text(_CHARS, max_size=8), max_size=3),
)
def test_any_valid_payload_survives_the_json_round_trip(
    cls: type[PaymentEventData],
    currency: str,
    amount: int,
    offset: int,
    text: str,
    optional: str | None,
    metadata: dict[str, str],
) -> None:
    """Every valid payload, in any currency and timezone, round-trips unchanged."""
    payload = cls(
        provider=text,
        transaction_id=text,
        provider_event_id=optional,
        amount=amount,
        currency=currency,
        provider_event_type=text,
        occurred_at=WHEN.astimezone(timezone(timedelta(minutes=offset))),
        subscription_id=optional,
        user_id=optional,
        metadata=metadata,
    )
    assert PaymentEventData.from_event(_round_trip(payload.to_event())) == payload


def _text_is_storable(value: str) -> bool:
    """What a payload accepts as text: no NUL, no unpaired surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


@given(
    field=st.sampled_from(["transaction_id", "user_id", "metadata key", "metadata value"]),
    value=st.text(min_size=1, max_size=6),
)
def test_text_fields_accept_exactly_storable_text(field: str, value: str) -> None:
    """Any text is accepted iff it has no NUL and no unpaired surrogate (ASCII or not)."""
    if field == "metadata key":
        values = _base(metadata={value: "v"})
    elif field == "metadata value":
        values = _base(metadata={"k": value})
    else:
        values = _base(**{field: value})
    if _text_is_storable(value):
        assert PaymentCompleted(**values).to_dict()["metadata"] == values.get("metadata", {})
    else:
        with pytest.raises(WebhookPayloadError, match=r"NUL|surrogate"):
            PaymentCompleted(**values)


@given(
    code=st.sampled_from(sorted(ISO_4217_EXPONENTS)),
    upper=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_currency_codes_in_any_case_become_upper_case(code: str, upper: list[bool]) -> None:
    """A known code in any mix of cases is stored upper case."""
    spelled = "".join(c if up else c.lower() for c, up in zip(code, upper, strict=True))
    assert PaymentCompleted(**_base(currency=spelled)).currency == code


class _Text(str):
    """A str subclass: accepted as text, like str."""


@given(amount=st.integers(min_value=0, max_value=10**40) | st.sampled_from([10**20 - 1, 10**20]))
def test_amount_is_accepted_iff_money_can_hold_it(amount: int) -> None:
    """An amount is refused exactly when Money cannot represent it in the currency."""
    try:
        Money.from_minor_units(amount, "CLF")  # four decimals: the tightest range
    except MoneyError:
        with pytest.raises(WebhookPayloadError, match="amount"):
            PaymentCompleted(**_base(amount=amount, currency="clf"))
        return
    assert PaymentCompleted(**_base(amount=amount, currency="clf")).money.amount >= 0


def test_to_dict_lists_every_field_of_the_class_and_copies_metadata() -> None:
    """Subclass fields are included, enums become values, metadata is a fresh dict."""
    failed = PaymentFailed(**_base(metadata={"a": "b"}), error_code="insufficient_funds")  # type: ignore[arg-type]
    data = failed.to_dict()
    assert list(data)[-2:] == ["error_code", "error_message"]
    assert data["error_code"] == "insufficient_funds" and type(data["error_code"]) is str
    data["metadata"]["a"] = "changed"
    assert failed.metadata == {"a": "b"}
    refunded = PaymentRefunded(**_base(), refund_id=_Text("re_1"))
    assert refunded.to_dict()["refund_id"] == "re_1"


def test_occurred_at_in_any_offset_or_a_datetime_subclass_is_accepted() -> None:
    """Aware datetimes pass in UTC, in other offsets and as subclasses of datetime."""

    class Moment(datetime):
        """A datetime subclass."""

    for moment in (
        WHEN,
        WHEN.astimezone(timezone(timedelta(hours=-3))),
        Moment(2025, 1, 2, tzinfo=UTC),
    ):
        assert PaymentCompleted(**_base(occurred_at=moment)).occurred_at == moment
