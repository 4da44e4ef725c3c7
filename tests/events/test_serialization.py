"""JSON round trip of events: exact types, tagged values, clear errors naming the key path."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import (
    Event,
    EventPriority,
    PaymentEventData,
    PluginError,
)
from vbwd_plugins.errors import (
    EventDeserializationError,
    EventSerializationError,
)
from vbwd_plugins.events import register_event_enum
from vbwd_plugins.payments import PaymentCompleted


@register_event_enum
class Plan(Enum):
    """A registered enum: decodes back to its members."""

    BASIC = "basic"
    PRO = ("pro", 2)


class Unregistered(IntEnum):
    """Never registered: decodes to its plain value."""

    ONE = 1


def same(left: object, right: object) -> bool:
    """Equal *and* of the same types all the way down (1 is not 1.0, Decimal keeps its digits)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, float):
        return repr(left) == repr(right)
    if isinstance(left, Decimal) and isinstance(right, Decimal):
        return left.as_tuple() == right.as_tuple()
    if isinstance(left, datetime) and isinstance(right, datetime):
        return left == right and left.utcoffset() == right.utcoffset()
    return left == right


def round_trip(data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The data of ``Event("x", data)`` after to_json and from_json."""
    event = Event.from_json(Event("x", data).to_json(), **kwargs)
    assert event.name == "x"
    return event.data


BERLIN_WINTER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(10**30),
        1.5,
        -0.0,
        "text ☃ \u0000",
        Decimal("12.30"),
        Decimal("0.1"),
        Decimal("-1E+3"),
        Decimal("123456789012345678901234567890.123456789"),
        UUID("12345678-1234-5678-1234-567812345678"),
        datetime(2026, 1, 31, 12, 0, 0, 250_000, tzinfo=UTC),
        datetime(2026, 1, 31, 12, 0, tzinfo=BERLIN_WINTER),
        date(2026, 2, 28),
        Plan.BASIC,
        EventPriority.HIGH,
        [1, [2, {"a": Decimal("1.00")}]],
        {"nested": {"deeper": [UUID(int=5)]}},
    ],
)
def test_each_supported_type_round_trips_exactly(value: object) -> None:
    """The value comes back equal and of the same type."""
    assert same(round_trip({"value": value})["value"], value)


def test_decimals_are_written_as_their_digits_never_as_floats() -> None:
    """0.1 stays exactly 0.1 (a float would not); trailing zeros survive."""
    text = Event("x", {"amount": Decimal("0.10")}).to_json()
    assert json.loads(text)["data"]["amount"] == {"$decimal": "0.10"}
    assert str(round_trip({"amount": Decimal("0.10")})["amount"]) == "0.10"


def test_datetimes_keep_their_instant_and_utc_offset() -> None:
    """An aware datetime decodes to the same instant with the same offset."""
    moment = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=-4)))
    decoded = round_trip({"at": moment})["at"]
    assert decoded == moment
    assert decoded.utcoffset() == timedelta(hours=-4)


def test_tuples_decode_as_lists() -> None:
    """JSON has one array type: a tuple comes back as a list."""
    assert round_trip({"pair": (1, "a")}) == {"pair": [1, "a"]}


def test_dollar_keys_in_data_are_not_mistaken_for_tagged_values() -> None:
    """A user dict that looks like a tag round-trips as a dict."""
    data: dict[str, Any] = {
        "$decimal": {"$decimal": "1"},
        "x": {"$uuid": "nope"},
        "$dict": {"$dict": {}},
    }
    assert same(round_trip(data), data)


def test_event_json_has_name_and_data_only() -> None:
    """The document is {"name", "data"}; dispatch state is not part of it."""
    event = Event("payment.completed", {"amount": 100}, propagation_stopped=True)
    assert json.loads(event.to_json()) == {"name": "payment.completed", "data": {"amount": 100}}
    assert Event.from_json(event.to_json().encode()) == Event("payment.completed", {"amount": 100})


def test_from_json_builds_the_class_it_is_called_on() -> None:
    """A subclass of Event gets instances of itself."""

    class AuditEvent(Event):
        pass

    restored = AuditEvent.from_json(Event("a", {"b": 1}).to_json())
    assert type(restored) is AuditEvent


def test_standard_payment_events_survive_the_round_trip() -> None:
    """A payment.completed event decodes into an equal typed payload."""
    payload = PaymentCompleted(
        provider="stripe",
        transaction_id="pi_1",
        amount=1999,
        currency="EUR",
        provider_event_type="payment_intent.succeeded",
        occurred_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        metadata={"order": "42"},
    )
    restored = Event.from_json(payload.to_event().to_json())
    assert PaymentEventData.from_event(restored) == payload


# --------------------------------------------------------------------------- enums


def test_registered_enums_decode_to_members() -> None:
    """register_event_enum (a decorator) makes from_json rebuild the member."""
    assert round_trip({"plan": Plan.PRO})["plan"] is Plan.PRO


def test_unregistered_enums_decode_to_their_value_unless_passed_in() -> None:
    """Without registration the value comes back; enums= adds classes for one call."""
    assert same(round_trip({"n": Unregistered.ONE}), {"n": 1})
    assert round_trip({"n": Unregistered.ONE}, enums=[Unregistered])["n"] is Unregistered.ONE


def test_decoding_never_imports_what_the_text_names() -> None:
    """An $enum naming an unknown module is not imported; its value is returned."""
    module = "vbwd_plugins_test_never_imported"
    text = json.dumps(
        {
            "name": "x",
            "data": {"e": {"$enum": {"type": f"{module}:Evil", "name": "E", "value": "v"}}},
        }
    )
    assert Event.from_json(text).data == {"e": "v"}
    assert module not in sys.modules


def test_registering_something_that_is_not_an_enum_fails() -> None:
    """register_event_enum only takes Enum subclasses."""
    with pytest.raises(TypeError, match="Enum subclass"):
        register_event_enum(int)  # type: ignore[type-var]


def test_an_enum_name_that_is_no_member_is_a_clear_error() -> None:
    """A registered enum with an unknown member name names the path."""
    tag = f"{Plan.__module__}:{Plan.__qualname__}"
    gold = {"type": tag, "name": "GOLD", "value": "gold"}
    text = json.dumps({"name": "x", "data": {"p": {"$enum": gold}}})
    with pytest.raises(EventDeserializationError, match=r'data\["p"\]') as raised:
        Event.from_json(text)
    assert raised.value.path == 'data["p"]'


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"payment": {"card": object()}}, 'data["payment"]["card"]', "object is not supported"),
        ({"items": [1, {3}]}, 'data["items"][1]', "set is not supported"),
        ({"payment": {"created": datetime(2026, 1, 1)}}, 'data["payment"]["created"]', "naive"),
        ({"ratio": float("nan")}, 'data["ratio"]', "not valid JSON"),
        ({"ratio": float("inf")}, 'data["ratio"]', "not valid JSON"),
        ({"by_id": {1: "a"}}, 'data["by_id"]', "key 1 is a int"),
        ({"raw": b"bytes"}, 'data["raw"]', "bytes is not supported"),
        ({'we"ird': {"x": 1j}}, 'data["we\\"ird"]["x"]', "complex"),
        ({"e": Plan.BASIC, "f": [Unregistered.ONE, object()]}, 'data["f"][1]', "object"),
    ],
)
def test_unserializable_data_names_the_key_path(
    data: dict[str, Any], path: str, message: str
) -> None:
    """The error says where (data["payment"]["card"]) and what is wrong."""
    with pytest.raises(EventSerializationError) as raised:
        Event("x", data).to_json()
    assert raised.value.path == path
    assert path in str(raised.value)
    assert message in str(raised.value)
    assert isinstance(raised.value, TypeError) and isinstance(raised.value, PluginError)


def test_data_that_contains_itself_is_reported() -> None:
    """A circular reference is an error at the path where it closes, not a RecursionError."""
    loop: dict[str, Any] = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(EventSerializationError, match="circular") as raised:
        Event("x", {"loop": loop}).to_json()
    assert raised.value.path == 'data["loop"]["a"][0]'


def test_the_same_object_twice_is_not_circular() -> None:
    """Shared (non-circular) sub-objects serialize fine."""
    shared = {"k": 1}
    assert round_trip({"a": shared, "b": [shared, shared]}) == {"a": shared, "b": [shared] * 2}


def test_name_and_data_must_have_the_right_types() -> None:
    """A non-str name or non-dict data is reported as such."""
    with pytest.raises(EventSerializationError, match="name"):
        Event(1, {}).to_json()  # type: ignore[arg-type]
    with pytest.raises(EventSerializationError, match="data"):
        Event("x", [1]).to_json()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("not json", "$"),
        ("[]", "$"),
        ('{"name": "x"}', "$"),
        ('{"name": "x", "data": {}, "extra": 1}', "$"),
        ('{"name": 1, "data": {}}', "name"),
        ('{"name": "x", "data": []}', "data"),
        ('{"name": "x", "data": {"$decimal": "1"}}', "data"),
        ('{"name": "x", "data": {"a": NaN}}', "$"),
        ('{"name": "x", "data": {"a": {"$decimal": "twelve"}}}', 'data["a"]'),
        ('{"name": "x", "data": {"a": [{"$uuid": "xyz"}]}}', 'data["a"][0]'),
        ('{"name": "x", "data": {"a": {"$datetime": "2026-01-01T00:00:00"}}}', 'data["a"]'),
        ('{"name": "x", "data": {"a": {"$date": 20260101}}}', 'data["a"]'),
        ('{"name": "x", "data": {"a": {"$money": "1 EUR"}}}', 'data["a"]'),
        ('{"name": "x", "data": {"a": {"$enum": {"type": []}}}}', 'data["a"]'),
        (
            '{"name": "x", "data": {"a": {"$enum": {"type": [], "name": "A", "value": 1}}}}',
            'data["a"]',
        ),
    ],
)
def test_text_that_is_not_a_serialized_event_is_rejected(text: str, path: str) -> None:
    """Malformed JSON, wrong shapes and bad tagged values raise with the path."""
    with pytest.raises(EventDeserializationError) as raised:
        Event.from_json(text)
    assert raised.value.path == path
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, EventSerializationError)


# --------------------------------------------------------------------------- property

_OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8)), BERLIN_WINTER]
)
_KEYS = st.text(max_size=8) | st.sampled_from(["$decimal", "$dict", "$enum", "$", "$x"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.decimals()
    | st.uuids()
    | st.dates()
    | st.datetimes(timezones=_OFFSETS)
    | st.sampled_from([*Plan, *EventPriority])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=25,
)


@given(name=st.text(), data=st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_any_nested_data_round_trips(name: str, data: dict[str, Any]) -> None:
    """Generated nested data of every supported type comes back identical."""
    restored = Event.from_json(Event(name, data).to_json())
    assert restored.name == name
    assert same(restored.data, data)


@given(data=st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_the_fast_walk_writes_what_the_checked_walk_writes(data: dict[str, Any]) -> None:
    """encode_event's path-free walk gives the same text as the walk that tracks key paths."""
    from vbwd_plugins.events._serialization import _encode_dict

    checked = json.dumps(
        {"name": "x", "data": _encode_dict(data, "data", set())},
        allow_nan=False,
        separators=(",", ":"),
    )
    assert Event("x", data).to_json() == checked


def test_data_nested_deeper_than_the_fast_walk_still_round_trips() -> None:
    """Nesting past the fast walk's depth is encoded by the checked walk, unchanged."""
    data: dict[str, Any] = {"leaf": [Decimal("1.50")]}
    for level in range(150):
        data = {f"k{level}": data} if level % 2 else {"list": [data]}
    assert round_trip(data) == data


def test_an_unusual_value_deep_in_common_data_is_named_by_its_path() -> None:
    """A naive datetime under plain dicts and lists is reported where it is."""
    data = {"a": {"b": [1, "x", {"c": datetime(2026, 1, 1)}]}, "d": datetime.now(UTC)}
    with pytest.raises(EventSerializationError, match="naive") as raised:
        Event("x", data).to_json()
    assert raised.value.path == 'data["a"]["b"][2]["c"]'
