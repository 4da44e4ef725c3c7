"""Testing tools for hosts and provider authors.

* :class:`MockPaymentPlugin`: a scriptable in-memory payment provider for hosts' tests,
  with recurring billing on a :class:`MockClock` the test moves.
* :class:`ProviderConformanceSuite` and :class:`PaymentProviderHarness`: the suite every
  provider distribution runs (needs pytest; loaded on first use).
* :class:`BillingHarness` and :class:`BillingScenario`: the optional harness hooks of the
  suite's round-trip and billing sections.
* :class:`RecordingDispatcher`, :class:`WebhookDelivery`, :class:`WebhookVariant`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vbwd_plugins.testing._mock import MockCall as MockCall
from vbwd_plugins.testing._mock import MockHarness as MockHarness
from vbwd_plugins.testing._mock import MockOutcome as MockOutcome
from vbwd_plugins.testing._mock import MockPaymentPlugin as MockPaymentPlugin
from vbwd_plugins.testing._mock_clock import MockClock as MockClock
from vbwd_plugins.testing._support import BillingScenario as BillingScenario
from vbwd_plugins.testing._support import RecordingDispatcher as RecordingDispatcher
from vbwd_plugins.testing._support import WebhookDelivery as WebhookDelivery
from vbwd_plugins.testing._support import WebhookVariant as WebhookVariant

if TYPE_CHECKING:
    from vbwd_plugins.testing._conformance import BillingHarness as BillingHarness
    from vbwd_plugins.testing._conformance import PaymentProviderHarness as PaymentProviderHarness
    from vbwd_plugins.testing._conformance import (
        ProviderConformanceSuite as ProviderConformanceSuite,
    )

__all__ = [
    "BillingHarness",
    "BillingScenario",
    "MockCall",
    "MockClock",
    "MockHarness",
    "MockOutcome",
    "MockPaymentPlugin",
    "PaymentProviderHarness",
    "ProviderConformanceSuite",
    "RecordingDispatcher",
    "WebhookDelivery",
    "WebhookVariant",
]

_NEEDS_PYTEST = frozenset({"BillingHarness", "PaymentProviderHarness", "ProviderConformanceSuite"})


def __getattr__(name: str) -> Any:
    # The suite imports pytest; importing it lazily keeps MockPaymentPlugin usable without.
    if name in _NEEDS_PYTEST:
        from vbwd_plugins.testing import _conformance

        return getattr(_conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
