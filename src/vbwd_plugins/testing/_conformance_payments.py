"""Payments checks that need the provider's side: host-id round trip, declines, odd currencies.

They use :class:`~vbwd_plugins.testing._harness.BillingHarness` hooks; a harness without
them skips these tests, saying what goes unchecked.
"""

from __future__ import annotations

from typing import Final

import pytest

from vbwd_plugins.errors import MoneyError
from vbwd_plugins.events._dispatcher import Event
from vbwd_plugins.payments._events import PaymentEventData, PaymentEventType
from vbwd_plugins.payments._money import Money, currency_exponent
from vbwd_plugins.payments._results import (
    Capability,
    PaymentErrorCode,
    PaymentResult,
    PaymentStatus,
)
from vbwd_plugins.testing._conformance_kit import check_host_ids, translate
from vbwd_plugins.testing._harness import CHARGE_UNITS, PART_UNITS, Context, ok

__all__ = ["PaymentRoundTripConformance", "exotic_money"]

#: Currencies tried, in order, for the zero- and three-decimal checks (ISO 4217 exponents).
_CANDIDATES: Final = {
    0: ("JPY", "KRW", "CLP", "VND", "ISK", "HUF"),
    3: ("KWD", "BHD", "JOD", "OMR", "TND"),
}

#: What the suite's 1000 minor units become: the charge in major units is 1000 and 10.
_SCALE: Final = {0: 1, 3: 10}


def exotic_money(ctx: Context, exponent: int) -> tuple[Money, Money]:
    """A charge and a part of it in an ISO ``exponent``-decimal currency the provider takes.

    Skipped when the provider's ``currency_rules`` accept none (or none exactly).
    """
    scale = _SCALE[exponent]  # ¥1000 and 10.000 KWD: ordinary prices
    for code in _CANDIDATES[exponent]:
        if currency_exponent(code) != exponent:
            continue
        charge = Money.from_minor_units(CHARGE_UNITS * scale, code)
        part = Money.from_minor_units(PART_UNITS * scale, code)
        try:
            charge.to_minor_units(ctx.plugin.currency_rules)
            part.to_minor_units(ctx.plugin.currency_rules)
        except MoneyError:
            continue
        return charge, part
    pytest.skip(
        f"{ctx.name}'s currency_rules accept no {exponent}-decimal currency "
        f"({', '.join(_CANDIDATES[exponent])})"
    )


def _payment_events(events: list[Event], transaction_id: str) -> list[PaymentEventData]:
    names = {str(t) for t in PaymentEventType}
    found = [PaymentEventData.from_event(e) for e in events if e.name in names]
    return [data for data in found if data.transaction_id == transaction_id]


def _round_trip(ctx: Context, transaction_id: str, operation: str) -> list[PaymentEventData]:
    ctx.require(Capability.WEBHOOKS)
    hook = ctx.hook(
        "payment_webhooks", "the host ids' round trip through payment webhooks is not checked"
    )
    deliveries = hook(transaction_id)
    if deliveries is None:
        pytest.skip("the harness cannot produce the webhooks its server sent for a payment")
    events = translate(ctx, deliveries, "payment")
    names = {str(t) for t in PaymentEventType}
    for event in events:
        if event.name in names and PaymentEventData.from_event(event).transaction_id in (
            transaction_id,
            None,
        ):
            check_host_ids(ctx, event, operation)
    return _payment_events(events, transaction_id)


def _exact(result: PaymentResult, money: Money, operation: str) -> None:
    assert result.amount is not None and result.currency is not None, (
        f"{operation} succeeded without amount/currency ({result.amount!r}, "
        f"{result.currency!r}): report them (ISO 4217 minor units)"
    )
    assert (result.amount, result.currency) == (money.to_minor_units(), money.currency), (
        f"{operation}: {result.amount} {result.currency} != {money.to_minor_units()} "
        f"{money.currency} (ISO 4217 minor units)"
    )


