"""The core's enums survive ``Event.to_json()`` / ``from_json()`` as members, not strings."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import (
    Capability,
    Event,
    EventPriority,
    PaymentErrorCode,
    PaymentEventType,
    PaymentStatus,
)
from vbwd_plugins.events import register_event_enum

STANDARD: tuple[type[Enum], ...] = (
    PaymentStatus,
    PaymentErrorCode,
    PaymentEventType,
    Capability,
    EventPriority,
)
_members = st.one_of(*(st.sampled_from(list(enum_class)) for enum_class in STANDARD))
_leaves = st.one_of(
    _members, st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.just("completed")
)
_data = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        _leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=12,
    ),
    max_size=5,
)


def identical(left: Any, right: Any) -> bool:
    """Equal, and the same types all the way down (a member is not its value)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(identical(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(identical, left, right))
    return bool(left == right)


@given(data=_data)
def test_standard_enums_round_trip_as_members(data: dict[str, Any]) -> None:
    """Any event data holding the core's enum members comes back with the same members."""
    restored = Event.from_json(Event("payment.status_changed", data).to_json())
    assert identical(restored.data, data)


def test_payment_status_is_a_member_after_a_round_trip() -> None:
    """The reported case: PaymentStatus.COMPLETED came back as the string "completed"."""
    restored = Event.from_json(Event("x", {"status": PaymentStatus.COMPLETED}).to_json())
    assert restored.data["status"] is PaymentStatus.COMPLETED


def test_standard_enums_are_written_under_their_public_path() -> None:
    """The JSON names ``vbwd_plugins.payments:PaymentStatus``, not the private module."""
    text = Event("x", {"s": PaymentStatus.FAILED, "p": EventPriority.LOW}).to_json()
    data = json.loads(text)["data"]
    assert data["s"]["$enum"]["type"] == "vbwd_plugins.payments:PaymentStatus"
    assert data["p"]["$enum"]["type"] == "vbwd_plugins.events:EventPriority"


def test_the_module_path_is_still_read() -> None:
    """Events written before (under ``module:qualname``) decode to members too."""
    tag = f"{PaymentStatus.__module__}:{PaymentStatus.__qualname__}"
    member = {"type": tag, "name": "REFUNDED", "value": "refunded"}
    text = json.dumps({"name": "x", "data": {"s": {"$enum": member}}})
    assert Event.from_json(text).data["s"] is PaymentStatus.REFUNDED


class Tier(Enum):
    """A host enum registered under a stable name."""

    GOLD = "gold"


register_event_enum(Tier, name="acme.billing:Tier")


def test_a_registered_name_is_written_and_read() -> None:
    """register_event_enum(name=...) writes that name and reads it back to the member."""
    text = Event("x", {"t": Tier.GOLD}).to_json()
    assert json.loads(text)["data"]["t"]["$enum"]["type"] == "acme.billing:Tier"
    assert Event.from_json(text).data["t"] is Tier.GOLD
