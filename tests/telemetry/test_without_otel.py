"""Without the OpenTelemetry API every instrumented path still works and records nothing,
and the metrics endpoint says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
sys.modules["prometheus_client"] = None

from vbwd_plugins import Event, EventDispatcher, PluginManager, SQLiteStateStore, WebhookProcessor
from vbwd_plugins.telemetry._spans import NOOP, span
from vbwd_plugins.testing import MockPaymentPlugin
from vbwd_plugins import PaymentEventType

mock = MockPaymentPlugin()
with SQLiteStateStore(sys.argv[1]) as store:
    manager = PluginManager(store=store)
    manager.register_plugin(mock)
    manager.initialize_plugin("mock")
    manager.enable_plugin("mock")
    seen = []
    manager.event_dispatcher.add_listener("payment.completed", seen.append)
    body = mock.webhook_body(
        PaymentEventType.COMPLETED, transaction_id="tx", amount=100, currency="EUR"
    )
    answer = WebhookProcessor(manager).process("mock", {"Mock-Signature": mock.sign(body)}, body)
    assert answer.status == 200 and len(seen) == 1, answer
    manager.disable_plugin("mock")
traced = EventDispatcher(trace=True)
traced.add_listener("x", seen.append)
traced.dispatch(Event("x", {}))
assert len(seen) == 2
assert span("anything") is NOOP
from vbwd_plugins.telemetry import enable_prometheus
try:
    enable_prometheus()
except ImportError as exc:
    print("ImportError:", exc)
"""


def test_everything_runs_without_the_api_and_the_endpoint_names_the_extra(
    tmp_path: Path,
) -> None:
    """Webhook, listener delivery, lifecycle and traced dispatch run with no-op spans; the
    Prometheus endpoint refuses with ``pip install 'vbwd-plugins[metrics]'``."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path / "s.sqlite3")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "pip install 'vbwd-plugins[metrics]'" in out.stdout
