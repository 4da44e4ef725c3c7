"""MockPaymentPlugin passes the provider conformance suite, every billing section included."""

from __future__ import annotations

from vbwd_plugins.payments import Capability
from vbwd_plugins.testing import MockPaymentPlugin, ProviderConformanceSuite
from vbwd_plugins.testing._harness import BILLING_HOOKS


class TestMockPaymentPluginConformance(ProviderConformanceSuite):
    """The reference provider satisfies the whole contract."""


def test_the_mock_runs_every_section() -> None:
    """The mock declares every capability and its harness has every billing hook but one.

    So none of the suite's sections is skipped for the reference provider; the one hook
    left out, ``provider_plan_id``, serves only providers without ``PLANS``.
    """
    harness = MockPaymentPlugin().harness()
    assert frozenset(Capability) <= harness.plugin.capabilities
    missing = [name for name in BILLING_HOOKS if not callable(getattr(harness, name, None))]
    assert missing in ([], ["provider_plan_id"]), missing
    assert harness.events_without_host_ids == frozenset()
