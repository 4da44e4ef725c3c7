"""PaymentResult cannot be inconsistent: the table in docs/payments/contract.md, enforced."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vbwd_plugins import PaymentErrorCode, PaymentResult, PaymentStatus
from vbwd_plugins.errors import MoneyError, PaymentResultError
from vbwd_plugins.payments import ISO_4217_EXPONENTS

# -- the seed's forms keep working -------------------------------------------------------


def test_seed_constructions_still_work() -> None:
    """Every PaymentResult the original design's Stripe example builds is valid."""
    pending = PaymentResult(True, "pi_1", PaymentStatus.PENDING, None, {"client_secret": "s"})
    assert pending.success and pending.metadata == {"client_secret": "s"}
    failed = PaymentResult(success=False, status=PaymentStatus.FAILED, error_message="boom")
    assert failed.error_code is None  # unclassified: the seed had no codes
    bare_failure = PaymentResult(success=False, error_message="boom")
    assert bare_failure.status is PaymentStatus.PENDING
    not_yet = PaymentResult(success=False, transaction_id="pi_1", status=PaymentStatus.PROCESSING)
    assert not not_yet.success
    refunded = PaymentResult(success=True, transaction_id="re_1", status=PaymentStatus.REFUNDED)
    assert refunded.status is PaymentStatus.REFUNDED


# -- the table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"status": PaymentStatus.FAILED}, "status"),
        ({"error_code": PaymentErrorCode.DECLINED}, "error_code"),
        ({"error_message": "declined"}, "error_message"),
    ],
)
def test_success_contradictions_are_refused(kwargs: dict[str, Any], field: str) -> None:
    """success=True with FAILED, an error code or an error message raises naming the field."""
    with pytest.raises(PaymentResultError, match=rf"PaymentResult\.{field} .*success=True") as info:
        PaymentResult(True, "pi_1", **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field", "shown"),
    [
        ({"success": 1}, "success", "1"),
        ({"success": None}, "success", "None"),
        ({"transaction_id": ""}, "transaction_id", "''"),
        ({"transaction_id": 42}, "transaction_id", "42"),
        ({"status": "done"}, "status", "'done'"),
        ({"error_message": b"x"}, "error_message", "bytes"),
        ({"metadata": ["client_secret"]}, "metadata", "list"),
        ({"error_code": "nope"}, "error_code", "'nope'"),
    ],
)
def test_wrong_types_are_refused(kwargs: dict[str, Any], field: str, shown: str) -> None:
    """A field of the wrong type raises PaymentResultError naming the field and the value."""
    values: dict[str, Any] = {"success": False, **kwargs}
    with pytest.raises(PaymentResultError, match=rf"PaymentResult\.{field} ") as info:
        PaymentResult(**values)
    assert info.value.field == field and shown in str(info.value)


def test_metadata_is_never_quoted() -> None:
    """Metadata may hold a client secret: an error about it names only its type."""
    with pytest.raises(PaymentResultError) as info:
        PaymentResult(True, metadata=("pi_secret_xyz",))  # type: ignore[arg-type]
    assert "pi_secret_xyz" not in str(info.value)


@pytest.mark.parametrize("amount", [-1, -1050, 1.5, True, "10"])
def test_bad_amounts_are_money_errors(amount: Any) -> None:
    """amount is an int of minor units >= 0: negative, float, bool or str raise MoneyError."""
    with pytest.raises(MoneyError, match=r"PaymentResult\.amount .*minor units"):
        PaymentResult(True, amount=amount, currency="EUR")


@pytest.mark.parametrize("currency", ["ZZZ", "eu", "", 978, "EUR\x00"])
def test_bad_currencies_are_money_errors(currency: Any) -> None:
    """currency is an ISO 4217 code with minor units; anything else raises MoneyError."""
    with pytest.raises(MoneyError, match=r"PaymentResult\.currency"):
        PaymentResult(True, amount=100, currency=currency)


