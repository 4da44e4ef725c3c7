"""parse_json: what json.loads reads, minus NaN, out-of-range numbers and deep nesting."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins._json import MAX_JSON_DEPTH, parse_json

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(value=_JSON, encoding=st.sampled_from(["utf-8", "utf-16", "utf-32", "str", "bytearray"]))
def test_any_json_value_reads_as_json_loads_reads_it(value: Any, encoding: str) -> None:
    """Text, bytes (UTF-8/16/32) and bytearrays give what json.loads gives."""
    text = json.dumps(value, ensure_ascii=False)
    data: str | bytes
    if encoding == "str":
        data = text
    elif encoding == "bytearray":
        data = bytearray(text.encode())  # type: ignore[assignment]
    else:
        data = text.encode(encoding)
    assert parse_json(data) == json.loads(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": NaN}', "NaN"),
        ('{"a": -Infinity}', "Infinity"),
        (b'{"a": 1e400}', "out of range"),
        (b'{"a": "\xff"}', "UTF-8"),
        ("\ufeff{}", "BOM"),
        (b"{", "Expecting"),
    ],
)
def test_what_json_loads_accepts_but_no_provider_sends_is_a_value_error(
    data: bytes | str, reason: str
) -> None:
    """NaN, infinite numbers, bad UTF-8, a BOM in text and broken JSON raise ValueError."""
    with pytest.raises(ValueError, match=reason):
        parse_json(data)


class _Text(str):
    """A str subclass: read with the same refusals."""


def test_a_str_subclass_is_read_with_the_same_refusals() -> None:
    """Subclasses of str go through json.loads with the same checks."""
    assert parse_json(_Text('{"a": [1.5]}')) == {"a": [1.5]}
    with pytest.raises(ValueError, match="NaN"):
        parse_json(_Text("[NaN]"))


@pytest.mark.parametrize("kind", [bytes, str])
def test_nesting_is_refused_past_the_limit_exactly(kind: type) -> None:
    """MAX_JSON_DEPTH levels are read; one more is refused, as text and as bytes."""

    def nested(depth: int) -> Any:
        text = "[" * (depth - 1) + '{"a":1}' + "]" * (depth - 1)
        return text if kind is str else text.encode()

    assert parse_json(nested(MAX_JSON_DEPTH))
    with pytest.raises(ValueError, match="nested deeper"):
        parse_json(nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(ValueError, match="nested deeper"):
        parse_json(nested(100_000))  # past the parser's recursion limit


def test_wide_but_shallow_json_is_not_refused() -> None:
    """Many brackets side by side are not depth."""
    assert len(parse_json("[" + ",".join(["[]"] * 500) + "]")) == 500


def test_something_that_is_not_text_is_a_type_error() -> None:
    """Non-text input raises TypeError as json.loads does."""
    with pytest.raises(TypeError):
        parse_json(12)  # type: ignore[arg-type]
