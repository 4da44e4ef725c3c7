"""The core's payment-provider conformance suite, run against the Stripe plugin."""

from __future__ import annotations

from vbwd_plugins.testing import ProviderConformanceSuite


class TestStripeConformance(ProviderConformanceSuite):
    """vbwd-stripe satisfies the payment-provider contract over real HTTP."""
