"""The ``vbwd_plugins`` pytest plugin (loaded through the ``pytest11`` entry point).

Kept import-light: no hypothesis, no provider SDKs. It makes pytest rewrite the
conformance suite's asserts (so failures show values) and provides a placeholder
``payment_provider_harness`` fixture whose error says what to define.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(
    "vbwd_plugins.testing._conformance",
    "vbwd_plugins.testing._conformance_billing",
    "vbwd_plugins.testing._conformance_events",
    "vbwd_plugins.testing._conformance_kit",
    "vbwd_plugins.testing._conformance_payments",
    "vbwd_plugins.testing._conformance_subscriptions",
    "vbwd_plugins.testing._conformance_webhooks",
    "vbwd_plugins.testing._harness",
)

__all__ = ["payment_provider_harness", "pytest_configure"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the suite's marker so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "vbwd_conformance: a test of the vbwd-plugins payment-provider conformance suite",
    )


@pytest.fixture
def payment_provider_harness() -> object:
    """Placeholder: a provider's conftest.py must define this fixture."""
    pytest.fail(
        "ProviderConformanceSuite needs a `payment_provider_harness` fixture: define it in "
        "your conftest.py, returning a vbwd_plugins.testing.PaymentProviderHarness "
        "(see `help(vbwd_plugins.testing.PaymentProviderHarness)`)",
        pytrace=False,
    )
