"""Parsing JSON from outside (webhook bodies, admin API bodies) without surprises.

``json.loads`` alone accepts what no provider sends and fails in ways a caller does not
expect: ``NaN``/``Infinity`` and ``1e400`` (an infinite float), and a deeply nested body
raises :class:`RecursionError`, which escapes ``except ValueError`` and answers 500.
:func:`parse_json` turns all of these into :class:`ValueError`, so every caller answers 400.

One module, used by the webhook contract (``parse_webhook``) and the admin API, so both
refuse the same things.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["MAX_JSON_DEPTH", "parse_json"]

#: Deepest nesting of arrays and objects accepted. Stripe and PayPal events nest about 10
#: levels; the limit keeps every recursive walk of a payload far from Python's stack limit.
MAX_JSON_DEPTH: Final = 64


def _reject_constant(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # the number is not repeated: it may be part of a secret
        raise ValueError("a number is out of range (beyond a float's)")
    return value


#: One decoder for every call (``json.loads`` with options builds one per call).
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_SPELLED: Final = frozenset({str, bytes, bytearray})


def _text(data: str | bytes | bytearray) -> str:
    """``data`` as ``json.loads`` reads it (bytes in UTF-8/16/32, no leading BOM in text)."""
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
        return data
    return data.decode(json.detect_encoding(data), "surrogatepass")


def parse_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value in ``data``; :class:`ValueError` with a reason for anything else.

    Refused besides malformed JSON: invalid UTF-8, ``NaN``/``Infinity``, numbers beyond a
    float's range, integers longer than Python converts, and nesting deeper than
    ``max_depth``.
    """
    try:
        if type(data) in _SPELLED:
            value = _DECODER.decode(_text(data))
        else:  # a subclass, or not text at all (json.loads raises TypeError)
            value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: {exc.reason}") from None
    if isinstance(data, bytes | bytearray):
        brackets = data.count(b"[") + data.count(b"{")
    else:
        brackets = data.count("[") + data.count("{")
    # Too few brackets to nest that deep (the common case) skips the walk.
    if brackets > max_depth and _nests_deeper(value, max_depth):
        raise ValueError(f"nested deeper than {max_depth} levels")
    return value


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels deep."""
    if type(value) not in (dict, list):
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children: Iterable[Any] = node.values() if type(node) is dict else node
        pending.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return False
