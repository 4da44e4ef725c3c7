"""An original-design provider: what a plugin written for the design document looks like."""

from __future__ import annotations

from typing import Any, ClassVar

from vbwd_plugins import PaymentProviderPlugin, PaymentResult, PaymentStatus, PluginMetadata

__all__ = ["HeaderPlugin", "SeedStylePlugin"]


class SeedStylePlugin(PaymentProviderPlugin):
    """Written against the original design: positional args, no new keywords."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.raise_on_create = error
        self.calls: list[tuple[Any, ...]] = []

    @property
    def metadata(self) -> PluginMetadata:
        return PluginMetadata(name="seedpay", version="1.0.0", author="t", description="seed")

    def create_payment_intent(self, amount, currency, subscription_id, user_id, metadata=None):  # type: ignore[no-untyped-def]
        self.calls.append(("create", amount, currency, subscription_id, user_id, metadata))
        if self.raise_on_create is not None:
            raise self.raise_on_create
        return PaymentResult(True, "pi_1", PaymentStatus.PENDING, None, {"client_secret": "s"})

    def process_payment(self, payment_intent_id, payment_method):  # type: ignore[no-untyped-def]
        self.calls.append(("process", payment_intent_id, payment_method))
        return PaymentResult(success=True, transaction_id="pi_1", status=PaymentStatus.COMPLETED)

    def refund_payment(self, transaction_id, amount=None):  # type: ignore[no-untyped-def]
        self.calls.append(("refund", transaction_id, amount))
        return PaymentResult(success=True, transaction_id="re_1", status=PaymentStatus.REFUNDED)

    def verify_webhook(self, payload, signature):  # type: ignore[no-untyped-def]
        if signature == "boom":
            raise RuntimeError("verifier crashed")
        return signature == "good"

    def handle_webhook(self, payload):  # type: ignore[no-untyped-def]
        self.calls.append(("webhook", payload))
        if payload.get("fail"):
            raise RuntimeError("listener failed")


class HeaderPlugin(SeedStylePlugin):
    """An original-design provider that names its signature header."""

    webhook_signature_header: ClassVar[str | None] = "Seed-Signature"
