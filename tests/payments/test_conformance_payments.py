"""The kit's payment round-trip checks catch lost host ids, amountless refunds, fake successes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.payments._toy_harness import suite_failure, toy_harness
from tests.payments._toy_provider import ToyPayPlugin
from tests.payments._toy_server import Obj
from vbwd_plugins import Money, PaymentErrorCode, PaymentResult, PaymentStatus
from vbwd_plugins.errors import MoneyError
from vbwd_plugins.payments import CurrencyRule, CurrencyRules, PaymentEventType
from vbwd_plugins.payments._money import currency_exponent
from vbwd_plugins.testing import ProviderConformanceSuite, RecordingDispatcher
from vbwd_plugins.testing._conformance_payments import exotic_money
from vbwd_plugins.testing._harness import Context

HOST_IDS_LOST = "came back with subscription_id=None, user_id=None"


class ForgetfulToy(ToyPayPlugin):
    """Never sends the host's subscription and user ids to the provider."""

    def host_metadata(self, subscription_id: object, user_id: object) -> dict[str, str]:
        """Nothing: the mistake."""
        return {}


class AmountlessRefundToy(ToyPayPlugin):
    """Reports refunds without their amount and currency."""

    def refund_result(self, refund: Obj) -> PaymentResult:
        """Only id and status: the mistake."""
        return PaymentResult(True, refund["id"], PaymentStatus.REFUNDED)


class DeclineAsSuccessToy(ToyPayPlugin):
    """Takes any normal answer for a success, the server's ``declined`` included."""

    def payment_result(self, payment: Obj) -> PaymentResult:
        """A decline becomes a completed payment: the mistake."""
        status = PaymentStatus.PENDING
        if payment["status"] in {"succeeded", "declined"}:
            status = PaymentStatus.COMPLETED
        return PaymentResult(
            True, payment["id"], status, amount=payment["amount"], currency=payment["currency"]
        )


def test_lost_host_ids_fail_the_payment_round_trip() -> None:
    """A provider that never sends the host's ids fails the payment webhooks' round trip."""
    message = suite_failure(toy_harness(ForgetfulToy), "test_payment_webhooks_carry_the_host_ids")
    assert f"payment.completed (from 'payment.succeeded') {HOST_IDS_LOST}" in message
    assert "Send the host's ids to the provider" in message


def test_lost_host_ids_pass_the_old_injected_webhook_check() -> None:
    """The old check (ids injected by the harness) cannot see the mistake: why the round trip."""
    harness = toy_harness(ForgetfulToy)
    dispatcher = RecordingDispatcher()
    harness.plugin._attach_dispatcher(dispatcher)
    context = Context(harness, harness.plugin, dispatcher, uuid.uuid4(), uuid.uuid4())
    ProviderConformanceSuite().test_verified_webhook_emits_one_standard_event(
        context, PaymentEventType.COMPLETED
    )
    assert [event.name for event in dispatcher.events] == ["payment.completed"]


def test_lost_host_ids_fail_the_refund_round_trip() -> None:
    """The refund's webhook of such a provider fails for the same reason."""
    message = suite_failure(toy_harness(ForgetfulToy), "test_refund_webhook_reports_this_refund")
    assert HOST_IDS_LOST in message


@pytest.mark.parametrize(
    "test", ["test_full_refund", "test_partial_refund_with_money", "test_two_partial_refunds"]
)
def test_refund_without_amount_fails(test: str) -> None:
    """A successful refund result without amount and currency fails each refund test."""
    message = suite_failure(toy_harness(AmountlessRefundToy), test)
    assert "succeeded without amount/currency (None, None)" in message
    assert "must report this refund's amount and currency" in message


@pytest.mark.parametrize(
    "code", [PaymentErrorCode.DECLINED, PaymentErrorCode.INSUFFICIENT_FUNDS], ids=str
)
def test_decline_reported_as_success_fails(code: PaymentErrorCode) -> None:
    """A provider that reports the server's decline as a success fails the decline check."""
    message = suite_failure(
        toy_harness(DeclineAsSuccessToy), "test_declined_answer_is_a_failed_result", code=code
    )
    assert "process_payment reported success (status completed)" in message
    assert f"although the provider declined the payment ({code.value})" in message