def test_an_amount_needs_a_currency() -> None:
    """Minor units without a currency mean nothing: refused; a currency alone is fine."""
    with pytest.raises(PaymentResultError, match="amount=100 needs a currency") as info:
        PaymentResult(True, "pi_1", amount=100)
    assert info.value.field == "amount"
    assert PaymentResult(False, currency="eur").currency == "EUR"


def test_valid_combinations_are_kept() -> None:
    """Failures may carry any status; zero is an amount; codes and currency are normalized."""
    for status in PaymentStatus:
        assert PaymentResult(False, None, status).status is status
    metadata: Any = None  # the original design's default
    code: Any = "payer_action_required"  # as to_dict() writes it
    result = PaymentResult(
        False, "pi_1", PaymentStatus.REQUIRES_ACTION, "approve first", metadata,
        error_code=code, amount=0, currency="usd",
    )  # fmt: skip
    assert result.error_code is PaymentErrorCode.PAYER_ACTION_REQUIRED
    assert (result.amount, result.currency, result.metadata) == (0, "USD", {})


def test_to_dict_round_trips() -> None:
    """PaymentResult(**result.to_dict()) is the same result (enum values are taken back)."""
    result = PaymentResult.failure(PaymentErrorCode.TIMEOUT, "slow", transaction_id="pi_1")
    assert PaymentResult(**result.to_dict()) == result
    done = PaymentResult(True, "pi_2", PaymentStatus.COMPLETED, amount=5, currency="JPY")
    assert PaymentResult(**done.to_dict()) == done


# -- assignment --------------------------------------------------------------------------


def test_an_inconsistent_assignment_is_refused_and_undone() -> None:
    """Assigning a contradicting field raises and leaves the result as it was."""
    result = PaymentResult(True, "pi_1", PaymentStatus.COMPLETED, amount=100, currency="EUR")
    before = dataclasses.replace(result)
    for name, value in (
        ("status", PaymentStatus.FAILED),
        ("error_code", PaymentErrorCode.DECLINED),
        ("error_message", "x"),
        ("currency", None),
        ("amount", -1),
        ("success", "yes"),
    ):
        with pytest.raises((PaymentResultError, MoneyError)):
            setattr(result, name, value)
        assert result == before, name


def test_success_true_blames_the_field_that_contradicts_it() -> None:
    """Setting success=True on a declined result names success and what contradicts it."""
    result = PaymentResult.failure(PaymentErrorCode.DECLINED, "no")
    with pytest.raises(PaymentResultError, match=r"PaymentResult\.success .*FAILED") as info:
        result.success = True
    assert info.value.field == "success" and result.success is False


def test_assignments_in_a_consistent_order_work() -> None:
    """Failing a result (success first), then adding money (currency first) is allowed."""
    result = PaymentResult(True, "cap_1", PaymentStatus.COMPLETED)
    result.success = False
    result.status = PaymentStatus.FAILED
    result.error_code = PaymentErrorCode.DECLINED
    result.error_message = "declined"
    result.currency = "huf"
    result.amount = 100
    result.metadata = None  # type: ignore[assignment]  # as in the constructor: None -> {}
    assert (result.currency, result.metadata) == ("HUF", {})
    fixed = dataclasses.replace(
        result, success=True, status=PaymentStatus.COMPLETED, error_code=None, error_message=None
    )
    assert fixed.success and result.error_code is PaymentErrorCode.DECLINED


def test_copies_stay_checked() -> None:
    """copy and pickle keep a result that checks its assignments."""
    result = PaymentResult(True, "pi_1", PaymentStatus.COMPLETED)
    for clone in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert clone == result
        with pytest.raises(PaymentResultError):
            clone.status = PaymentStatus.FAILED


# -- property: valid by the table, or it raises ------------------------------------------

_CURRENCIES = sorted(ISO_4217_EXPONENTS)


