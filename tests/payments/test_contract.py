"""The payment-provider contract: seed compatibility, the guard, capabilities, events."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest

from tests.payments._seed import HeaderPlugin, SeedStylePlugin
from vbwd_plugins import (
    Capability,
    Money,
    PaymentErrorCode,
    PaymentEventType,
    PaymentProviderPlugin,
    PaymentResult,
    PaymentStatus,
    PluginManager,
)
from vbwd_plugins.errors import (
    MoneyError,
    PluginStateError,
    UnsupportedOperationError,
)
from vbwd_plugins.payments import (
    CurrencyRules,
)
from vbwd_plugins.testing import MockPaymentPlugin, RecordingDispatcher


def _ids() -> tuple[UUID, UUID]:
    return uuid4(), uuid4()


# -- seed compatibility -------------------------------------------------------------------


def test_seed_payment_status_values_are_kept() -> None:
    """The original six PaymentStatus members keep their values."""
    expected = {
        "PENDING": "pending",
        "PROCESSING": "processing",
        "COMPLETED": "completed",
        "FAILED": "failed",
        "REFUNDED": "refunded",
        "CANCELLED": "cancelled",
    }
    assert {name: PaymentStatus[name].value for name in expected} == expected


def test_seed_payment_result_constructor() -> None:
    """PaymentResult accepts the original positional/keyword form; metadata None -> {}."""
    result = PaymentResult(False, None, PaymentStatus.FAILED, "nope", None)
    assert (result.success, result.transaction_id, result.status) == (
        False,
        None,
        PaymentStatus.FAILED,
    )
    assert result.error_message == "nope"
    assert result.metadata == {}
    default = PaymentResult(success=True)
    assert default.status is PaymentStatus.PENDING
    assert (default.error_code, default.amount, default.currency) == (None, None, None)


def test_new_result_fields_are_keyword_only() -> None:
    """error_code, amount and currency cannot be passed positionally."""
    with pytest.raises(TypeError):
        PaymentResult(True, "x", PaymentStatus.PENDING, None, {}, PaymentErrorCode.DECLINED)  # type: ignore[misc]


def test_seed_style_plugin_works_unchanged() -> None:
    """A subclass written for the original design runs all five operations."""
    plugin = SeedStylePlugin()
    sub, user = _ids()
    created = plugin.create_payment_intent(Decimal("10.00"), "USD", sub, user, {"a": "b"})
    assert created.success and created.metadata == {"client_secret": "s"}
    assert plugin.process_payment("pi_1", "pm_1").status is PaymentStatus.COMPLETED
    assert plugin.refund_payment("pi_1").success
    assert plugin.refund_payment("pi_1", Decimal("3.00")).success
    assert plugin.verify_webhook(b"{}", "good")
    plugin.handle_webhook({"type": "x"})
    assert plugin.calls[0] == ("create", Decimal("10.00"), "USD", sub, user, {"a": "b"})
    assert plugin.calls[3] == ("refund", "pi_1", Decimal("3.00"))


def test_seed_style_plugin_rejects_forwarding_it_cannot_do() -> None:
    """Passing idempotency_key to an implementation that cannot take it raises, never drops."""
    plugin = SeedStylePlugin()
    with pytest.raises(UnsupportedOperationError, match="idempotency_key") as info:
        plugin.create_payment_intent(Decimal(1), "USD", *_ids(), idempotency_key="k1")
    assert info.value.plugin_name == "seedpay"
    assert plugin.calls == []
    # None is the default and is simply not forwarded.
    assert plugin.process_payment("pi_1", "pm", idempotency_key=None).success


def test_abstract_methods_are_the_operations_and_verify_request() -> None:
    """The original design's three operations, verify_request and metadata are abstract.

    handle_webhook has a default (translate and dispatch); an original-design
    verify_webhook stands in for verify_request (see test_webhook_contract).
    """
    assert PaymentProviderPlugin.__abstractmethods__ == frozenset(
        {
            "metadata",
            "create_payment_intent",
            "process_payment",
            "refund_payment",
            "verify_request",
        }
    )


# -- the guard ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TimeoutError("read timed out"), PaymentErrorCode.TIMEOUT),
        (ConnectionError("refused"), PaymentErrorCode.PROVIDER_UNAVAILABLE),
        (RuntimeError("sdk bug"), PaymentErrorCode.PROVIDER_ERROR),
        (KeyError("id"), PaymentErrorCode.PROVIDER_ERROR),
        (ValueError("bad json"), PaymentErrorCode.PROVIDER_ERROR),
        (PluginStateError("x", plugin_name="p", status=None, action="a"), "provider_error"),
    ],
)
def test_provider_exceptions_become_failed_results(error: Exception, code: str) -> None:
    """No exception from a provider call escapes: it is a failed result with a code."""
    plugin = SeedStylePlugin(error)
    result = plugin.create_payment_intent(Decimal("1"), "USD", *_ids())
    assert not result.success
    assert result.status is PaymentStatus.FAILED
    assert result.error_code == code
    assert type(error).__name__ in (result.error_message or "")


def test_provider_exceptions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A converted provider exception is logged with the provider and operation."""
    SeedStylePlugin(RuntimeError("sdk bug")).create_payment_intent(Decimal(1), "USD", *_ids())
    assert "seedpay" in caplog.text and "create_payment_intent" in caplog.text


