"""JSON round trip for events: exact ``Decimal``, ``UUID``, aware ``datetime``, ``date``, ``Enum``.

An event is the JSON object ``{"name": ..., "data": ...}``. JSON strings, numbers, booleans,
``null``, arrays and objects stand for themselves; the other supported types become a *tagged
value*, an object with exactly one member whose name starts with ``$``::

    Decimal("12.30")          {"$decimal": "12.30"}             (the digits, never a float)
    UUID(...)                 {"$uuid": "8f0c...-..."}
    aware datetime            {"$datetime": "2026-01-31T12:00:00.250000+01:00"}
    date                      {"$date": "2026-01-31"}
    PaymentStatus.COMPLETED   {"$enum": {"type": "vbwd_plugins.payments:PaymentStatus",
                                         "name": "COMPLETED", "value": "completed"}}
    {"$x": 1}  (a dict whose only key starts with "$")
                              {"$dict": {"$x": 1}}

An enum's ``type`` is the name it was registered under, else ``module:qualname``. The core's
enums (``EventPriority``, ``PaymentStatus``, ``PaymentErrorCode``, ``PaymentEventType``,
``Capability``) are registered under their public import path, so stored events keep
decoding when a private module moves.

Decoding never imports anything named in the text: an ``$enum`` becomes a member (looked up
by ``name``) only of an enum registered with :func:`register_event_enum` or passed as
``enums=``; any other enum decodes to its plain ``value``. Tuples encode as arrays and decode
as lists.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Final, TypeVar

from vbwd_plugins.errors import EventDeserializationError, EventSerializationError

__all__ = ["decode_event", "encode_event", "register_event_enum"]

_E = TypeVar("_E", bound=type[Enum])

_SUPPORTED: Final = (
    "str, int, float, bool, None, Decimal, UUID, timezone-aware datetime, date, Enum, "
    "dict with str keys, list or tuple"
)
_PLAIN: Final = frozenset({str, int, bool, type(None)})
_ENUM_KEYS: Final = frozenset({"type", "name", "value"})

_enum_lock: Final = threading.Lock()
_enums: dict[str, type[Enum]] = {}  # tag -> class, under both its name and module:qualname
_names: dict[type[Enum], str] = {}  # class -> the name it is written under, when given


def register_event_enum(enum_class: _E, *, name: str | None = None) -> _E:
    """Let :meth:`Event.from_json <vbwd_plugins.Event.from_json>` rebuild members of ``enum_class``.

    Usable as a class decorator. ``name`` (say ``"acme.billing:Plan"``, the public import
    path) is written instead of ``module:qualname``, so events stored today still decode
    after the class moves to another module; both are read. Unregistered enums still
    serialize; they decode to their value.
    """
    if not (isinstance(enum_class, type) and issubclass(enum_class, Enum)):
        raise TypeError(f"register_event_enum() needs an Enum subclass, got {enum_class!r}")
    if name is not None and (not isinstance(name, str) or not name or name.startswith("$")):
        raise TypeError(f"register_event_enum() name must be a non-empty str, got {name!r}")
    with _enum_lock:
        _enums[_module_tag(enum_class)] = enum_class
        if name is not None:
            _enums[name] = enum_class
            _names[enum_class] = name
    return enum_class


def _module_tag(enum_class: type[Enum]) -> str:
    return f"{enum_class.__module__}:{enum_class.__qualname__}"


def _enum_tag(enum_class: type[Enum]) -> str:
    """What an ``$enum`` of ``enum_class`` is written under."""
    return _names.get(enum_class) or _module_tag(enum_class)


def _key_path(path: str, key: str) -> str:
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


# --------------------------------------------------------------------------- encoding


def encode_event(name: str, data: dict[str, Any]) -> str:
    """The JSON text of an event named ``name`` with ``data``."""
    if not isinstance(name, str):
        raise EventSerializationError(
            f"cannot serialize name: event names are str, got {type(name).__name__}", path="name"
        )
    if not isinstance(data, dict):
        raise EventSerializationError(
            f"cannot serialize data: event data is a dict, got {type(data).__name__}", path="data"
        )
    try:
        encoded = _fast_dict(data, 0)
    except _Unusual:  # the checked walk, which names what is wrong and where
        encoded = _encode_dict(data, "data", set())
    return _ENCODER.encode({"name": name, "data": encoded})


#: One encoder for every event (``json.dumps`` with options builds one per call). The
#: documents it gets are freshly built trees, so its own circular check is not needed.
_ENCODER: Final = json.JSONEncoder(allow_nan=False, separators=(",", ":"), check_circular=False)
#: Nesting the fast walk goes to before it hands over (a cycle, or data this deep, is rare).
_FAST_DEPTH: Final = 100


class _Unusual(Exception):
    """Raised by the fast walk at anything it does not encode itself."""


def _fast(value: object, depth: int) -> object:
    """What :func:`_encode` returns for the common types, without paths; else ``_Unusual``."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return _fast_dict(value, depth + 1)  # type: ignore[arg-type]
    if kind is datetime:
        if value.utcoffset() is None:  # type: ignore[attr-defined]
            raise _Unusual
        return {"$datetime": value.isoformat()}  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        if depth >= _FAST_DEPTH:
            raise _Unusual
        return [_fast(item, depth + 1) for item in value]  # type: ignore[attr-defined]
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise _Unusual
        return value
    if kind is Decimal:
        return {"$decimal": str(value)}
    raise _Unusual


