"""AcmePay passes the vbwd-plugins provider conformance suite."""

from vbwd_plugins.testing import ProviderConformanceSuite


class TestAcmePayConformance(ProviderConformanceSuite):
    """Every contract check, run against the fake AcmePay API."""
