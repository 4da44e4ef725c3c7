"""The core's payment-provider conformance suite, run against the PayPal plugin."""

from __future__ import annotations

from vbwd_plugins.testing import ProviderConformanceSuite


class TestPayPalConformance(ProviderConformanceSuite):
    """vbwd-paypal satisfies the payment-provider contract over real HTTP (both webhook modes)."""
