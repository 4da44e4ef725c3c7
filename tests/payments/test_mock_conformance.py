"""MockPaymentPlugin passes the provider conformance suite."""

from __future__ import annotations

from vbwd_plugins.testing import ProviderConformanceSuite


class TestMockPaymentPluginConformance(ProviderConformanceSuite):
    """The reference provider satisfies the whole contract."""