def _fast_dict(value: dict[Any, Any], depth: int) -> dict[str, object]:
    if depth >= _FAST_DEPTH:
        raise _Unusual
    encoded: dict[str, object] = {}
    for key, item in value.items():
        if type(key) is not str:
            raise _Unusual
        encoded[key] = item if type(item) in _PLAIN else _fast(item, depth)
    if len(encoded) == 1 and next(iter(encoded)).startswith("$"):
        return {"$dict": encoded}
    return encoded


def _encode(value: object, path: str, active: set[int]) -> object:
    if type(value) in _PLAIN:
        return value
    if type(value) is float:
        return _encode_float(value, path)
    if type(value) is dict:
        return _encode_dict(value, path, active)
    if type(value) is list or type(value) is tuple:
        return _encode_list(value, path, active)
    # Subclasses and the tagged types; Enum first, since IntEnum and StrEnum are int and str.
    if isinstance(value, Enum):
        encoded_value = _encode(value.value, f"{path}.value", active)
        return {
            "$enum": {"type": _enum_tag(type(value)), "name": value.name, "value": encoded_value}
        }
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    uuid = sys.modules.get("uuid")  # a value can only be a UUID once uuid is imported
    if uuid is not None and isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise EventSerializationError(
                f"cannot serialize {path}: naive datetime {value.isoformat()!r}; give it a "
                "timezone (e.g. datetime.now(UTC)) so every reader sees the same instant",
                path=path,
            )
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, int | str):
        return value  # a subclass; json writes it as the plain int or str
    if isinstance(value, float):
        return _encode_float(float(value), path)
    if isinstance(value, dict):
        return _encode_dict(value, path, active)
    if isinstance(value, list | tuple):
        return _encode_list(value, path, active)
    raise EventSerializationError(
        f"cannot serialize {path}: {type(value).__qualname__} is not supported "
        f"(supported: {_SUPPORTED})",
        path=path,
    )


def _encode_float(value: float, path: str) -> float:
    if not math.isfinite(value):
        raise EventSerializationError(
            f"cannot serialize {path}: {value!r} is not valid JSON; use None or a Decimal",
            path=path,
        )
    return value


def _enter(value: object, path: str, active: set[int]) -> None:
    if id(value) in active:
        raise EventSerializationError(
            f"cannot serialize {path}: it contains itself (circular reference)", path=path
        )
    active.add(id(value))


