"""The distribution's public surface."""

from __future__ import annotations

import vbwd_stripe


def test_exported_names() -> None:
    """`vbwd_stripe` exports exactly its documented names."""
    assert sorted(vbwd_stripe.__all__) == [
        "STRIPE_CURRENCY_RULES",
        "StripeConfig",
        "StripePlugin",
        "__version__",
    ]
    for name in vbwd_stripe.__all__:
        assert getattr(vbwd_stripe, name) is not None


def test_plugin_declares_its_schema_and_rules() -> None:
    """The plugin's class attributes point at the exported schema and currency rules."""
    plugin = vbwd_stripe.StripePlugin
    assert plugin.config_schema is vbwd_stripe.StripeConfig
    assert plugin.currency_rules is vbwd_stripe.STRIPE_CURRENCY_RULES
    assert plugin.webhook_signature_header == "Stripe-Signature"
    assert plugin.metadata.name == "stripe"
    assert plugin.metadata.version == vbwd_stripe.__version__