class MappingPlugin(SeedStylePlugin):
    """Maps its own exceptions, and sometimes fails at mapping."""

    def result_from_exception(self, exc: Exception, *, operation: str) -> PaymentResult:
        if isinstance(exc, LookupError):
            raise RuntimeError("the mapper itself broke")
        if isinstance(exc, PermissionError):
            return PaymentResult(True, metadata={"request_id": "req_1"})
        return PaymentResult.failure(
            PaymentErrorCode.DECLINED, "card declined", metadata={"request_id": "req_1"}
        )


def test_result_from_exception_is_the_mapping_hook() -> None:
    """Providers map their SDK errors by overriding result_from_exception."""
    result = MappingPlugin(RuntimeError("x")).create_payment_intent(Decimal(1), "USD", *_ids())
    assert result.error_code is PaymentErrorCode.DECLINED
    assert result.metadata == {"request_id": "req_1"}


def test_a_broken_mapping_still_yields_a_failed_result() -> None:
    """If result_from_exception raises or returns nonsense, the result is still a failure."""
    broken = MappingPlugin(KeyError("x")).create_payment_intent(Decimal(1), "USD", *_ids())
    assert (broken.success, broken.error_code) == (False, PaymentErrorCode.PROVIDER_ERROR)
    odd = MappingPlugin(PermissionError("x")).create_payment_intent(Decimal(1), "USD", *_ids())
    assert (odd.success, odd.error_code) == (False, PaymentErrorCode.PROVIDER_ERROR)
    assert odd.error_message


@pytest.mark.parametrize(
    ("amount", "currency", "match"),
    [
        (10.0, "USD", "float"),
        (True, "USD", "bool"),
        (Decimal("0"), "USD", "positive"),
        (Decimal("-5"), "USD", "positive"),
        (Decimal("1.5"), "JPY", "decimal places"),
        (Decimal("1"), "ZZZ", "ZZZ"),
        ("1", "XAU", "XAU"),
    ],
)
def test_invalid_charge_amounts_raise_before_the_provider(
    amount: Any, currency: str, match: str
) -> None:
    """MoneyError is raised (naming the value) and the provider is never called."""
    plugin = SeedStylePlugin()
    with pytest.raises(MoneyError, match=match):
        plugin.create_payment_intent(amount, currency, *_ids())
    assert plugin.calls == []


class HufPlugin(SeedStylePlugin):
    """A provider that takes HUF without decimals."""

    currency_rules: ClassVar[CurrencyRules] = CurrencyRules("hufpay", {"HUF": 0})