def test_decline_with_the_wrong_code_fails() -> None:
    """A decline for lack of funds reported as a generic decline fails, naming both codes."""

    class VagueToy(ToyPayPlugin):
        def payment_result(self, payment: Obj) -> PaymentResult:
            if payment["status"] == "declined":
                return PaymentResult.failure(PaymentErrorCode.DECLINED, "declined")
            return super().payment_result(payment)

    message = suite_failure(
        toy_harness(VagueToy),
        "test_declined_answer_is_a_failed_result",
        code=PaymentErrorCode.INSUFFICIENT_FUNDS,
    )
    assert "insufficient_funds decline: error_code declined" in message


_ODD = ["JPY", "KRW", "CLP", "VND", "ISK", "HUF", "KWD", "BHD", "JOD", "OMR", "TND"]


@given(
    exponent=st.sampled_from([0, 3]),
    supported=st.sets(st.sampled_from([*_ODD, "USD"]), min_size=1),
    overrides=st.dictionaries(
        st.sampled_from(_ODD),
        st.builds(CurrencyRule, st.integers(0, 4), st.sampled_from([1, 10, 100, 1000])),
    ),
)
def test_odd_currency_choice_is_exact_for_the_provider(
    exponent: int, supported: set[str], overrides: dict[str, Any]
) -> None:
    """The odd-currency checks pick amounts the provider's rules take exactly, or skip."""
    harness = toy_harness()
    harness.plugin.currency_rules = CurrencyRules("rules", overrides, supported=supported)  # type: ignore[misc]
    context = Context(harness, harness.plugin, RecordingDispatcher(), uuid.uuid4(), uuid.uuid4())
    rules = harness.plugin.currency_rules
    takes = [code for code in _ODD if currency_exponent(code) == exponent and _exact(code, rules)]
    if not takes:
        with pytest.raises(pytest.skip.Exception, match=f"accept no {exponent}-decimal"):
            exotic_money(context, exponent)
        return
    charge, part = exotic_money(context, exponent)
    assert charge.currency == part.currency == takes[0]
    assert charge.to_minor_units(rules) > part.to_minor_units(rules) > 0


def _exact(code: str, rules: CurrencyRules) -> bool:
    """Whether the kit's charge and part in ``code`` are exact under ``rules``."""
    scale = 10 if currency_exponent(code) == 3 else 1
    try:
        for units in (1000 * scale, 300 * scale):
            Money.from_minor_units(units, code).to_minor_units(rules)
    except MoneyError:
        return False
    return True


class TwoDecimalToy(ToyPayPlugin):
    """Sends every currency with two decimals (JPY 1000 goes out as 100000)."""

    def create_payment_intent(
        self,
        amount: Decimal,
        currency: str,
        subscription_id: UUID,
        user_id: UUID,
        metadata: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        manual_capture: bool = False,
    ) -> PaymentResult:
        """Cents for everyone: the mistake."""
        units = int(Money(amount, currency).amount * 100)
        sent = self.host_metadata(subscription_id, user_id)
        payment = self.server.create_payment(units, currency.upper(), sent, idempotency_key)
        return self.payment_result(payment)


def test_zero_decimal_amounts_sent_as_cents_fail() -> None:
    """A provider that sends yen with two decimals fails the zero-decimal check, exactly."""
    message = suite_failure(
        toy_harness(TwoDecimalToy), "test_odd_currency_amounts_are_exact", exponent=0
    )
    assert "create_payment_intent(1000 JPY): 100000 JPY != 1000 JPY" in message


def test_three_decimal_amounts_sent_as_cents_fail() -> None:
    """The same provider fails the three-decimal check (10.000 KWD sent as 1000)."""
    message = suite_failure(
        toy_harness(TwoDecimalToy), "test_odd_currency_amounts_are_exact", exponent=3
    )
    assert "1000 KWD != 10000 KWD" in message