def _field_values() -> dict[str, st.SearchStrategy[Any]]:
    anything = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=4), st.floats())
    status_values = st.sampled_from([s.value for s in PaymentStatus])
    currencies = st.sampled_from([*_CURRENCIES, "eur", "XXX", "EURO"])
    return {
        "success": st.one_of(st.booleans(), anything),
        "transaction_id": st.one_of(st.none(), st.text(max_size=5), anything),
        "status": st.one_of(st.sampled_from(PaymentStatus), status_values, anything),
        "error_message": st.one_of(st.none(), st.text(max_size=5), anything),
        "metadata": st.one_of(st.dictionaries(st.text(max_size=3), st.integers()), anything),
        "error_code": st.one_of(
            st.none(), st.sampled_from(PaymentErrorCode), st.just("declined"), anything
        ),
        "amount": st.one_of(st.none(), st.integers(-(10**20), 10**20), anything),
        "currency": st.one_of(st.none(), currencies, anything),
    }


def _shape_ok(name: str, value: Any) -> bool:
    """Whether ``value`` is acceptable for field ``name`` on its own."""
    if name == "success":
        return type(value) is bool
    if name == "transaction_id":
        return value is None or (type(value) is str and value != "")
    if name == "status":
        return isinstance(value, PaymentStatus) or value in {s.value for s in PaymentStatus}
    if name == "error_message":
        return value is None or type(value) is str
    if name == "metadata":
        return value is None or isinstance(value, dict)
    if name == "error_code":
        return value is None or (isinstance(value, str) and value in set(PaymentErrorCode))
    if name == "amount":
        return value is None or (type(value) is int and value >= 0)
    assert name == "currency"
    return value is None or (type(value) is str and value.upper() in ISO_4217_EXPONENTS)


def _valid_by_table(values: dict[str, Any]) -> bool:
    """The table of docs/payments/contract.md, written independently of the implementation."""
    if not all(_shape_ok(name, value) for name, value in values.items()):
        return False
    failed = PaymentStatus(values["status"]) is PaymentStatus.FAILED
    errors = values["error_code"] is not None or values["error_message"] is not None
    if values["success"] and (failed or errors):
        return False
    return values["amount"] is None or values["currency"] is not None


def _assert_consistent(result: PaymentResult) -> None:
    assert isinstance(result.status, PaymentStatus)
    assert result.error_code is None or isinstance(result.error_code, PaymentErrorCode)
    assert isinstance(result.metadata, dict)
    if result.success:
        assert result.status is not PaymentStatus.FAILED
        assert result.error_code is None and result.error_message is None
    if result.amount is not None:
        assert result.amount >= 0 and result.currency in ISO_4217_EXPONENTS


@given(st.fixed_dictionaries(_field_values()))
def test_constructed_results_are_valid_by_the_table_or_raise(values: dict[str, Any]) -> None:
    """Any combination of field values either builds a consistent result or raises."""
    try:
        result = PaymentResult(**values)
    except (PaymentResultError, MoneyError):
        assert not _valid_by_table(values), values
        return
    assert _valid_by_table(values), values
    _assert_consistent(result)


@given(
    st.fixed_dictionaries(_field_values()),
    st.sampled_from(sorted(_field_values())).flatmap(
        lambda name: st.tuples(st.just(name), _field_values()[name])
    ),
)
def test_assigned_results_stay_valid_or_raise(
    values: dict[str, Any], change: tuple[str, Any]
) -> None:
    """Assigning any value to a field of a valid result keeps it valid, or raises and undoes."""
    try:
        result = PaymentResult(**values)
    except (PaymentResultError, MoneyError):
        return
    name, value = change
    before = dataclasses.replace(result)
    changed = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    changed[name] = value
    try:
        setattr(result, name, value)
    except (PaymentResultError, MoneyError):
        assert result == before
        assert not _valid_by_table(changed), changed
        return
    assert _valid_by_table(changed), changed
    _assert_consistent(result)