def test_provider_currency_rules_are_enforced_before_the_call() -> None:
    """An amount exact in ISO but not on the provider is refused with MoneyError."""
    plugin = HufPlugin()
    with pytest.raises(MoneyError, match="hufpay"):
        plugin.create_payment_intent(Decimal("10.50"), "HUF", *_ids())
    assert plugin.create_payment_intent(Decimal("10"), "HUF", *_ids()).success


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1"), 1.5, Money("-1", "USD")])
def test_invalid_refund_amounts_raise(amount: Any) -> None:
    """Refund amounts must be positive and exact."""
    plugin = SeedStylePlugin()
    with pytest.raises(MoneyError):
        plugin.refund_payment("pi_1", amount)
    assert plugin.calls == []


def test_guard_does_not_double_wrap_inherited_methods() -> None:
    """A subclass of a provider keeps one guard per method."""
    assert HeaderPlugin.create_payment_intent is SeedStylePlugin.create_payment_intent
    assert getattr(SeedStylePlugin.create_payment_intent, "__vbwd_guarded__", False)


# -- capabilities ---------------------------------------------------------------------------


def test_default_capabilities_are_the_seed_features() -> None:
    """The default capabilities are refunds (full and partial) and webhooks."""
    assert SeedStylePlugin.capabilities == frozenset(
        {Capability.REFUNDS, Capability.PARTIAL_REFUNDS, Capability.WEBHOOKS}
    )
    assert SeedStylePlugin().supports(Capability.REFUNDS)


@pytest.mark.parametrize(
    ("call", "operation"),
    [
        (lambda p: p.capture_payment("pi_1"), "capture_payment"),
        (lambda p: p.cancel_payment("pi_1"), "cancel_payment"),
        (lambda p: p.get_payment("pi_1"), "get_payment"),
    ],
)
def test_unsupported_operations_name_provider_and_operation(call: Any, operation: str) -> None:
    """Calling an undeclared operation raises UnsupportedOperationError with context."""
    with pytest.raises(
        UnsupportedOperationError, match=f"'seedpay' does not support {operation}"
    ) as info:
        call(SeedStylePlugin())
    assert info.value.plugin_name == "seedpay"
    assert info.value.operation == operation
    assert isinstance(info.value, NotImplementedError)


class RefundsOnly(SeedStylePlugin):
    """Declares full refunds only."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.REFUNDS})


def test_partial_refund_needs_its_capability() -> None:
    """A refund with an amount on a provider without PARTIAL_REFUNDS raises."""
    plugin = RefundsOnly()
    assert plugin.refund_payment("pi_1").success
    with pytest.raises(UnsupportedOperationError, match=r"refund_payment\(amount\)"):
        plugin.refund_payment("pi_1", Decimal("1"))


def test_manual_capture_needs_its_capability() -> None:
    """create_payment_intent(manual_capture=True) raises without MANUAL_CAPTURE."""
    with pytest.raises(UnsupportedOperationError, match="manual_capture"):
        SeedStylePlugin().create_payment_intent(Decimal(1), "USD", *_ids(), manual_capture=True)


class DeclaresButForgets(SeedStylePlugin):
    """Declares capture without implementing it."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.MANUAL_CAPTURE})


def test_declared_but_unimplemented_operation_raises_unsupported() -> None:
    """The base implementation of an optional operation raises UnsupportedOperationError."""
    with pytest.raises(UnsupportedOperationError, match="capture_payment"):
        DeclaresButForgets().capture_payment("pi_1")


def test_resolve_amount_uses_the_payment_currency(mock_plugin: MockPaymentPlugin) -> None:
    """A bare Decimal refund amount takes its currency from get_payment."""
    created = mock_plugin.create_payment_intent(Decimal("10"), "JPY", *_ids())
    assert created.transaction_id
    assert mock_plugin.resolve_amount(created.transaction_id, Decimal("300")) == Money(300, "JPY")
    assert mock_plugin.resolve_amount(created.transaction_id, None) is None
    with pytest.raises(MoneyError, match="unknown"):
        mock_plugin.resolve_amount("missing", Decimal("1"))


