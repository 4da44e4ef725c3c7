"""Fixtures for the payments tests: the mock provider and its conformance harness."""

from __future__ import annotations

import pytest

from vbwd_plugins.testing import MockHarness, MockPaymentPlugin, RecordingDispatcher


@pytest.fixture
def mock_plugin() -> MockPaymentPlugin:
    """An initialized, enabled MockPaymentPlugin with a recording dispatcher attached."""
    plugin = MockPaymentPlugin()
    plugin.initialize()
    plugin.enable()
    plugin._attach_dispatcher(RecordingDispatcher())
    return plugin


@pytest.fixture
def payment_provider_harness() -> MockHarness:
    """The mock provider's conformance harness (what a provider distribution supplies)."""
    plugin = MockPaymentPlugin()
    plugin.initialize()
    plugin.enable()
    return plugin.harness()