class PaymentRoundTripConformance:
    """The provider's server answers, as the provider's harness makes it answer."""

    def test_payment_webhooks_carry_the_host_ids(self, conformance: Context) -> None:
        """The webhooks a paid payment causes name the host's subscription and user ids."""
        paid = conformance.complete()
        assert paid.transaction_id is not None
        found = _round_trip(conformance, paid.transaction_id, "create_payment_intent")
        completed = [d for d in found if d.event_type is PaymentEventType.COMPLETED]
        assert completed, (
            f"the server's webhooks for {paid.transaction_id} yield no payment.completed "
            f"for it (got {[d.event_type.value for d in found]})"
        )
        assert completed[0].amount == CHARGE_UNITS, completed[0].amount
        assert completed[0].currency == conformance.harness.currency

    def test_refund_webhook_reports_this_refund(self, conformance: Context) -> None:
        """After a partial refund, payment.refunded carries its amount and the host's ids."""
        conformance.require(Capability.PARTIAL_REFUNDS)
        paid = conformance.complete()
        assert paid.transaction_id is not None
        refund = conformance.plugin.refund_payment(paid.transaction_id, conformance.part)
        ok(refund, "refund_payment")
        found = _round_trip(conformance, paid.transaction_id, "create_payment_intent")
        refunded = [d for d in found if d.event_type is PaymentEventType.REFUNDED]
        assert refunded, f"no payment.refunded for {paid.transaction_id} after a refund"
        assert [d.amount for d in refunded] == [PART_UNITS], (
            f"payment.refunded amounts {[d.amount for d in refunded]} != [{PART_UNITS}]"
        )

    @pytest.mark.parametrize(
        "code", [PaymentErrorCode.DECLINED, PaymentErrorCode.INSUFFICIENT_FUNDS], ids=str
    )
    def test_declined_answer_is_a_failed_result(
        self, conformance: Context, code: PaymentErrorCode
    ) -> None:
        """A payment the provider's server declines is a failed result with the decline code."""
        decline = conformance.hook(
            "decline_next_payment", "a declined answer reported as success is not caught"
        )
        created = conformance.create()
        assert created.transaction_id is not None
        method = decline(code)
        if method is None:
            pytest.skip(f"the harness's server cannot decline with {code.value}")
        result = conformance.plugin.process_payment(created.transaction_id, method)
        assert isinstance(result, PaymentResult), f"process_payment returned {result!r}"
        assert not result.success, (
            f"{conformance.name}: process_payment reported success (status "
            f"{result.status.value}) although the provider declined the payment ({code.value}): "
            "a declined answer must be a failed result"
        )
        assert result.status is PaymentStatus.FAILED, result.status
        assert result.error_code is code, (
            f"process_payment of a {code.value} decline: error_code {result.error_code}"
        )
        assert result.error_message, "a failed result needs an error_message"
        if Capability.GET_PAYMENT in conformance.plugin.capabilities:
            current = conformance.plugin.get_payment(created.transaction_id)
            assert current.status is not PaymentStatus.COMPLETED, "a declined payment completed"

    @pytest.mark.parametrize("exponent", [0, 3], ids=["zero-decimal", "three-decimal"])
    def test_odd_currency_amounts_are_exact(self, conformance: Context, exponent: int) -> None:
        """Zero- and three-decimal payments report exact ISO minor units end to end."""
        charge, part = exotic_money(conformance, exponent)
        plugin = conformance.plugin
        created = plugin.create_payment_intent(
            charge.amount, charge.currency, conformance.subscription_id, conformance.user_id
        )
        ok(created, f"create_payment_intent({charge})")
        assert created.transaction_id is not None
        if created.amount is not None:
            _exact(created, charge, f"create_payment_intent({charge})")
        paid = plugin.process_payment(created.transaction_id, conformance.harness.payment_method)
        ok(paid, f"process_payment({charge})")
        assert paid.transaction_id is not None
        if paid.amount is not None:
            _exact(paid, charge, f"process_payment({charge})")
        if Capability.GET_PAYMENT in plugin.capabilities:
            _exact(plugin.get_payment(paid.transaction_id), charge, f"get_payment({charge})")
        if Capability.PARTIAL_REFUNDS in plugin.capabilities:
            refund = plugin.refund_payment(paid.transaction_id, part)
            ok(refund, f"refund_payment({part})")
            _exact(refund, part, f"refund_payment({part})")
        if callable(getattr(conformance.harness, "payment_webhooks", None)) and (
            Capability.WEBHOOKS in plugin.capabilities
        ):
            found = _round_trip(conformance, paid.transaction_id, "create_payment_intent")
            for data in found:
                if data.event_type is PaymentEventType.COMPLETED:
                    assert (data.amount, data.currency) == (
                        charge.to_minor_units(),
                        charge.currency,
                    ), f"payment.completed: {data.amount} {data.currency} != {charge}"