def _encode_dict(value: dict[Any, Any], path: str, active: set[int]) -> dict[str, object]:
    _enter(value, path, active)
    encoded: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise EventSerializationError(
                f"cannot serialize {path}: key {key!r} is a {type(key).__name__}; JSON object "
                "keys are str",
                path=path,
            )
        # The path names a value in an error only: not built for plain values (hot path).
        plain = type(item) in _PLAIN
        encoded[key] = item if plain else _encode(item, _key_path(path, key), active)
    active.discard(id(value))
    if len(encoded) == 1 and next(iter(encoded)).startswith("$"):
        return {"$dict": encoded}  # would otherwise read back as a tagged value
    return encoded


def _encode_list(value: list[Any] | tuple[Any, ...], path: str, active: set[int]) -> list[object]:
    _enter(value, path, active)
    encoded = [_encode(item, f"{path}[{index}]", active) for index, item in enumerate(value)]
    active.discard(id(value))
    return encoded


# --------------------------------------------------------------------------- decoding


def decode_event(
    text: str | bytes | bytearray, *, enums: Iterable[type[Enum]] = ()
) -> tuple[str, dict[str, Any]]:
    """``(name, data)`` from the JSON text :func:`encode_event` wrote.

    ``enums`` adds enum classes to the registered ones for this call.
    """
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, TypeError) as exc:
        raise EventDeserializationError(f"not a serialized event: {exc}", path="$") from exc
    if not isinstance(document, dict) or set(document) != {"name", "data"}:
        raise EventDeserializationError(
            'not a serialized event: expected a JSON object with exactly "name" and "data"',
            path="$",
        )
    name, data = document["name"], document["data"]
    if not isinstance(name, str):
        raise EventDeserializationError("not a serialized event: name is not a string", path="name")
    if not isinstance(data, dict):
        raise EventDeserializationError(
            "not a serialized event: data is not an object", path="data"
        )
    with _enum_lock:
        known = dict(_enums)
    for enum_class in enums:
        known[_module_tag(enum_class)] = known[_enum_tag(enum_class)] = enum_class
    decoded = _decode(data, "data", known)
    if not isinstance(decoded, dict):
        raise EventDeserializationError(
            "not a serialized event: data is a tagged value", path="data"
        )
    return name, decoded


def _reject_constant(constant: str) -> object:
    raise ValueError(f"{constant} is not valid JSON")


_NESTED: Final = (dict, list)


def _decode(value: object, path: str, enums: dict[str, type[Enum]]) -> object:
    if type(value) is dict:
        if len(value) == 1:
            ((key, payload),) = value.items()
            if key.startswith("$"):
                return _decode_tagged(key, payload, path, enums)
        return {
            # a scalar decodes to itself: only containers need the path (for error messages)
            key: _decode(item, _key_path(path, key), enums) if type(item) in _NESTED else item
            for key, item in value.items()
        }
    if type(value) is list:
        return [_decode(item, f"{path}[{index}]", enums) for index, item in enumerate(value)]
    return value


def _decode_tagged(tag: str, payload: object, path: str, enums: dict[str, type[Enum]]) -> object:
    try:
        if tag == "$dict" and type(payload) is dict:
            return {
                key: _decode(item, _key_path(path, key), enums) if type(item) in _NESTED else item
                for key, item in payload.items()
            }
        if tag == "$enum" and type(payload) is dict and set(payload) == _ENUM_KEYS:
            enum_class = enums.get(payload["type"])
            if enum_class is None:
                return _decode(payload["value"], f"{path}.value", enums)
            return enum_class[payload["name"]]
        if type(payload) is str:
            if tag == "$decimal":
                return Decimal(payload)
            if tag == "$uuid":
                from uuid import UUID

                return UUID(payload)
            if tag == "$date":
                return date.fromisoformat(payload)
            if tag == "$datetime":
                moment = datetime.fromisoformat(payload)
                if moment.utcoffset() is None:
                    raise ValueError("the datetime has no UTC offset")
                return moment
    except (ValueError, TypeError, KeyError, InvalidOperation) as exc:
        raise EventDeserializationError(
            f"cannot deserialize {path}: bad {tag} value {payload!r}: {exc}", path=path
        ) from exc
    raise EventDeserializationError(
        f"cannot deserialize {path}: unknown or malformed tagged value {{{tag!r}: {payload!r}}}",
        path=path,
    )