# -- results ------------------------------------------------------------------------------


def test_payment_result_helpers() -> None:
    """failure(), money() and to_dict() give the documented shapes."""
    failed = PaymentResult.failure(PaymentErrorCode.RATE_LIMITED, "slow down")
    assert (failed.success, failed.status, failed.error_code) == (
        False,
        PaymentStatus.FAILED,
        PaymentErrorCode.RATE_LIMITED,
    )
    done = PaymentResult(True, "pi", PaymentStatus.COMPLETED, amount=1050, currency="usd")
    assert done.currency == "USD"
    assert done.money() == Money("10.50", "USD")
    assert failed.money() is None
    assert json.loads(json.dumps(done.to_dict()))["status"] == "completed"


@pytest.mark.parametrize("amount", [10.5, True, "10"])
def test_payment_result_amount_must_be_minor_units(amount: Any) -> None:
    """PaymentResult.amount is an int of minor units."""
    with pytest.raises(MoneyError):
        PaymentResult(True, amount=amount)


def test_retryable_codes() -> None:
    """Only rate limits, unavailability and timeouts are retryable."""
    assert {c for c in PaymentErrorCode if c.retryable} == {
        PaymentErrorCode.RATE_LIMITED,
        PaymentErrorCode.PROVIDER_UNAVAILABLE,
        PaymentErrorCode.TIMEOUT,
    }


# -- events ---------------------------------------------------------------------------------


def test_events_need_an_attached_dispatcher() -> None:
    """Dispatching before the plugin is registered raises PluginStateError."""
    plugin = MockPaymentPlugin()
    with pytest.raises(PluginStateError, match="dispatcher"):
        _ = plugin.event_dispatcher


def test_events_go_through_the_managers_dispatcher() -> None:
    """A registered provider emits through the dispatcher of its PluginManager."""
    dispatcher = RecordingDispatcher()
    manager = PluginManager(event_dispatcher=dispatcher)
    plugin = MockPaymentPlugin()
    manager.register_plugin(plugin)
    created = plugin.create_payment_intent(Decimal("5"), "EUR", *_ids())
    assert created.transaction_id
    plugin.deliver(PaymentEventType.COMPLETED, created.transaction_id)
    assert [e.name for e in dispatcher.named("payment.completed")] == ["payment.completed"]
    assert dispatcher.named("payment.completed")[0].data["amount"] == 500


class ExtraKeywordPlugin(SeedStylePlugin):
    """Accepts a provider-specific keyword beyond the contract."""

    def create_payment_intent(  # type: ignore[override]
        self,
        amount: Decimal,
        currency: str,
        subscription_id: UUID,
        user_id: UUID,
        metadata: dict[str, Any] | None = None,
        *,
        statement_descriptor: str | None = None,
    ) -> PaymentResult:
        self.calls.append(("create", statement_descriptor))
        return PaymentResult(True, "pi_x")


def test_provider_specific_keywords_pass_through_the_guard() -> None:
    """Keywords a provider adds still reach it, still with money checks."""
    plugin = ExtraKeywordPlugin()
    assert plugin.create_payment_intent(Decimal(1), "USD", *_ids(), statement_descriptor="X")  # type: ignore[call-arg]
    assert plugin.calls == [("create", "X")]
    with pytest.raises(MoneyError):
        plugin.create_payment_intent(1.0, "USD", *_ids(), statement_descriptor="X")  # type: ignore[call-arg, arg-type]


def test_payload_base_class_is_abstract() -> None:
    """PaymentEventData itself cannot be instantiated; use an event's class."""
    from datetime import UTC, datetime

    from vbwd_plugins import PaymentEventData

    with pytest.raises(TypeError, match="abstract"):
        PaymentEventData(
            provider="p",
            transaction_id="t",
            amount=1,
            currency="USD",
            provider_event_type="x",
            occurred_at=datetime.now(UTC),
        )
